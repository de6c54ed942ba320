"""The epoch loop every phase shares: train, validate, keep the best epoch by its validation
score (macro-F1 for a classifier: the evaluator's `selection_metric`), checkpoint, resume.

Each phase's `train.py` reads as its experiment: it opens the run (common/finetune.py),
builds the model and the loss, calls `fit`, reloads the best checkpoint and finishes the
run with the final evaluation. What a phase does differently per epoch (phase 1's
freezing regimes) comes in through `before_epoch`; what an outer loop needs to see per
epoch (a tuning sweep's pruner) through `on_epoch_end`, which may raise to end the run
early (its records stay); a phase whose batches are not text alone (phase 5) passes its
own `train_loader`.

Under torchrun (common/distributed.py) the same loop trains a `DistributedDataParallel`
wrapper of the model, made anew whenever a stage changes which parameters train (DDP
reduces the gradients of the parameters that trained when it was made); the schedule
counts optimizer steps of the global batch; rank 0 alone writes, every rank's RNG state
is saved, and `on_epoch_end` runs on rank 0, its decision (or error) reaching every rank.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.profiler import record_function
from torch.utils.data import DataLoader

from common.batching import EncodedDataset, make_train_loader
from common.checkpoint import collect_training_state, load_training_state, restore_training_state, save_checkpoint
from common.device import make_grad_scaler
from common.distributed import barrier, decide_on_main, gather_objects, is_distributed, world
from common.engine import EarlyStopping, LossFn, count_parameters, train_one_epoch
from common.errors import ConfigError
from common.evaluation import Evaluator
from common.models import freeze_input_embeddings
from common.optim import build_optimizer, build_scheduler, count_optimizer_steps
from common.plots import SCORE_NAMES, plot_learning_curves
from common.records import write_jsonl
from common.seeding import get_rng_state, set_rng_state, set_seed
from common.tracking import NO_TRACKERS, Trackers, chosen_trackers, epoch_metrics

BeforeEpoch = Callable[[int], dict]  # epoch index -> extra history fields (e.g. the training stage)
OnEpochEnd = Callable[[int, dict], None]  # (epoch number, history row); may raise to stop the run


@dataclass
class FitResult:
    history: list[dict]
    best_epoch: int
    train_seconds: float
    before: dict  # scores of the untrained model
    batching: dict = field(default_factory=dict)  # world size, per-device batch, accumulation, global batch

    @property
    def trainable_parameters(self) -> int:
        return self.history[-1]["trainable_parameters"] if self.history else 0

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(len(self.history), 1)


def batch_layout(cfg) -> dict:
    """How a run's optimizer steps are made: what metrics.json records of the batches."""
    size = world().size
    return {"world_size": size, "per_device_batch_size": cfg.batch_size, "grad_accum_steps": cfg.grad_accum_steps,
            "global_batch_size": cfg.batch_size * cfg.grad_accum_steps * size}


class ParallelModel:
    """The model the training steps call: `model` itself in one process, else a
    `DistributedDataParallel` wrapper, rebuilt when the set of trainable parameters changes."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model, self.device, self.trains, self.wrapper = model, device, None, None

    def current(self) -> torch.nn.Module:
        if not is_distributed():
            return self.model
        trains = tuple(p.requires_grad for p in self.model.parameters())
        if trains != self.trains:
            self.wrapper = None  # the old wrapper's gradient hooks go with it
            self.wrapper = DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                   if self.device.type == "cuda" else None)
            self.trains = trains
        return self.wrapper


def restore_rng(state: dict) -> None:
    """This rank's RNG state from a `last` checkpoint made with the same world size."""
    saved_size = state.get("world_size", 1)
    if saved_size != world().size:
        raise ConfigError(f"the checkpoint was made by {saved_size} process(es) and this run has {world().size}: "
                          "the data order depends on the world size; resume with the same number of processes")
    set_rng_state(state["rng_ranks"][world().rank] if "rng_ranks" in state else state["rng"])


