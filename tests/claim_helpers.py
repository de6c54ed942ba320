"""A light worker for the concurrency test of trial claims (imports no model code)."""
from __future__ import annotations

import json
from pathlib import Path


def claim_until_empty(url: str, study_name: str, out: str) -> None:
    """Claim and finish waiting trials as fast as possible; log what was claimed."""
    import optuna

    from common.sweep_workers import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=study_name, storage=open_storage(url))
    claimed, errors = [], []
    while study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
        trial = study.ask()
        try:
            study.tell(trial, 1.0)
            claimed.append(trial.user_attrs.get("point"))
        except ValueError as exc:  # "Cannot tell a COMPLETE trial": another process had claimed it
            errors.append(str(exc))
    Path(out).write_text(json.dumps({"claimed": claimed, "errors": errors}))
