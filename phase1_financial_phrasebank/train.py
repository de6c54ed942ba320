"""Fine-tune and evaluate a phase 1 sentiment model (Financial PhraseBank or any
text-classification data set).

Usage:
    python -m phase1_financial_phrasebank.train --preset distilbert
    python -m phase1_financial_phrasebank.train --preset mini --data_dir ../shared/data/financial_phrasebank
    python -m phase1_financial_phrasebank.train --preset head_only          # or full, head_then_full, gradual_unfreeze
    python -m phase1_financial_phrasebank.train --preset lora --merge       # LoRA, then a merged plain model
    python -m phase1_financial_phrasebank.train --dataset reviews.csv --text_column review --label_column stars
    python -m phase1_financial_phrasebank.train --preset distilbert --resume  # continue an interrupted run
    python -m phase1_financial_phrasebank.train --help                        # every key, with defaults

Writes runs/phase1_financial_phrasebank/<run_name>/ (config, env, history, metrics,
predictions, misclassified examples, plots, checkpoints/{best,last}[,merged]).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from common.batching import make_train_loader
from common.checkpoint import (collect_training_state, find_checkpoint, load_training_state,
                               restore_training_state, save_checkpoint)
from common.cli import run_cli
from common.device import make_grad_scaler, resolve_amp_dtype, resolve_device
from common.engine import (EarlyStopping, build_optimizer, build_scheduler, count_optimizer_steps,
                           count_parameters, train_one_epoch)
from common.imbalance import inverse_frequency_weights, oversample
from common.lora import merge_lora
from common.plots import plot_learning_curves
from common.records import start_run, write_json, write_jsonl
from common.seeding import get_rng_state, set_rng_state, set_seed
from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config, check_config
from phase1_financial_phrasebank.data import load_splits
from phase1_financial_phrasebank.evaluate import Evaluator, encode_examples
from phase1_financial_phrasebank.models import build_model, load_tokenizer
from phase1_financial_phrasebank.regimes import apply_regime

PHASE = "phase1_financial_phrasebank"


def main(cfg: Phase1Config, provenance: Optional[dict] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    check_config(cfg)
    device = resolve_device(cfg.device)
    amp_dtype = resolve_amp_dtype(device, cfg.precision)
    splits = load_splits(cfg)  # bad data fails before a run directory exists
    run_dir = start_run(cfg, PHASE, device, provenance)
    checkpoints = run_dir / "checkpoints"
    last = find_checkpoint(checkpoints / "last") if cfg.resume else None
    if cfg.resume and last is None:
        print(f"--resume: no checkpoint in {checkpoints}, starting from scratch")

    set_seed(cfg.seed)  # before the model and its new head are built
    tokenizer = load_tokenizer(cfg.tokenizer_name_or_path or cfg.model_name_or_path)
    model = build_model(cfg, tokenizer, splits.label_names, checkpoint=last).to(device)
    evaluator = Evaluator(splits, tokenizer, cfg, device, amp_dtype)

    train_examples = splits.train[:cfg.max_train_samples]
    train_labels = [e.label for e in train_examples]
    class_weights = inverse_frequency_weights(train_labels, len(splits.label_names))
    if cfg.oversample:
        train_examples = oversample(train_examples, train_labels, cfg.seed)
    loss_fn = F.cross_entropy
    if cfg.class_weighting == "inverse_frequency":
        loss_fn = functools.partial(F.cross_entropy, weight=torch.tensor(class_weights, device=device))
    train_set = encode_examples(tokenizer, train_examples, cfg.max_length)
    train_loader = make_train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed, cfg.group_by_length,
                                     cfg.num_workers)

    steps_per_epoch = count_optimizer_steps(len(train_loader), cfg.grad_accum_steps, cfg.max_steps)
    # Built over every parameter a stage may train; frozen ones get no gradient and so no update.
    optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, steps_per_epoch * cfg.epochs, cfg.warmup_ratio)
    scaler = make_grad_scaler(device, amp_dtype)
    stopper = EarlyStopping(cfg.early_stopping_patience)
    history, start_epoch, train_seconds = [], 0, 0.0
    if last:
        state = load_training_state(last)
        restore_training_state(state, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper)
        history, start_epoch, train_seconds = state["history"], state["epoch"], state["train_seconds"]
        before = state["before"]
        set_rng_state(state["rng"])
        print(f"Resuming {run_dir} after epoch {start_epoch}")
    else:
        before = evaluator.before_training(model)

    for epoch in range(start_epoch, cfg.epochs):
        if stopper.should_stop:
            break
        stage = apply_regime(model, cfg.regime, epoch, cfg.head_epochs, cfg.unfreeze_layers_per_epoch)
        trainable = count_parameters(model)["trainable_parameters"]
        train_loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        train_stats = train_one_epoch(model, train_loader, optimizer, scheduler, device, amp_dtype=amp_dtype,
                                      scaler=scaler, grad_accum_steps=cfg.grad_accum_steps,
                                      max_grad_norm=cfg.max_grad_norm, max_steps=cfg.max_steps, loss_fn=loss_fn,
                                      progress=cfg.progress, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        val_metrics, _ = evaluator.run(model, "val")
        history.append({"epoch": epoch + 1, "stage": stage, "trainable_parameters": trainable, **train_stats,
                        "epoch_seconds": round(epoch_seconds, 3),
                        "samples_per_second": round(train_stats["examples"] / epoch_seconds, 2),
                        "val_loss": val_metrics["loss"], "val_accuracy": val_metrics["accuracy"],
                        "val_f1_macro": val_metrics["f1_macro"], "learning_rate": scheduler.get_last_lr()[0]})
        print(f"epoch {epoch + 1} ({stage}): train loss {train_stats['train_loss']:.4f}, "
              f"val loss {val_metrics['loss']:.4f}, val acc {val_metrics['accuracy']:.4f}, "
              f"val macro-F1 {val_metrics['f1_macro']:.4f} ({epoch_seconds:.1f}s)")
        if stopper.update(val_metrics["f1_macro"], epoch + 1):
            save_checkpoint(checkpoints / "best", model, tokenizer)
        save_checkpoint(checkpoints / "last", model, tokenizer, collect_training_state(
            epoch=epoch + 1, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper,
            history=history, rng_state=get_rng_state(), extra={"train_seconds": train_seconds, "before": before}))
        write_jsonl(run_dir / "history.jsonl", history)
        plot_learning_curves(history, run_dir / "learning_curves.png", title=cfg.run_name or PHASE)

    model = build_model(cfg, tokenizer, splits.label_names, checkpoint=find_checkpoint(checkpoints / "best"))
    model = model.to(device)
    metrics = evaluator.final(model, run_dir, title=cfg.run_name or PHASE)
    if cfg.merge:
        save_checkpoint(checkpoints / "merged", merge_lora(model), tokenizer)
    trainable = history[-1]["trainable_parameters"] if history else 0
    total = count_parameters(model)["parameters"]
    metrics.update(before, parameters=total, trainable_parameters=trainable,
                   trainable_share=round(trainable / total, 6), train_seconds=round(train_seconds, 3),
                   seconds_per_epoch=round(train_seconds / max(len(history), 1), 3), epochs_trained=len(history),
                   best_epoch=stopper.best_epoch, train_examples=len(train_set),
                   class_weights=dict(zip(splits.label_names, class_weights)), data=splits.info)
    write_json(run_dir / "metrics.json", metrics)
    print(f"test: accuracy {metrics['test_accuracy']:.4f}, macro-F1 {metrics['test_f1_macro']:.4f} "
          f"(before training: {before['before_test_f1_macro']:.4f}); run directory {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(main, Phase1Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
