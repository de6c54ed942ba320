"""Coordination of sweep workers through the Optuna study storage alone (SQLite, a database
server such as PostgreSQL, or a journal file on a shared filesystem).

A grid's points are enqueued as waiting trials, each claimed by exactly one worker (a
claim is one atomic state change in the database); a point enqueued twice by two workers
starting at once is run by the lower trial number only. A killed worker's trial stops
sending heartbeats and is failed after the grace period; its point is enqueued again and
resumes from its last checkpoint. Each trial is an ordinary run of the phase's `main`.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from common.config import build_config
from common.errors import ConfigError, describe
from common.phases import load_phase, resolve_ref
from common.run_lock import release
from common.records import read_json, read_jsonl, write_csv
from common.tables import NON_EXPERIMENT_KEYS
from common.search_space import SearchSpace, load_search_space
from common.tracking import close_open_trackers

SKIP = "skip_reason"  # user attr of trials that never trained (a duplicate point, a trial past the grid)
ERROR = "error"  # user attr of trials that failed with an error (as opposed to an interruption)


@dataclass
class SweepSpec:
    """Everything a worker process needs; plain data, so that it pickles into spawned workers."""

    phase: str  # the phase package: its phase.py declares the config class and `main` a trial runs
    space_path: str
    base: dict  # config values of every trial before its parameters (the space's `fixed` included)
    storage: Optional[str]
    study_name: Optional[str]
    heartbeat_seconds: int = 60
    main_ref: Optional[str] = None  # "package.module:function" run instead of the phase's main (tests)

    def load(self) -> tuple[Callable, type, SearchSpace]:
        runner = load_phase(self.phase).runner
        main = resolve_ref(self.main_ref) if self.main_ref else runner.main
        return main, runner.config_cls, load_search_space(Path(self.space_path), runner.config_cls)

    def directory(self, space: SearchSpace) -> Path:
        return Path(self.base["output_dir"]) / self.phase / f"sweep_{self.study_name or space.study_name}"


def storage_url(spec: SweepSpec, space: SearchSpace) -> str:
    if spec.storage:
        return spec.storage
    path = spec.directory(space) / "study.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def serialize_sqlite_transactions(engine) -> None:
    """Make each SQLite transaction take the write lock when it begins.

    Python's sqlite3 driver runs the SELECT of a read-then-write (Optuna's claim of a
    waiting trial: "is it still WAITING? then set RUNNING") outside any transaction, so
    two processes can both read WAITING and both claim the trial. `BEGIN IMMEDIATE` turns
    the read and the write into one atomic step (SQLAlchemy's recipe for pysqlite); a
    database server's row locks do the same for PostgreSQL and MySQL.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _driver_leaves_transactions_alone(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # pooled connections were opened before the hooks


def masked(url: str) -> str:
    """`url` with its password hidden, for every message and record."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@", 1)[-1] if "@" in url else url  # not a URL SQLAlchemy reads: keep only the host part


JOURNAL = "journal://"  # --storage journal:///shared/dir/study.log: Optuna's JournalStorage, one file, no server
HEARTBEAT = "heartbeat"  # system attr of a running trial in a journal: when its worker last said it lives


def heartbeat_journal_storage(path: Path, heartbeat_seconds: int, grace_seconds: int):
    """Optuna's JournalStorage on one append-only file (a filesystem every worker mounts, NFS
    included: its lock is a symlink), with the heartbeats Optuna gives only its RDB storage:
    each running trial's worker writes the time into the trial every `heartbeat_seconds`, and
    a trial silent for `grace_seconds` is stale, so `optuna.storages.fail_stale_trials` and
    the heartbeat thread of `study.optimize` work on it as on a database. The workers'
    clocks must agree to well within the grace period."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages import JournalStorage
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
        def record_heartbeat(self, trial_id: int) -> None:
            try:
                self.set_trial_system_attr(trial_id, HEARTBEAT, time.time())
            except UpdateFinishedTrialError:  # another worker took it for dead and failed it; it ends soon
                pass

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now = time.time()
            return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                    if now - t.system_attrs.get(HEARTBEAT, now) > grace_seconds]

        def get_heartbeat_interval(self) -> int:
            return heartbeat_seconds

        def get_heartbeat_stale_trial_callback(self):
            return None

    path.parent.mkdir(parents=True, exist_ok=True)
    return HeartbeatJournalStorage(JournalFileBackend(str(path)))