def fit(cfg, model: torch.nn.Module, tokenizer, train_set: Optional[EncodedDataset], evaluator: Evaluator, run_dir: Path,
        device: torch.device, amp_dtype: Optional[torch.dtype], *, resume_from: Optional[Path] = None,
        loss_fn: LossFn = F.cross_entropy, before_epoch: Optional[BeforeEpoch] = None,
        on_epoch_end: Optional[OnEpochEnd] = None, train_loader: Optional[DataLoader] = None,
        learning_rates: Optional[dict[str, float]] = None, trackers: Trackers = NO_TRACKERS) -> FitResult:
    """Train `model` for `cfg.epochs` epochs (or until early stopping), writing
    `checkpoints/{best,last}`, `history.jsonl` and the learning curves after every epoch.

    `resume_from` is a `checkpoints/last` directory whose model weights are already in
    `model`; the optimizer, schedule, early-stopping and RNG states are restored from it.
    A phase whose batches are not tokenized text alone passes its own `train_loader` (its
    sampler must have `set_epoch`) instead of `train_set`; `learning_rates` gives parts of
    the model their own peak learning rate (see `common.optim.parameter_groups`).
    `trackers` (the run's, common/tracking.py) get the training loss and learning rate every
    `cfg.logging_steps` optimizer steps (at least four times an epoch) and each epoch's history row.
    Under DDP `train_loader`'s batch sampler must deal out global batches to the ranks
    (`common.batching.ShardedBatchSampler`), and each rank passes its own `model`.
    """
    checkpoints = Path(run_dir) / "checkpoints"
    title = cfg.run_name or Path(run_dir).name
    train_loader = train_loader or make_train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed,
                                                     cfg.group_by_length, cfg.num_workers)
    if not hasattr(train_loader.batch_sampler, "set_epoch"):
        raise TypeError("fit's train_loader needs a batch sampler with set_epoch (common.batching."
                        f"ShardedBatchSampler); it has {type(train_loader.batch_sampler).__name__}")
    steps_per_epoch = count_optimizer_steps(len(train_loader), cfg.grad_accum_steps, cfg.max_steps)
    if getattr(cfg, "freeze_embeddings", False):  # here, so that a resumed model is frozen as the first one was
        freeze_input_embeddings(model)
    # Built over every parameter a stage may train; frozen ones get no gradient and so no update.
    optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay, cfg.optimizer, cfg.momentum,
                                learning_rates, fused=cfg.fused_adamw)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, steps_per_epoch * cfg.epochs, cfg.warmup_ratio,
                                cfg.polynomial_power)
    scaler = make_grad_scaler(device, amp_dtype)
    stopper = EarlyStopping(cfg.early_stopping_patience)
    history, start_epoch, train_seconds = [], 0, 0.0
    if resume_from:
        state = load_training_state(resume_from)
        restore_training_state(state, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper)
        history, start_epoch, train_seconds = state["history"], state["epoch"], state["train_seconds"]
        before = state["before"]
        restore_rng(state)
        # The checkpoint's history is the truth: a kill between writing history.jsonl and
        # the checkpoint may have left one row more there.
        write_jsonl(Path(run_dir) / "history.jsonl", history)
        print(f"Resuming {run_dir} after epoch {start_epoch}")
    else:
        before = evaluator.before_training(model) if getattr(cfg, "evaluate_before_training", True) else {}
        if is_distributed():  # the same weights everywhere (DDP copies rank 0's); dropout masks of each rank's own
            set_seed(cfg.seed + world().rank)

    def log_step(step: int, loss: float, learning_rate: float) -> None:
        trackers.log_metrics({"train/loss": loss, "train/learning_rate": learning_rate}, step)

    parallel = ParallelModel(model, device)
    compiled: dict[int, torch.nn.Module] = {}

    def run_as_configured(module: torch.nn.Module) -> torch.nn.Module:
        """`module`, or its torch.compile wrapper (made once per module: a DDP wrapper made anew compiles anew)."""
        if not cfg.torch_compile:
            return module
        if id(module) not in compiled:
            compiled[id(module)] = torch.compile(module)
        return compiled[id(module)]

    logs_steps = bool(chosen_trackers(cfg.report_to))  # the same on every rank: the window's loss is a collective
    log_every = min(cfg.logging_steps, max(1, steps_per_epoch // 4))  # a short epoch still draws a loss curve
    for epoch in range(start_epoch, cfg.epochs):
        if stopper.should_stop:
            break
        steps_before = sum(row["steps"] for row in history)
        extra = before_epoch(epoch) if before_epoch else {}
        trainable = count_parameters(model)["trainable_parameters"]
        train_loader.batch_sampler.set_epoch(epoch)
        started = time.perf_counter()
        with record_function("fit.train_epoch"):
            train_stats = train_one_epoch(
                run_as_configured(parallel.current()), train_loader, optimizer, scheduler, device, amp_dtype=amp_dtype,
                scaler=scaler, grad_accum_steps=cfg.grad_accum_steps, max_grad_norm=cfg.max_grad_norm,
                max_steps=cfg.max_steps, loss_fn=loss_fn, progress=cfg.progress, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                on_step=log_step if logs_steps else None, log_every=log_every, first_step=steps_before)
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        with record_function("fit.validate"):
            val_metrics, val_outputs = evaluator.run(run_as_configured(model), "val")
        row = {"epoch": epoch + 1, **extra, "trainable_parameters": trainable, **train_stats,
               "epoch_seconds": round(epoch_seconds, 3),
               "samples_per_second": round(train_stats["examples"] / epoch_seconds, 2),
               **({"tokens_per_second": round(train_stats["tokens"] / epoch_seconds, 1)} if "tokens" in train_stats
                  else {}),
               "val_loss": val_metrics["loss"], **{f"val_{key}": val_metrics[key] for key in evaluator.history_metrics},
               "learning_rate": scheduler.get_last_lr()[0]}
        history.append(row)
        stage = f" ({extra['stage']})" if "stage" in extra else ""
        scores = ", ".join(f"val {SCORE_NAMES.get(key, key)} {val_metrics[key]:.4f}" for key in evaluator.history_metrics)
        print(f"epoch {epoch + 1}{stage}: train loss {train_stats['train_loss']:.4f}, "
              f"val loss {val_metrics['loss']:.4f}, {scores} ({epoch_seconds:.1f}s)")
        # history.jsonl before the checkpoint: after a kill anywhere here, it has at least the
        # checkpoint's epochs, and a resume rewrites it from the checkpoint.
        write_jsonl(Path(run_dir) / "history.jsonl", history)
        if stopper.update(val_metrics[evaluator.selection_metric], epoch + 1):
            save_checkpoint(checkpoints / "best", model, tokenizer)
            if not cfg.torch_compile:  # the final evaluation runs eagerly: compiled kernels round otherwise
                evaluator.keep_best("val", (val_metrics, val_outputs))
        rng_ranks = gather_objects(get_rng_state())  # every rank's, saved by rank 0
        ranks = {"world_size": len(rng_ranks), **({"rng_ranks": rng_ranks} if len(rng_ranks) > 1 else {})}
        save_checkpoint(checkpoints / "last", model, tokenizer, collect_training_state(
            epoch=epoch + 1, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper,
            history=history, rng_state=rng_ranks[0], extra={"train_seconds": train_seconds, "before": before,
                                                            **ranks}))
        plot_learning_curves(history, Path(run_dir) / "learning_curves.png", title=title, before=before)
        trackers.log_metrics(epoch_metrics(row), steps_before + row["steps"])
        if on_epoch_end:  # e.g. a sweep's pruner: decided once, by rank 0
            decide_on_main(lambda: on_epoch_end(epoch + 1, row))
    barrier()  # the best checkpoint is written before any rank reads it
    return FitResult(history, stopper.best_epoch, train_seconds, before, batch_layout(cfg))


def summarize_fit(result: FitResult, total_parameters: int, train_examples: int) -> dict:
    """The training figures every phase's metrics.json carries beside its scores."""
    return {**result.before, "parameters": total_parameters, "trainable_parameters": result.trainable_parameters,
            "trainable_share": round(result.trainable_parameters / max(total_parameters, 1), 6),
            "train_seconds": round(result.train_seconds, 3), "seconds_per_epoch": round(result.seconds_per_epoch, 3),
            "epochs_trained": len(result.history), "best_epoch": result.best_epoch, "train_examples": train_examples,
            **result.batching}
