"""Best and last checkpoints, and resuming from the last one.

A checkpoint is a Hugging Face model directory (`save_pretrained` + tokenizer, so that
`transformers.pipeline` loads it). `last/` also holds `training_state.pt`: optimizer,
scheduler, scaler, early-stopping and RNG states, epoch and history, which is everything
a resumed run needs to continue exactly where the interrupted one stopped; tensors and
plain values only, loaded without unpickling any object.
"""
from __future__ import annotations

import errno
import pickle
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from transformers.utils import logging as hf_logging

from common.distributed import is_main_process
from common.errors import ConfigError, describe
from common.records import no_space

TRAINING_STATE = "training_state.pt"


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Replace `final` by `tmp` so that one complete copy exists at every moment
    (`final` or `final.old`); `find_checkpoint` falls back to the old copy."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(directory: Path, model, tokenizer=None, training_state: Optional[dict] = None) -> None:
    """Write `model` (and its tokenizer and training state) to `directory`, swapped into place
    whole; under torch.distributed rank 0 alone writes."""
    if not is_main_process():
        return
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per save only clutters the log
    try:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if training_state is not None:
            torch.save(training_state, tmp / TRAINING_STATE)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space left" in str(exc):
            raise no_space(directory) from None
        raise
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    _swap_into_place(tmp, directory)


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """A rough bound on what a run's checkpoints take at their largest: `best` and `last`, a
    temporary copy while one is swapped in, and `last`'s optimizer state (AdamW: two moments
    per trained parameter)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 3 * weights + 2 * trained


def check_free_space(directory: Path, model: torch.nn.Module) -> None:
    """Refuse to train when the run directory's device cannot hold the checkpoints: better
    before the first epoch than after it, when the first save fails."""
    if not is_main_process():
        return
    needed, free = checkpoint_bytes(model), shutil.disk_usage(directory).free
    if free < needed:
        raise ConfigError(f"{directory} has {free / 2**20:,.0f} MB free and the checkpoints of this model take about "
                          f"{needed / 2**20:,.0f} MB: free some space or choose another --output_dir")


def find_checkpoint(directory: Path) -> Optional[Path]:
    directory = Path(directory)
    for candidate in (directory, directory.with_name(directory.name + ".old")):
        if (candidate / "config.json").exists() or (candidate / "adapter_config.json").exists():  # model or LoRA
            return candidate
    return None


def check_checkpoint(directory: Path) -> None:
    """Read the header of every weights file in `directory` (which also checks the file holds
    all the tensors it lists): a damaged checkpoint (an interrupted copy, a full disk) is an
    error naming the file before anything loads from it."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(Path(directory).glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as weights:
                weights.keys()
        except (SafetensorError, OSError) as exc:
            raise ConfigError(f"{path} is damaged ({describe(exc)}): the run cannot continue from this checkpoint; "
                              "start it anew with --overwrite (or restore the file)") from None


def load_training_state(directory: Path) -> dict[str, Any]:
    """The state saved with a `last` checkpoint. It holds tensors, numbers, strings and
    lists alone, read with `weights_only=True`: a run directory on a shared filesystem
    can never make this load run code."""
    path = Path(directory) / TRAINING_STATE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"{path} cannot be read as a training state ({describe(exc)}); it was not written by "
                          "this code's current version, or is damaged: start the run anew with --overwrite") from None


def collect_training_state(*, epoch: int, optimizer, scheduler, scaler, stopper, history: list,
                           rng_state: dict, extra: Optional[dict] = None) -> dict:
    return {"epoch": epoch, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "early_stopping": stopper.state_dict(), "history": history,
            "rng": rng_state, **(extra or {})}


def restore_training_state(state: dict, *, optimizer, scheduler, scaler, stopper) -> None:
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    stopper.load_state_dict(state["early_stopping"])
