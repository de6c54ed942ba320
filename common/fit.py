"""The epoch loop every phase shares: train, validate, keep the best epoch by its validation
score (macro-F1 for a classifier: the evaluator's `selection_metric`), checkpoint, resume.

Each phase's `train.py` reads as its experiment: it opens the run (common/run_lifecycle.py),
builds the model and the loss, calls `fit`, reloads the best checkpoint and finishes the
run with the final evaluation. What a phase does differently per epoch (phase 1's
freezing regimes) comes in through `before_epoch`; what an outer loop needs to see per
epoch (a tuning sweep's pruner) through `on_epoch_end`, which may raise to end the run
early (its records stay); a phase whose batches are not text alone (phase 5) passes its
own `train_loader`. Before the first epoch the run directory's device must hold the
checkpoints (common/checkpoint.py `check_free_space`); a run that stops inside `fit` (an
error, Ctrl-C) releases its directory's lock (common/run_lock.py) on the way out.

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
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.profiler import record_function
from torch.utils.data import DataLoader

from common.batching import EncodedDataset, make_train_loader
from common.checkpoint import (check_free_space, collect_training_state, load_training_state, restore_training_state,
                               save_checkpoint)
from common.device import make_grad_scaler
from common.distributed import barrier, decide_on_main, gather_objects, is_distributed, world
from common.training_steps import EarlyStopping, LossFn, StepSettings, count_parameters, train_one_epoch
from common.errors import ConfigError
from common.evaluation import Evaluator
from common.models import freeze_input_embeddings
from common.optim import build_optimizer, build_scheduler, count_optimizer_steps
from common.plots import SCORE_NAMES, plot_learning_curves
from common.records import write_jsonl
from common.run_lock import release
from common.seeding import get_rng_state, set_rng_state, set_seed
from common.tracking import chosen_trackers, epoch_metrics

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


@dataclass
class TrainingState:
    """What the epoch loop carries from epoch to epoch, and `checkpoints/last` saves."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    stopper: EarlyStopping
    history: list[dict] = field(default_factory=list)
    start_epoch: int = 0
    train_seconds: float = 0.0
    before: dict = field(default_factory=dict)  # scores of the untrained model


def start_training(cfg, run, model: torch.nn.Module, evaluator: Evaluator, steps_per_epoch: int,
                   learning_rates: Optional[dict[str, float]]) -> TrainingState:
    """The optimizer, schedule, gradient scaler and early stopping: fresh (after scoring the
    untrained model, unless `evaluate_before_training` is false), or resumed from `run.resume_from`."""
    # Built over every parameter a stage may train; frozen ones get no gradient and so no update.
    optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay, cfg.optimizer, cfg.momentum,
                                learning_rates, fused=cfg.fused_adamw)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, steps_per_epoch * cfg.epochs, cfg.warmup_ratio,
                                cfg.polynomial_power)
    state = TrainingState(optimizer, scheduler, make_grad_scaler(run.device, run.amp_dtype),
                          EarlyStopping(cfg.early_stopping_patience))
    if run.resume_from:
        resume_training(state, run)
    else:
        state.before = evaluator.before_training(model) if getattr(cfg, "evaluate_before_training", True) else {}
        if is_distributed():  # the same weights everywhere (DDP copies rank 0's); dropout masks of each rank's own
            set_seed(cfg.seed + world().rank)
    return state


def resume_training(state: TrainingState, run) -> None:
    """Restore `state` (optimizer, schedule, scaler, early stopping, history, RNG) from the
    run's `checkpoints/last`, whose model weights are already in the model."""
    saved = load_training_state(run.resume_from)
    restore_training_state(saved, optimizer=state.optimizer, scheduler=state.scheduler, scaler=state.scaler,
                           stopper=state.stopper)
    state.history, state.start_epoch, state.train_seconds = saved["history"], saved["epoch"], saved["train_seconds"]
    state.before = saved["before"]
    restore_rng(saved)
    # The checkpoint's history is the truth: a kill between writing history.jsonl and
    # the checkpoint may have left one row more there.
    write_jsonl(Path(run.run_dir) / "history.jsonl", state.history)
    print(f"Resuming {run.run_dir} after epoch {state.start_epoch}")


def compiler(enabled: bool) -> Callable[[torch.nn.Module], torch.nn.Module]:
    """A module as the run executes it: itself, or (torch_compile) its torch.compile wrapper,
    made once per module (a DDP wrapper made anew compiles anew)."""
    compiled: dict[int, torch.nn.Module] = {}

    def run_as_configured(module: torch.nn.Module) -> torch.nn.Module:
        if not enabled:
            return module
        if id(module) not in compiled:
            compiled[id(module)] = torch.compile(module)
        return compiled[id(module)]

    return run_as_configured


