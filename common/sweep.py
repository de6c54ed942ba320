"""Hyperparameter sweeps on Optuna, where each trial is an ordinary run of a phase's `main`.

Usage (through a phase's entry point, which names its `main` and config class):
    python -m phase2_multilingual_sentiment.sweep --space phase2_multilingual_sentiment/sweeps/xlmr_grid.yaml \\
        --preset xlmr --data_dir ../shared/data/tweet_sentiment_multilingual [--workers 2]
    # several machines, one GPU each, one shared study:
    python -m phase2_multilingual_sentiment.sweep --space ... --storage postgresql://user:pw@db-host/sweeps

The space file (common/search_space.py) says what is searched; `--preset` and `--key value`
say the rest of each trial's config (precedence: defaults < presets < the space's `fixed`
< command-line keys < the trial's parameters). The objective is the run's best
validation score; the test split is never scored in a trial. After each epoch the trial
reports its validation score and the pruner may stop it.

Trials live in `<output_dir>/<phase>/sweep_<study>/`: `study.db` (the default SQLite
storage; any SQLAlchemy URL works with --storage), `trials/<key>/` (one run directory per
trial, checkpoints deleted when it ends unless keep_checkpoints), `trials.csv`, `best.json`.
When the study is done, the best parameters are re-run as a normal run with the test split
(`<output_dir>/<phase>/sweep_<study>_best_seed<seed>/`, one per --final_seeds seed).

Workers coordinate through the storage alone. A grid's points are enqueued as waiting
trials, each claimed by exactly one worker (a claim is one atomic state change in the
database); a point enqueued twice by two workers starting at once is run by the lower
trial number only. A killed worker's trial stops sending heartbeats and is failed after
the grace period; its point is enqueued again and resumes from its last checkpoint. So a
killed sweep, started again with the same command, runs only what is left.
"""
from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from common.config import build_config, config_to_dict, parse_config
from common.errors import ConfigError
from common.records import read_json, read_jsonl, write_csv, write_json
from common.report import NON_EXPERIMENT_KEYS
from common.search_space import SearchSpace, load_search_space

SKIP = "skip_reason"  # user attr of trials that never trained (a duplicate point, a trial past the grid)


@dataclass
class SweepSpec:
    """Everything a worker process needs; plain data, so that it pickles into spawned workers."""

    main_ref: str  # "package.module:function"
    config_ref: str  # "package.module:ConfigClass"
    phase: str
    space_path: str
    base: dict  # config values of every trial before its parameters
    storage: Optional[str]
    study_name: Optional[str]
    heartbeat_seconds: int = 60

    def load(self) -> tuple[Callable, type, SearchSpace]:
        def resolve(ref: str):
            module, _, name = ref.partition(":")
            return getattr(importlib.import_module(module), name)

        config_cls = resolve(self.config_ref)
        return resolve(self.main_ref), config_cls, load_search_space(Path(self.space_path), config_cls)

    def directory(self, space: SearchSpace) -> Path:
        return Path(self.base["output_dir"]) / self.phase / f"sweep_{self.study_name or space.study_name}"


def storage_url(spec: SweepSpec, space: SearchSpace) -> str:
    if spec.storage:
        return spec.storage
    path = spec.directory(space) / "study.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def open_study(spec: SweepSpec, space: SearchSpace):
    """Create the study, or load it; a study made from another space or base config is an error."""
    import optuna

    url = storage_url(spec, space)
    # SQLite: wait for a writer's lock rather than fail; heartbeats find trials of killed workers.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    grace = 3 * spec.heartbeat_seconds
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=spec.heartbeat_seconds,
                                             grace_period=grace)
    except Exception as exc:  # a bad URL, a missing database driver, an unreachable server
        raise ConfigError(f"cannot open the study storage {url!r}: {type(exc).__name__}: {exc}") from None
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
        raise ConfigError(f"study {name!r} in {url} was started with another search space or base config; "
                          "use --study_name to start a new study (differences in: "
                          f"{', '.join(k for k in identity if identity[k] != stored.get(k))})")
    return study


def live(trial) -> bool:
    """A trial that holds its point: it ran, runs, or waits to run (failed ones do not)."""
    from optuna.trial import TrialState

    return SKIP not in trial.user_attrs and trial.state in (TrialState.COMPLETE, TrialState.PRUNED,
                                                            TrialState.RUNNING, TrialState.WAITING)


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
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}: {space.metric} {row[space.metric]:.4f}")

        provenance = {"sweep": study.study_name, "trial": trial.number, "space": space.source}
        finished = False
        try:
            main(cfg, provenance, on_epoch_end=report)
            finished = True
        except optuna.TrialPruned:
            finished = True
            raise
        finally:
            if finished and not space.keep_checkpoints:
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        metrics = read_json(run_dir / "metrics.json")
        for key in ("best_epoch", "epochs_trained", "train_seconds"):
            trial.set_user_attr(key, metrics.get(key))
        return metrics[space.metric]

    return objective


def run_worker(spec: SweepSpec, worker_index: int = 0, device: Optional[str] = None, threads: int = 0) -> None:
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


def _worker_entry(spec: SweepSpec, worker_index: int, device: Optional[str], threads: int) -> None:
    run_worker(spec, worker_index, device, threads)


def write_trials_table(study, space: SearchSpace, directory: Path) -> Optional[Any]:
    """trials.csv: one row per trial that trained (skipped claims are left out)."""
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
                                                         "run_dir")},
                     "duration_seconds": round(t.duration.total_seconds(), 1) if t.duration else None})
    frame = pd.DataFrame(rows)
    write_csv(directory / "trials.csv", frame)
    return frame


def best_trial(study):
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None
    return study.best_trial


