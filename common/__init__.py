"""Shared toolkit of the phased experiments: configs, seeding, devices, data, metrics, the
training engine, run records, the hub preflight, plots, the results report and the
reproduction runner. It imports no phase: the runner and the report find the phase
packages and read what each declares in its phase.py (common/phases.py)."""