def epoch_row(epoch: int, extra: dict, trainable: int, train_stats: dict, epoch_seconds: float, val_metrics: dict,
              evaluator: Evaluator, learning_rate: float) -> dict:
    """An epoch's line of history.jsonl: its stage, what trained, the training figures and the validation scores."""
    return {"epoch": epoch + 1, **extra, "trainable_parameters": trainable, **train_stats,
            "epoch_seconds": round(epoch_seconds, 3),
            "samples_per_second": round(train_stats["examples"] / epoch_seconds, 2),
            **({"tokens_per_second": round(train_stats["tokens"] / epoch_seconds, 1)} if "tokens" in train_stats
               else {}),
            "val_loss": val_metrics["loss"], **{f"val_{key}": val_metrics[key] for key in evaluator.history_metrics},
            "learning_rate": learning_rate}


def record_epoch(cfg, run, model: torch.nn.Module, tokenizer, evaluator: Evaluator, state: TrainingState, row: dict,
                 validation: tuple[dict, Any]) -> None:
    """After an epoch: its history row (printed and written), the best checkpoint if the
    epoch is a new best, `checkpoints/last` with everything a resume needs, the learning
    curves and the trackers' epoch scores."""
    run_dir, (val_metrics, _) = Path(run.run_dir), validation
    state.history.append(row)
    stage = f" ({row['stage']})" if "stage" in row else ""
    scores = ", ".join(f"val {SCORE_NAMES.get(key, key)} {val_metrics[key]:.4f}" for key in evaluator.history_metrics)
    print(f"epoch {row['epoch']}{stage}: train loss {row['train_loss']:.4f}, "
          f"val loss {val_metrics['loss']:.4f}, {scores} ({row['epoch_seconds']:.1f}s)")
    # history.jsonl before the checkpoint: after a kill anywhere here, it has at least the
    # checkpoint's epochs, and a resume rewrites it from the checkpoint.
    write_jsonl(run_dir / "history.jsonl", state.history)
    if state.stopper.update(val_metrics[evaluator.selection_metric], row["epoch"]):
        save_checkpoint(run_dir / "checkpoints" / "best", model, tokenizer)
        if not cfg.torch_compile:  # the final evaluation runs eagerly: compiled kernels round otherwise
            evaluator.keep_best("val", validation)
    rng_ranks = gather_objects(get_rng_state())  # every rank's, saved by rank 0
    ranks = {"world_size": len(rng_ranks), **({"rng_ranks": rng_ranks} if len(rng_ranks) > 1 else {})}
    save_checkpoint(run_dir / "checkpoints" / "last", model, tokenizer, collect_training_state(
        epoch=row["epoch"], optimizer=state.optimizer, scheduler=state.scheduler, scaler=state.scaler,
        stopper=state.stopper, history=state.history, rng_state=rng_ranks[0],
        extra={"train_seconds": state.train_seconds, "before": state.before, **ranks}))
    plot_learning_curves(state.history, run_dir / "learning_curves.png", title=cfg.run_name or run_dir.name,
                         before=state.before)
    steps_before = sum(r["steps"] for r in state.history[:-1])
    run.trackers.log_metrics(epoch_metrics(row), steps_before + row["steps"])


