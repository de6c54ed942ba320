"""The training steps every phase shares: one epoch over dict batches (AMP, gradient
accumulation, clipping), prediction, evaluation, early stopping.

`common/fit.py` runs the epoch loop with these. Batches are dicts of tensors that the
model takes as keyword arguments, with the targets under "labels"; a phase whose inputs
differ (phase 5's image + text) gives its model those keywords.

Under torch.distributed the training model is a `DistributedDataParallel` wrapper: the
micro-steps of an accumulated batch skip its gradient all-reduce (`no_sync`), and the
epoch's loss and example count are summed over ranks. Prediction runs on the plain model
(no collective per batch) over this rank's share and gathers every rank's outputs.

The parts of a training step are named for torch.profiler (`step.data`, `step.to_device`,
`step.forward`, `step.backward`, `step.optimizer`), so that `benchmarks/profile_step.py` can say where a step's
time goes; outside a profiler the names cost a few microseconds a step.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import record_function
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from common.device import autocast
from common.distributed import gather_objects, sum_across_ranks
from common.metrics import compute_metrics

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def count_parameters(model: torch.nn.Module) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable_parameters": trainable}


def move_to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


@dataclass(frozen=True)
class StepSettings:
    """How each training step is made: autocast dtype and gradient scaler, accumulation,
    clipping (0: none), the step budget, the loss, and whether a progress bar shows."""

    amp_dtype: Optional[torch.dtype] = None
    scaler: Optional[torch.amp.GradScaler] = None
    grad_accum_steps: int = 1
    max_grad_norm: float = 1.0
    max_steps: Optional[int] = None
    loss_fn: LossFn = F.cross_entropy
    progress: bool = True


def step_optimizer(optimizer: torch.optim.Optimizer, scheduler, scaler: torch.amp.GradScaler,
                   params: Sequence[torch.nn.Parameter], max_grad_norm: float) -> None:
    """One optimizer step from the accumulated gradients: clip, update, advance the schedule, zero."""
    with record_function("step.optimizer"):
        if max_grad_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)


def train_one_epoch(model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scheduler,
                    device: torch.device, settings: StepSettings = StepSettings(), *, desc: str = "train",
                    on_step: Optional[Callable[[int, float, float], None]] = None, log_every: int = 50,
                    first_step: int = 0) -> dict:
    """One pass over `loader`, stepped as `settings` say; returns mean training loss, optimizer
    steps and examples seen, and for token batches the tokens seen (attention mask) and the
    padded tokens computed on.

    `on_step(step, loss, learning_rate)` is called after every `log_every`-th optimizer step
    (counted from `first_step`, the steps of earlier epochs), with the mean loss since the
    last call over all ranks: one device sync per call, none in between. Under DDP every
    rank must get the same `on_step` or None (the window's loss is summed over ranks)."""
    model.train()
    accumulate, max_steps = settings.grad_accum_steps, settings.max_steps
    scaler = settings.scaler or torch.amp.GradScaler(device.type, enabled=False)
    params = [p for p in model.parameters() if p.requires_grad]
    total_batches = len(loader) if not max_steps else min(len(loader), max_steps * accumulate)
    loss_sum = torch.zeros((), device=device)  # summed on device: no GPU sync per step
    logged_sum, logged_examples = torch.zeros((), device=device), 0  # loss_sum and examples at the last on_step
    examples = steps = tokens = padded_tokens = 0
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(total=total_batches, desc=desc, leave=False, disable=not settings.progress, dynamic_ncols=True)
    batches = iter(loader)
    for index in range(total_batches):
        with record_function("step.data"):  # waiting for the next batch: loading and collation
            batch = next(batches, None)
        if batch is None:
            break
        if "input_ids" in batch:  # counted on the host copy: no device sync
            padded_tokens += batch["input_ids"].numel()
            tokens += int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        with record_function("step.to_device"):
            batch = move_to_device(batch, device)
        labels = batch.pop("labels")
        with record_function("step.forward"):
            with autocast(device, settings.amp_dtype):
                logits = model(**batch).logits
            loss = settings.loss_fn(logits.float(), labels)
        final_micro_step = (index + 1) % accumulate == 0 or index + 1 == total_batches
        # DDP all-reduces gradients in backward; on the non-final micro-steps there is nothing to reduce yet.
        with record_function("step.backward"), (contextlib.nullcontext() if final_micro_step or not
                                                 hasattr(model, "no_sync") else model.no_sync()):
            scaler.scale(loss / accumulate).backward()
        loss_sum += loss.detach() * len(labels)
        examples += len(labels)
        if final_micro_step:
            step_optimizer(optimizer, scheduler, scaler, params, settings.max_grad_norm)
            steps += 1
            if on_step and (first_step + steps) % log_every == 0:  # the window's loss: the sum since the last call
                window = sum_across_ranks(torch.stack([loss_sum - logged_sum,
                                                       torch.tensor(float(examples - logged_examples), device=device)]))
                on_step(first_step + steps, float(window[0].item() / window[1].item()), scheduler.get_last_lr()[0])
                logged_sum, logged_examples = loss_sum.clone(), examples
        bar.update(1)
        if index % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    bar.close()
    return epoch_totals(loss_sum, examples, tokens, padded_tokens, steps)


def epoch_totals(loss_sum: torch.Tensor, examples: int, tokens: int, padded_tokens: int, steps: int) -> dict:
    """An epoch's figures summed over every rank: mean loss, steps, examples (and tokens of a text batch)."""
    counts = torch.tensor([float(examples), float(tokens), float(padded_tokens)], device=loss_sum.device)
    totals = sum_across_ranks(torch.cat([loss_sum[None], counts]))
    examples = int(totals[1].item())
    stats = {"train_loss": float(totals[0].item() / max(examples, 1)), "steps": steps, "examples": examples}
    if padded_tokens:
        stats.update(tokens=int(totals[2].item()), padded_tokens=int(totals[3].item()))
    return stats


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device, *,
            amp_dtype: Optional[torch.dtype] = None, progress: bool = True,
            desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels for every example, in the dataset's order (the loader may batch
    them in another order, e.g. sorted by length). Under DDP each rank predicts the share
    its loader's sampler holds, and every rank gets all of them back, each example once."""
    model.eval()
    logits_parts, label_parts = [], []
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True):
        batch = move_to_device(batch, device)
        labels = batch.pop("labels")
        with autocast(device, amp_dtype):
            logits_parts.append(model(**batch).logits.float().cpu().numpy())
        label_parts.append(labels.cpu().numpy())
    shares = gather_objects((np.fromiter(iter(loader.sampler), dtype=np.int64), logits_parts, label_parts))
    order = np.concatenate([indices for indices, _, _ in shares])
    logits = np.concatenate([part for _, parts, _ in shares for part in parts])
    labels = np.concatenate([part for _, _, parts in shares for part in parts])
    if len(order) != len(logits) or not np.array_equal(np.sort(order), np.arange(len(order))):
        raise RuntimeError(f"evaluation of {desc!r} got {len(logits)} outputs for sampler indices that are not "
                           f"each of 0..{len(order) - 1} once: the loader's sampler does not match its batches")
    restored_logits, restored_labels = np.empty_like(logits), np.empty_like(labels)
    restored_logits[order], restored_labels[order] = logits, labels
    return restored_logits, restored_labels


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, label_names: Sequence[str], *,
             amp_dtype: Optional[torch.dtype] = None, progress: bool = True,
             desc: str = "eval") -> tuple[dict, np.ndarray]:
    """Metrics (with mean cross-entropy `loss`) and the logits, in dataset order."""
    logits, labels = predict(model, loader, device, amp_dtype=amp_dtype, progress=progress, desc=desc)
    return score_logits(logits, labels, label_names), logits


def score_logits(logits: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> dict:
    """Metrics of a classifier's logits against `labels`, with the mean cross-entropy `loss`."""
    metrics = compute_metrics(labels, logits.argmax(-1), label_names)
    metrics["loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(np.asarray(labels))).item())
    return metrics


@dataclass
class EarlyStopping:
    """Tracks the best validation score; `patience` epochs without gain ends training
    (patience 0 never stops early, but still tracks the best epoch)."""

    patience: int = 0
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's score; True when it is a new best."""
        if value > self.best:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
