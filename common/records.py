"""Run directories and their records, written atomically.

Layout of one run (as the README describes it): `<output_dir>/<phase>/<run_name>/` with `config.json`,
`env.json`, `history.jsonl`, `metrics.json`, `predictions.csv`, plots and
`checkpoints/{best,last}/`. Every file is written to a temporary name and renamed into
place, so an interrupted run never leaves a half-written record.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import errno
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from common import REPO_ROOT
from common.config import config_to_dict
from common.distributed import describe_world, is_main_process
from common.errors import ConfigError
from common.run_lock import acquire, check_unlocked

if TYPE_CHECKING:  # reading records (tables, reports, --check) needs no torch
    import torch

PACKAGES = ("torch", "torchvision", "transformers", "tokenizers", "datasets", "scikit-learn",
            "numpy", "pandas", "peft", "optuna", "captum", "accelerate")


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def readable_as_umask_allows(path: Path, directory: bool = False) -> None:
    """The mode an ordinary `open` would have given: temporary files are made owner-only
    (0600), which would keep a teammate on a shared folder out of metrics.json."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def atomic_write_text(path: Path, text: str) -> None:
    if not is_main_process():  # under torch.distributed, rank 0 alone writes (common/distributed.py)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        readable_as_umask_allows(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise no_space(path) from None
        raise


def no_space(path: Path) -> ConfigError:
    """The error of a write that found the disk full (its temporary file already removed)."""
    return ConfigError(f"no space left on the device of {path}: nothing half-written was kept; free some space (or "
                       "choose another --output_dir) and continue with --resume")


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, default=str) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_csv(path: Path, frame) -> None:
    """Write a pandas DataFrame atomically."""
    atomic_write_text(path, frame.to_csv(index=False))


def run_dir_for(cfg: Any, phase: str) -> Path:
    run_name = cfg.run_name or f"default_seed{cfg.seed}"
    return Path(cfg.output_dir) / phase / run_name


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        return {"git_commit": git("rev-parse", "HEAD") or None, "git_dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def collect_env(device: torch.device) -> dict:
    from common.device import describe_device

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "packages": versions, **git_state(), **describe_device(device),
            "distributed": describe_world(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


# Keys a resumed run may change: they decide where and how fast it runs, not what it learns.
RESUMABLE_KEYS = ("device", "progress", "num_workers", "resume", "overwrite", "output_dir", "run_name", "report_to",
                  "logging_steps")


def json_ready(obj: Any) -> Any:
    """`obj` as it reads back from JSON (tuples become lists, paths strings)."""
    return json.loads(json.dumps(obj, default=str))


def check_resume_config(stored: dict, cfg: Any, run_dir: Path) -> dict:
    """The keys whose value differs from the stored run's; an error when any of them
    would change the experiment (the optimizer and schedule would come back from the
    checkpoint while config.json claimed the new values)."""
    old, new = stored.get("config", {}), json_ready(config_to_dict(cfg))
    defaults = json_ready({f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                           for f in dataclasses.fields(cfg)})
    # A key the stored run predates is no change when it keeps its default.
    old = {**{key: value for key, value in defaults.items() if key not in old}, **old}
    changed = {key: [old.get(key), new.get(key)] for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)}
    forbidden = {key: values for key, values in changed.items() if key not in RESUMABLE_KEYS}
    if forbidden:
        listed = "; ".join(f"{key}: {a!r} -> {b!r}" for key, (a, b) in forbidden.items())
        raise ConfigError(f"--resume of {run_dir} with another experiment ({listed}). A resumed run continues "
                          f"the stored config; only {', '.join(RESUMABLE_KEYS)} may change. Drop those keys, "
                          "or start a new run (another --run_name)")
    return changed


def is_run_directory(path: Path, phase: str) -> bool:
    """Whether `path` is a run directory this code made (its config.json names the phase)."""
    try:
        record = read_json(path / "config.json")
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("phase") == phase and isinstance(record.get("config"), dict)


def start_run(cfg: Any, phase: str, device: torch.device, provenance: dict | None = None) -> Path:
    """Create (or reopen, with `resume`) the run directory and write config.json and env.json.

    The run directory is always `<output_dir>/<phase>/<run_name>` with a one-folder run
    name (common.config checks it); `--overwrite` deletes only a directory that is a run
    of this phase, and `--resume` only continues the same experiment."""
    run_dir = run_dir_for(cfg, phase)
    if run_dir.is_dir() and cfg.overwrite:
        check_unlocked(run_dir)  # before --overwrite deletes what another process may be training
    started = (run_dir / "config.json").exists()
    if started and not (cfg.resume or cfg.overwrite):
        raise ConfigError(f"run directory {run_dir} already exists; pass --resume to continue it, "
                          "--overwrite to replace it, or choose another --run_name")
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise ConfigError(f"{run_dir} is not a plain directory; choose another --run_name or --output_dir")
    record = {"phase": phase, **(provenance or {}), "config": config_to_dict(cfg)}
    if started and cfg.resume:
        stored = read_json(run_dir / "config.json")
        changed = check_resume_config(stored, cfg, run_dir)
        resumes = stored.get("resumes", []) + [{"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                                "argv": (provenance or {}).get("argv"), "changed": changed}]
        record = {**stored, "config": config_to_dict(cfg), "resumes": resumes}
    elif started and cfg.overwrite:
        if not is_run_directory(run_dir, phase):
            raise ConfigError(f"--overwrite: {run_dir} is not a {phase} run directory (its config.json does not "
                              "say so); it is left as it is")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    acquire(run_dir)  # refused while another live process trains it (a second --resume, say)
    write_json(run_dir / "config.json", record)
    # A resumed run keeps the env.json of its start; where it was resumed goes beside it.
    env_name = "env_resumed.json" if cfg.resume and (run_dir / "env.json").exists() else "env.json"
    write_json(run_dir / env_name, collect_env(device))
    return run_dir