def open_storage(url: str, heartbeat_seconds: int = 60):
    """The study storage of `url`, with heartbeats (they find the trials of killed workers):
    Optuna's RDB storage for SQLAlchemy URLs (SQLite, PostgreSQL, MySQL), its journal file
    for `journal:///path/to/study.log`."""
    import optuna

    # Optuna marks heartbeats experimental; they are relied on here on purpose, and the warning would
    # otherwise repeat for every trial.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if url.startswith(JOURNAL):
        path = Path(url[len(JOURNAL):])
        if not path.is_absolute():
            raise ConfigError(f"study storage {url!r}: a journal needs an absolute path, journal:///dir/study.log")
        return heartbeat_journal_storage(path, heartbeat_seconds, 3 * heartbeat_seconds)
    # SQLite: wait for a writer's lock rather than fail.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat_seconds,
                                             grace_period=3 * heartbeat_seconds)
    except Exception as exc:  # a bad URL, a missing database driver, an unreachable server
        reason = describe(exc).replace(url, masked(url))
        raise ConfigError(f"cannot open the study storage {masked(url)!r}: {reason}") from None
    if url.startswith("sqlite"):
        serialize_sqlite_transactions(storage.engine)
    return storage


def open_study(spec: SweepSpec, space: SearchSpace):
    """Create the study, or load it; a study made from another space or base config is an error."""
    import optuna

    url = storage_url(spec, space)
    storage = open_storage(url, spec.heartbeat_seconds)
    name = spec.study_name or space.study_name
    study = optuna.create_study(study_name=name, storage=storage, direction=space.direction,
                                sampler=space.build_sampler(), pruner=space.build_pruner(), load_if_exists=True)
    # Keys that may differ between machines of one study (paths, devices) are not part of it.
    identity = {"space": space.describe(),
                "base": {k: v for k, v in spec.base.items() if k not in NON_EXPERIMENT_KEYS}}
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        raise ConfigError(f"study {name!r} in {masked(url)} was started with another search space or base config; "
                          "use --study_name to start a new study (differences in: "
                          f"{', '.join(k for k in identity if identity[k] != stored.get(k))})")
    return study


def live(trial) -> bool:
    """A trial that holds its point: it ran, runs, waits to run, or failed with an error (a
    rerun would fail the same way). Only interrupted trials (killed, Ctrl-C) let it go."""
    from optuna.trial import TrialState

    if SKIP in trial.user_attrs:
        return False
    return trial.state != TrialState.FAIL or ERROR in trial.user_attrs


def enqueue_missing(study, space: SearchSpace) -> None:
    """Enqueue every grid point that no live trial holds (all of them in a new study; after
    a crash, the points of failed trials)."""
    held = {t.user_attrs.get("grid_point") for t in study.get_trials(deepcopy=False) if live(t)}
    for index, point in enumerate(space.grid_points()):
        if index not in held:
            study.enqueue_trial(point, user_attrs={"grid_point": index})


def has_work(study, space: SearchSpace) -> bool:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if space.is_grid:
        return any(t.state == TrialState.WAITING and SKIP not in t.user_attrs for t in trials)
    return sum(live(t) for t in trials) < space.n_trials


def is_duplicate(study, trial, point: int) -> bool:
    """Another live trial holds `point` and wins: it finished, or it has a lower number."""
    from optuna.trial import TrialState

    for other in study.get_trials(deepcopy=False):
        if other.number == trial.number or other.user_attrs.get("grid_point") != point or not live(other):
            continue
        if other.state in (TrialState.COMPLETE, TrialState.PRUNED) or other.number < trial.number:
            return True
    return False


def trial_key(trial, space: SearchSpace) -> str:
    return f"g{trial.user_attrs['grid_point']:03d}" if space.is_grid else f"t{trial.number:03d}"


