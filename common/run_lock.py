"""A lock file in a run directory while a process trains it, so that a second process (a
repeated `--resume`, a second sweep worker given the same run name) cannot write into it.

`run.lock` holds the owner's pid, host and start time. A lock whose process is gone (same
host, pid no longer running) is stale: it is replaced, with a note. A lock of a live
process, or of another host (whose processes cannot be seen from here), is an error that
names the owner and what to do. The lock goes when the run finishes, and at the latest
when its process exits.
"""
from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Optional

from common.errors import ConfigError

LOCK_NAME = "run.lock"
_held: list[Path] = []  # run directories this process holds, in the order it took them
_taken: list[Path] = []  # every run directory this process has locked, held or since released


def read_owner(path: Path) -> Optional[dict]:
    """The lock's owner record; None for no lock, {} for one that cannot be read (a kill mid-write)."""
    try:
        owner = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def is_running(pid: int) -> bool:
    """Whether process `pid` of this host still runs: it exists and (where /proc tells) is not a
    zombie, a killed process its parent has not yet reaped (a killed sweep worker, say)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): existing is running
    return state not in ("Z", "X")


def check_unlocked(run_dir: Path) -> None:
    """Error unless `run_dir` is free for this process: no lock, this process's own, or a stale one."""
    owner = read_owner(Path(run_dir) / LOCK_NAME)
    if not owner or (owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname()):
        return
    pid, host, since = owner.get("pid"), owner.get("host"), owner.get("since", "?")
    if host != socket.gethostname():
        raise ConfigError(f"{run_dir} is locked by process {pid} on host {host} (since {since}); if that run has "
                          f"ended without removing its lock, delete {Path(run_dir) / LOCK_NAME}")
    if isinstance(pid, int) and is_running(pid):
        raise ConfigError(f"{run_dir} is in use: process {pid} on this host has been training it since {since}; "
                          "wait for it to finish, or stop it first")
    print(f"note: {Path(run_dir) / LOCK_NAME} was left by process {pid}, which is no longer running; taking it over")


def acquire(run_dir: Path) -> None:
    """Take the lock of `run_dir` (an existing directory) for this process, replacing a stale one."""
    check_unlocked(run_dir)
    path = Path(run_dir) / LOCK_NAME
    since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}), encoding="utf-8")
    if not _held:
        atexit.register(release_all)
    if Path(run_dir) not in _held:
        _held.append(Path(run_dir))
    _taken.append(Path(run_dir))


def release(run_dir: Path) -> None:
    """Remove this process's lock of `run_dir` (another process's is left alone)."""
    path = Path(run_dir) / LOCK_NAME
    owner = read_owner(path)
    if owner is not None and owner.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
    if Path(run_dir) in _held:
        _held.remove(Path(run_dir))


def release_all() -> None:
    for run_dir in list(_held):
        release(run_dir)


def last_run() -> Optional[Path]:
    """The run directory this process locked last, whether it still holds it or not."""
    return _taken[-1] if _taken else None