def fit(cfg, run, model: torch.nn.Module, tokenizer, train_set: Optional[EncodedDataset], evaluator: Evaluator, *,
        loss_fn: LossFn = F.cross_entropy, before_epoch: Optional[BeforeEpoch] = None,
        on_epoch_end: Optional[OnEpochEnd] = None, train_loader: Optional[DataLoader] = None,
        learning_rates: Optional[dict[str, float]] = None) -> FitResult:
    """Train `model` for `cfg.epochs` epochs (or until early stopping), writing
    `checkpoints/{best,last}`, `history.jsonl` and the learning curves after every epoch.

    `run` is the opened run (common/run_lifecycle.py `RunStart`): its directory, device,
    autocast dtype, trackers, and `resume_from`, a `checkpoints/last` directory whose model
    weights are already in `model` (the optimizer, schedule, early-stopping and RNG states
    are restored from it). A phase whose batches are not tokenized text alone passes its own
    `train_loader` (its sampler must have `set_epoch`) instead of `train_set`;
    `learning_rates` gives parts of the model their own peak learning rate (see
    `common.optim.parameter_groups`). The run's trackers get the training loss and learning
    rate every `cfg.logging_steps` optimizer steps (at least four times an epoch) and each
    epoch's history row. Under DDP `train_loader`'s batch sampler must deal out global batches
    to the ranks (`common.batching.ShardedBatchSampler`), and each rank passes its own `model`.
    """
    train_loader = train_loader or make_train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed,
                                                     cfg.group_by_length, cfg.num_workers)
    if not hasattr(train_loader.batch_sampler, "set_epoch"):
        raise TypeError("fit's train_loader needs a batch sampler with set_epoch (common.batching."
                        f"ShardedBatchSampler); it has {type(train_loader.batch_sampler).__name__}")
    steps_per_epoch = count_optimizer_steps(len(train_loader), cfg.grad_accum_steps, cfg.max_steps)
    if getattr(cfg, "freeze_embeddings", False):  # here, so that a resumed model is frozen as the first one was
        freeze_input_embeddings(model)
    check_free_space(Path(run.run_dir), model)
    try:
        return train_epochs(cfg, run, model, tokenizer, evaluator, train_loader, steps_per_epoch, loss_fn,
                            before_epoch, on_epoch_end, learning_rates)
    except BaseException:
        release(run.run_dir)  # a run that stops here (an error, Ctrl-C) leaves its directory to the next process
        raise


def train_epochs(cfg, run, model: torch.nn.Module, tokenizer, evaluator: Evaluator, train_loader: DataLoader,
                 steps_per_epoch: int, loss_fn: LossFn, before_epoch: Optional[BeforeEpoch],
                 on_epoch_end: Optional[OnEpochEnd], learning_rates: Optional[dict[str, float]]) -> FitResult:
    """`fit`'s epochs: the training state started or resumed, then train, validate and record each epoch."""
    state = start_training(cfg, run, model, evaluator, steps_per_epoch, learning_rates)
    settings = StepSettings(run.amp_dtype, state.scaler, cfg.grad_accum_steps, cfg.max_grad_norm, cfg.max_steps,
                            loss_fn, cfg.progress)
    parallel, run_as_configured = ParallelModel(model, run.device), compiler(cfg.torch_compile)

    def log_step(step: int, loss: float, learning_rate: float) -> None:
        run.trackers.log_metrics({"train/loss": loss, "train/learning_rate": learning_rate}, step)

    logs_steps = bool(chosen_trackers(cfg.report_to))  # the same on every rank: the window's loss is a collective
    log_every = min(cfg.logging_steps, max(1, steps_per_epoch // 4))  # a short epoch still draws a loss curve
    for epoch in range(state.start_epoch, cfg.epochs):
        if state.stopper.should_stop:
            break
        extra = before_epoch(epoch) if before_epoch else {}
        trainable = count_parameters(model)["trainable_parameters"]
        train_loader.batch_sampler.set_epoch(epoch)
        started = time.perf_counter()
        with record_function("fit.train_epoch"):
            train_stats = train_one_epoch(
                run_as_configured(parallel.current()), train_loader, state.optimizer, state.scheduler, run.device,
                settings, desc=f"epoch {epoch + 1}/{cfg.epochs}", on_step=log_step if logs_steps else None,
                log_every=log_every, first_step=sum(row["steps"] for row in state.history))
        epoch_seconds = time.perf_counter() - started
        state.train_seconds += epoch_seconds
        with record_function("fit.validate"):
            validation = evaluator.run(run_as_configured(model), "val")
        row = epoch_row(epoch, extra, trainable, train_stats, epoch_seconds, validation[0], evaluator,
                        state.scheduler.get_last_lr()[0])
        record_epoch(cfg, run, model, tokenizer, evaluator, state, row, validation)
        if on_epoch_end:  # e.g. a sweep's pruner: decided once, by rank 0
            decide_on_main(lambda: on_epoch_end(epoch + 1, row))
    barrier()  # the best checkpoint is written before any rank reads it
    return FitResult(state.history, state.stopper.best_epoch, state.train_seconds, state.before, batch_layout(cfg))


def summarize_fit(result: FitResult, total_parameters: int, train_examples: int) -> dict:
    """The training figures every phase's metrics.json carries beside its scores."""
    return {**result.before, "parameters": total_parameters, "trainable_parameters": result.trainable_parameters,
            "trainable_share": round(result.trainable_parameters / max(total_parameters, 1), 6),
            "train_seconds": round(result.train_seconds, 3), "seconds_per_epoch": round(result.seconds_per_epoch, 3),
            "epochs_trained": len(result.history), "best_epoch": result.best_epoch, "train_examples": train_examples,
            **result.batching}