def make_objective(spec: SweepSpec, main: Callable, config_cls: type, space: SearchSpace, study, device: str,
                   worker: str):
    import optuna

    def objective(trial) -> float:
        point = trial.user_attrs.get("grid_point")
        if space.is_grid and point is None:  # made when another worker took the last waiting point
            trial.set_user_attr(SKIP, "no grid point left")
            raise optuna.TrialPruned("no grid point left")
        if space.is_grid and is_duplicate(study, trial, point):
            trial.set_user_attr(SKIP, f"grid point {point} is held by another trial")
            raise optuna.TrialPruned(f"grid point {point} is held by another trial")
        params = {param.name: param.suggest(trial) for param in space.params}
        run_name = f"{spec.directory(space).name}/trials/{trial_key(trial, space)}"
        run_dir = Path(spec.base["output_dir"]) / spec.phase / run_name
        resume = (run_dir / "checkpoints" / "last").exists()
        cfg = build_config(config_cls, {**spec.base, **params, "run_name": run_name, "device": device,
                                        "evaluate_test": False, "resume": resume,
                                        "overwrite": run_dir.exists() and not resume})
        for key, value in {"run_dir": str(run_dir), "worker": worker, "device": device}.items():
            trial.set_user_attr(key, value)
        for row in read_jsonl(run_dir / "history.jsonl") if resume else []:  # epochs done before a crash
            trial.report(row[space.metric], row["epoch"])
        print(f"[{worker}] trial {trial.number} ({trial_key(trial, space)}): {params}")

        def report(epoch: int, row: dict) -> None:
            trial.report(row[space.metric], epoch)
            # After the last epoch there is nothing left to save: the trial completes.
            if epoch < cfg.epochs and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}: {space.metric} {row[space.metric]:.4f}")

        provenance = {"sweep": study.study_name, "trial": trial.number, "space": space.source}
        finished = False
        try:
            main(cfg, provenance, on_epoch_end=report)
            finished = True
        except optuna.TrialPruned:
            finished = True
            close_open_trackers("KILLED")  # the worker goes on with the next trial
            raise
        except RuntimeError as exc:  # e.g. out of GPU memory: recorded, and the point is not retried
            trial.set_user_attr(ERROR, f"{type(exc).__name__}: {str(exc)[:300]}")
            raise
        finally:
            close_open_trackers("FAILED")  # any other way out of a run that did not finish
            release(run_dir)  # a pruned or failed trial's directory: free for any worker to run again
            if finished and not space.keep_checkpoints:
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        metrics = read_json(run_dir / "metrics.json")
        for key in ("best_epoch", "epochs_trained", "train_seconds"):
            trial.set_user_attr(key, metrics.get(key))
        return metrics[space.metric]

    return objective


def run_worker(spec: SweepSpec, device: Optional[str] = None, threads: int = 0) -> None:
    """Claim and run trials until the study has none left for this worker."""
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if threads:
        torch.set_num_threads(threads)
    main, config_cls, space = spec.load()
    study = open_study(spec, space)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    objective = make_objective(spec, main, config_cls, space, study, device or spec.base["device"], worker)
    while True:
        optuna.storages.fail_stale_trials(study)
        if space.is_grid:
            enqueue_missing(study, space)
        if not has_work(study, space):
            break
        # A failing trial (e.g. out of GPU memory) is recorded and the sweep goes on; config
        # and data errors are not RuntimeErrors and stop the worker with their message.
        study.optimize(objective, n_trials=1, catch=(RuntimeError,), gc_after_trial=True)
        write_trials_table(study, space, spec.directory(space))


def write_trials_table(study, space: SearchSpace, directory: Path) -> Optional[Any]:
    """trials.csv: `trials_frame` of the study, written; returns the frame."""
    frame = trials_frame(study, space)
    write_csv(directory / "trials.csv", frame)
    return frame


def trials_frame(study, space: SearchSpace):
    """One row per trial that trained (skipped claims are left out)."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        if SKIP in t.user_attrs or t.state.name == "WAITING":
            continue
        rows.append({"number": t.number, "key": trial_key(t, space) if (t.user_attrs.get("grid_point") is not None
                                                                       or not space.is_grid) else "",
                     "state": t.state.name, space.metric: t.value, **{f"param_{k}": v for k, v in t.params.items()},
                     "epochs_reported": len(t.intermediate_values),
                     **{k: t.user_attrs.get(k) for k in ("best_epoch", "train_seconds", "worker", "device",
                                                         "run_dir", ERROR)},
                     "duration_seconds": round(t.duration.total_seconds(), 1) if t.duration else None})
    return pd.DataFrame(rows)


def check_points(spec: SweepSpec, config_cls: type, space: SearchSpace) -> None:
    """Every grid point must make a valid config, before any worker starts."""
    names = {p.name for p in space.params}
    relative = any("adafactor_relative" in (p.values or []) for p in space.params if p.name == "optimizer")
    if not space.is_grid and relative and "learning_rate" in names:
        raise ConfigError(f"{space.source}: adafactor_relative takes no learning rate, so it cannot be sampled "
                          "together with learning_rate; list the combinations as grid `points`")
    for index, point in enumerate(space.grid_points() if space.is_grid else []):
        try:
            build_config(config_cls, {**spec.base, **point})  # the config checks its optimizer keys
        except ConfigError as exc:
            raise ConfigError(f"{space.source}, grid point {index} {point}: {exc}") from None
