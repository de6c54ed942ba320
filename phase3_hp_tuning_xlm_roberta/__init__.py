"""Placeholder package: this phase is not implemented yet (see the top-level README)."""
