"""Phase 2 `main` wrappers that sweep tests name by reference (workers import them)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from phase2_multilingual_sentiment.train import main as phase2_main

LOG = "SWEEP_TEST_LOG"  # a file where each call appends its run name and whether it resumed


def note(path: Path, record: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def logged_main(cfg, provenance=None, on_epoch_end=None):
    """Phase 2's main; the log gets its run name and whether it resumed, and `<log>.times` which
    process ran it when (so that tests can see two processes never train in one directory at once)."""
    log = Path(os.environ[LOG])
    note(log, {"run_name": cfg.run_name, "resume": cfg.resume})
    started = time.time()
    try:
        return phase2_main(cfg, provenance, on_epoch_end)
    finally:
        note(log.with_suffix(".times"), {"run_name": cfg.run_name, "pid": os.getpid(), "start": started,
                                         "end": time.time()})


def interrupted_third_main(cfg, provenance=None, on_epoch_end=None):
    """Like Ctrl-C during the third trial, after its first epoch was checkpointed."""
    log = Path(os.environ[LOG])
    calls = len(log.read_text().splitlines()) if log.exists() else 0

    def interrupt(epoch, row):
        on_epoch_end(epoch, row)
        if calls == 2:
            raise KeyboardInterrupt

    return logged_main(cfg, provenance, interrupt)


def out_of_memory_at_batch_16(cfg, provenance=None, on_epoch_end=None):
    """Fails like a GPU running out of memory at the larger batch size."""
    if cfg.batch_size == 16:
        with open(os.environ[LOG], "a") as handle:
            handle.write(json.dumps({"run_name": cfg.run_name, "resume": cfg.resume}) + "\n")
        raise RuntimeError("CUDA out of memory (simulated)")
    return logged_main(cfg, provenance, on_epoch_end)



SCRIPTED = {0.1: [0.5, 0.6, 0.7], 0.2: [0.5, 0.6, 0.7], 0.3: [0.1, 0.1, 0.1], 0.4: [0.5, 0.6, 0.1]}


def scripted_main(cfg, provenance=None, on_epoch_end=None):
    """No training: reports the validation scores of SCRIPTED[learning_rate] epoch by epoch."""
    run_dir = Path(cfg.output_dir) / "phase2_multilingual_sentiment" / cfg.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    scores = SCRIPTED[cfg.learning_rate][:cfg.epochs]
    for epoch, score in enumerate(scores, start=1):
        on_epoch_end(epoch, {"epoch": epoch, "val_f1_macro": score})
    (run_dir / "metrics.json").write_text(json.dumps({"val_f1_macro": max(scores), "best_epoch": 1}))
    return run_dir


def killed_once_main(cfg, provenance=None, on_epoch_end=None):
    """SIGKILLs its own worker process in grid point g001's first epoch, the first time only
    (a marker file beside the log remembers): a worker killed mid-trial, without a word."""
    import signal

    marker = Path(os.environ[LOG]).with_suffix(".killed")
    started = time.time()

    def kill_once(epoch, row):
        if on_epoch_end:  # a trial's pruner; the best's re-run has none
            on_epoch_end(epoch, row)
        if cfg.run_name.endswith("g001") and not marker.exists():
            note(Path(os.environ[LOG]).with_suffix(".times"), {"run_name": cfg.run_name, "pid": os.getpid(),
                                                               "start": started, "end": time.time(), "killed": True})
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    return logged_main(cfg, provenance, kill_once)
