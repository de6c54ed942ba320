"""Hyperparameter sweeps on Optuna, where each trial is an ordinary run of a phase's `main`.

Usage (through a phase's sweep command; the phase's `main` and config class are those its phase.py declares):
    python -m phase2_multilingual_sentiment.sweep --space phase2_multilingual_sentiment/sweeps/xlmr_grid.yaml \\
        --preset xlmr --data_dir ../shared/data/tweet_sentiment_multilingual [--workers 2]
    # several machines, one shared study: a PostgreSQL database, or a journal file on a shared filesystem
    python -m phase2_multilingual_sentiment.sweep --space ... --storage postgresql://user:pw@db-host/sweeps
    python -m phase2_multilingual_sentiment.sweep --space ... --storage journal:///shared/sweeps/study.log

The space file (common/search_space.py) says what is searched; `--preset` and `--key value`
say the rest of each trial's config (precedence: defaults < presets < the space's `fixed`
< command-line keys < the trial's parameters). The objective is the run's best
validation score; the test split is never scored in a trial. After each epoch the trial
reports its validation score and the pruner may stop it.

Trials live in `<output_dir>/<phase>/sweep_<study>/`: `study.db` (the default SQLite
storage; any SQLAlchemy URL, or `journal:///path`, works with --storage), `trials/<key>/` (one run directory per
trial, checkpoints deleted when it ends unless keep_checkpoints), `trials.csv`, `best.json`.
When the study is done, the best parameters are re-run as a normal run with the test split
(`<output_dir>/<phase>/sweep_<study>_best_seed<seed>/`, one per --final_seeds seed).

Workers coordinate through the storage alone (common/sweep_workers.py): each grid point runs
exactly once however many workers share the study, and a killed sweep, started again
with the same command, runs only what is left. Each trial runs in one process on one
device: a sweep uses several GPUs through --workers and --devices (or machines sharing
--storage), never through torchrun, which is refused.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from common.config import build_config, config_to_dict, parse_config
from common.phases import load_phase
from common.distributed import launched_world
from common.errors import ConfigError
from common.records import write_json
from common.search_space import SearchSpace, check_study_name, load_search_space
from common.sweep_workers import (ERROR, SKIP, SweepSpec, check_points, enqueue_missing, open_study, run_worker,
                                  write_trials_table)
from common.tracking import check_trackers, open_sweep_parent


def best_trial(study):
    """The best completed trial; None before any trial has completed."""
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


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


def rerun(spec: SweepSpec, main: Callable, config_cls: type, space: SearchSpace, params: dict, label: str,
          seeds: Sequence[int], provenance: dict) -> list[Path]:
    """`params` over the base config as ordinary runs that score the test split, one per
    seed, named `sweep_<study>_<label>_seed<seed>`; finished ones are kept, not re-run."""
    runs = []
    for seed in seeds:
        run_name = f"{spec.directory(space).name}_{label}_seed{seed}"
        run_dir = Path(spec.base["output_dir"]) / spec.phase / run_name
        if (run_dir / "metrics.json").exists():
            print(f"{run_dir} exists; not re-running it")
            runs.append(run_dir)
            continue
        cfg = build_config(config_cls, {**spec.base, **params, "seed": seed, "run_name": run_name,
                                        "evaluate_test": True, "resume": run_dir.exists(), "overwrite": False})
        runs.append(main(cfg, {**provenance, "sweep": spec.study_name or space.study_name, "space": space.source,
                               "params": params, "rerun": label}))
    return runs


def rerun_best(spec: SweepSpec, main: Callable, config_cls: type, space: SearchSpace, study,
               seeds: Sequence[int]) -> list[Path]:
    """The best parameters, re-run with the test split, once the study has ended."""
    from optuna.trial import TrialState

    best = best_trial(study)
    unfinished = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    if best is None or any(SKIP not in t.user_attrs for t in unfinished):
        print("not re-running the best trial: the study has unfinished trials or no completed one")
        return []
    return rerun(spec, main, config_cls, space, best.params, "best", seeds, {"best_trial": best.number})


def recover_killed_trials(spec: SweepSpec, study, exit_codes: Sequence[int], device: Optional[str]) -> None:
    """Workers killed by a signal left their trials running without a heartbeat: wait until
    Optuna takes them for dead (3 heartbeats), then run their points again here."""
    import optuna
    from optuna.trial import TrialState

    grace = 3 * spec.heartbeat_seconds
    print(f"warning: {len(exit_codes)} sweep worker(s) were killed (signals {[-code for code in exit_codes]}); "
          f"their trials are retried once their heartbeats are {grace}s old")
    deadline = time.monotonic() + grace + 2 * spec.heartbeat_seconds
    while time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            break
        time.sleep(min(spec.heartbeat_seconds, 5))
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    retried = [t.number for t in failed if ERROR not in t.user_attrs and SKIP not in t.user_attrs]
    print(f"retrying the points of interrupted trial(s) {retried}")
    run_worker(spec, device)


def run_sweep(spec: SweepSpec, workers: int = 1, devices: Sequence[str] = (), final_seeds: Sequence[int] = (),
              rerun: bool = True) -> Optional[dict]:
    """Run the study with `workers` processes on this machine, then summarize it and re-run the best."""
    started = time.perf_counter()
    if launched_world().size > 1:
        raise ConfigError("a sweep does not run under torchrun: each trial runs on one device. Use --workers N "
                          "--devices cuda:0,...,cuda:N-1 on one machine, or start the sweep on every machine with "
                          "one shared --storage (postgresql://... or journal:///shared/path/study.log)")
    main, config_cls, space = spec.load()
    check_points(spec, config_cls, space)
    from common.device import resolve_device  # torch: when a sweep runs, not for its --help

    for device in [*devices, spec.base["device"]]:
        resolve_device(device)  # a missing GPU fails here, not in every worker
    study = open_study(spec, space)  # a bad storage or a changed space fails here, once
    if space.is_grid:
        enqueue_missing(study, space)
    check_trackers(spec.base["report_to"])
    open_sweep_parent(spec.base["report_to"], spec.phase, Path(spec.base["output_dir"]), study.study_name)
    write_json(spec.directory(space) / "space.json", {"file": space.source, **space.describe()})
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
    if workers == 1:
        run_worker(spec, devices[0] if devices else None, threads)
    else:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no shared CUDA or RNG state
        worker_devices = [devices[i % len(devices)] if devices else None for i in range(workers)]
        processes = [context.Process(target=run_worker, args=(spec, device, threads)) for device in worker_devices]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        killed = [p.exitcode for p in processes if p.exitcode and p.exitcode < 0]
        failed = [p.exitcode for p in processes if p.exitcode and p.exitcode > 0]
        if failed:  # a worker stopped by an error has printed it; the others met it too, or will
            raise ConfigError(f"{len(failed)} sweep worker(s) stopped with an error (exit codes {failed}); see "
                              "their messages above. The finished trials are kept: the same command resumes")
        if killed:
            recover_killed_trials(spec, study, killed, devices[0] if devices else None)
    summary = summarize(spec, space, study, time.perf_counter() - started)
    if rerun and summary and summary["best"]:
        seeds = final_seeds or [spec.base["seed"]]
        summary["final_runs"] = [str(p) for p in rerun_best(spec, main, config_cls, space, study, seeds)]
        write_json(spec.directory(space) / "best.json", summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev False: `--device cpu` is the config key, never an abbreviation of --devices.
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--space", required=True, help="Search space file (JSON or YAML).")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes on this machine.")
    parser.add_argument("--devices", default="", help="Devices for the workers, round robin (e.g. cuda:0,cuda:1); "
                        "default: the config's device.")
    parser.add_argument("--storage", default=None, help="Optuna storage shared by workers on several machines: "
                        "a database URL (postgresql://user:password@host/db) or a journal file on a shared "
                        "filesystem (journal:///shared/dir/study.log); default SQLite in the sweep directory.")
    parser.add_argument("--study_name", default=None, help="Study name; default: the space's study_name.")
    parser.add_argument("--final_seeds", default="", help="Seeds of the test-split re-runs of the best "
                        "parameters (comma-separated); default: the config's seed.")
    parser.add_argument("--no_rerun", action="store_true", help="Do not re-run the best parameters.")
    parser.add_argument("--heartbeat_seconds", type=int, default=60, help="A trial without a heartbeat for 3x "
                        "this long is taken to belong to a killed worker: it fails and its point runs again.")
    return parser


def parse_sweep_cli(phase: str, argv: Optional[Sequence[str]] = None, description: Optional[str] = None,
                    parser: Optional[argparse.ArgumentParser] = None) -> Optional[tuple[argparse.Namespace, SweepSpec]]:
    """(sweep options, spec) from `--space FILE [sweep options] [--preset P] [--key value ...]`
    for the phase package `phase` (its config class and presets from its phase.py); None after
    --help. `parser` may add options of its own (it extends `build_parser()`)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = parser or build_parser()
    if "-h" in argv or "--help" in argv:
        argparse.ArgumentParser(parents=[parser], description=description, allow_abbrev=False,
                                epilog="Every other --key is a config key of the phase (see its train --help).")\
            .print_help()
        return None
    args, rest = parser.parse_known_args(argv)
    if args.study_name is not None:
        check_study_name(args.study_name)
    runner = load_phase(phase).runner
    config_cls = runner.config_cls
    space = load_search_space(Path(args.space), config_cls)
    for key in rest:
        if key.startswith("--") and key[2:].split("=")[0] in {p.name for p in space.params}:
            raise ConfigError(f"{key} is searched by {args.space}; it cannot also be set on the command line")
    cfg, _ = parse_config(config_cls, rest, runner.preset_dir, between=space.fixed)
    base = {k: v for k, v in config_to_dict(cfg).items() if k not in ("run_name", "resume", "overwrite")}
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    return args, SweepSpec(phase, str(args.space), base, args.storage, args.study_name, args.heartbeat_seconds)


def seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"seeds must be comma-separated integers, got {text!r}") from None


def sweep_cli(phase: str, argv: Optional[Sequence[str]] = None, description: Optional[str] = None) -> Optional[dict]:
    """`--space FILE [sweep options] [--preset P] [--key value ...]`: run a sweep of the phase
    package `phase` (its entry point and config class as its phase.py declares them)."""
    parsed = parse_sweep_cli(phase, argv, description)
    if parsed is None:
        return None
    args, spec = parsed
    return run_sweep(spec, args.workers, [d for d in args.devices.split(",") if d], seed_list(args.final_seeds),
                     not args.no_rerun)
