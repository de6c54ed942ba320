"""Shared toolkit of the phased experiments: configs, seeding, devices, data, metrics, the
training loop, run records, the hub preflight, plots, the results report and the
reproduction runner. It imports no phase: the runner and the report find the phase
packages and read what each declares in its phase.py (common/phases.py)."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout: git commits, experiments.md, the phase folders
