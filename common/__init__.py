"""Shared toolkit of the phased experiments: configs, seeding, devices, metrics, the
training engine, run records, plots and the results report. Knows nothing about any phase."""