def summarize(spec: SweepSpec, space: SearchSpace, study, seconds: float) -> Optional[dict]:
    directory = spec.directory(space)
    frame = write_trials_table(study, space, directory)
    best = best_trial(study)
    counts = frame["state"].value_counts().to_dict() if len(frame) else {}
    summary = {"study": study.study_name, "space": space.source, "metric": space.metric,
               "direction": space.direction, "trials": counts, "wall_seconds": round(seconds, 1),
               "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                                  "run_dir": best.user_attrs.get("run_dir")}}
    write_json(directory / "best.json", summary)
    print(f"study {study.study_name}: {counts}; trials table {directory / 'trials.csv'}")
    if best is not None:
        print(f"best trial {best.number}: {space.metric} {best.value:.4f} with {best.params}")
    return summary


def rerun_best(spec: SweepSpec, main: Callable, config_cls: type, space: SearchSpace, study,
               seeds: Sequence[int]) -> list[Path]:
    """The best parameters as ordinary runs that score the test split, one per seed."""
    from optuna.trial import TrialState

    best = best_trial(study)
    unfinished = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    if best is None or any(SKIP not in t.user_attrs for t in unfinished):
        print("not re-running the best trial: the study has unfinished trials or no completed one")
        return []
    runs = []
    for seed in seeds:
        run_name = f"{spec.directory(space).name}_best_seed{seed}"
        run_dir = Path(spec.base["output_dir"]) / spec.phase / run_name
        if (run_dir / "metrics.json").exists():
            print(f"{run_dir} exists; not re-running it")
            runs.append(run_dir)
            continue
        cfg = build_config(config_cls, {**spec.base, **best.params, "seed": seed, "run_name": run_name,
                                        "evaluate_test": True, "resume": run_dir.exists(), "overwrite": False})
        runs.append(main(cfg, {"sweep": study.study_name, "best_trial": best.number, "space": space.source,
                               "params": best.params}))
    return runs


def run_sweep(spec: SweepSpec, workers: int = 1, devices: Sequence[str] = (), final_seeds: Sequence[int] = (),
              rerun: bool = True) -> Optional[dict]:
    """Run the study with `workers` processes on this machine, then summarize it and re-run the best."""
    started = time.perf_counter()
    main, config_cls, space = spec.load()
    study = open_study(spec, space)  # a bad storage or a changed space fails here, once
    if space.is_grid:
        enqueue_missing(study, space)
    write_json(spec.directory(space) / "space.json", {"file": space.source, **space.describe()})
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
    if workers == 1:
        run_worker(spec, 0, devices[0] if devices else None, threads)
    else:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no shared CUDA or RNG state
        processes = [context.Process(target=_worker_entry, args=(spec, i, devices[i % len(devices)] if devices
                                                                  else None, threads)) for i in range(workers)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode]
        if failed:
            raise RuntimeError(f"{len(failed)} sweep worker(s) failed (exit codes {failed}); see their output above")
    summary = summarize(spec, space, study, time.perf_counter() - started)
    if rerun and summary and summary["best"]:
        summary["final_runs"] = [str(p) for p in rerun_best(spec, main, config_cls, space, study,
                                                            final_seeds or [spec.base["seed"]])]
        write_json(spec.directory(space) / "best.json", summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--space", required=True, help="Search space file (JSON or YAML).")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes on this machine.")
    parser.add_argument("--devices", default="", help="Devices for the workers, round robin (e.g. cuda:0,cuda:1); "
                        "default: the config's device.")
    parser.add_argument("--storage", default=None, help="Optuna storage URL shared by workers on several "
                        "machines (e.g. postgresql://user:password@host/db); default SQLite in the sweep directory.")
    parser.add_argument("--study_name", default=None, help="Study name; default: the space's study_name.")
    parser.add_argument("--final_seeds", default="", help="Seeds of the test-split re-runs of the best "
                        "parameters (comma-separated); default: the config's seed.")
    parser.add_argument("--no_rerun", action="store_true", help="Do not re-run the best parameters.")
    parser.add_argument("--heartbeat_seconds", type=int, default=60, help="A trial without a heartbeat for 3x "
                        "this long is taken to belong to a killed worker: it fails and its point runs again.")
    return parser


def sweep_cli(main_ref: str, config_ref: str, phase: str, preset_dir: Path, argv: Optional[Sequence[str]] = None,
              description: Optional[str] = None) -> Optional[dict]:
    """`--space FILE [sweep options] [--preset P] [--key value ...]`: run a sweep of a phase."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if "-h" in argv or "--help" in argv:
        argparse.ArgumentParser(parents=[parser], description=description,
                                epilog="Every other --key is a config key of the phase (see its train --help).")\
            .print_help()
        return None
    args, rest = parser.parse_known_args(argv)
    module, _, name = config_ref.partition(":")
    config_cls = getattr(importlib.import_module(module), name)
    space = load_search_space(Path(args.space), config_cls)
    for key in rest:
        if key.startswith("--") and key[2:].split("=")[0] in {p.name for p in space.params}:
            raise ConfigError(f"{key} is searched by {args.space}; it cannot also be set on the command line")
    cfg, _ = parse_config(config_cls, rest, preset_dir, between=space.fixed)
    base = {k: v for k, v in config_to_dict(cfg).items() if k not in ("run_name", "resume", "overwrite")}
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    seeds = [int(s) for s in args.final_seeds.split(",") if s.strip()]
    spec = SweepSpec(main_ref, config_ref, phase, str(args.space), base, args.storage, args.study_name,
                     args.heartbeat_seconds)
    return run_sweep(spec, args.workers, [d for d in args.devices.split(",") if d], seeds, not args.no_rerun)
