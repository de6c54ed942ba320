"""Fine-tune and evaluate a phase 1 sentiment model on Financial PhraseBank.

Usage:
    python -m phase1_financial_phrasebank.train --preset distilbert
    python -m phase1_financial_phrasebank.train --preset mini --data_dir ../shared/data/financial_phrasebank
    python -m phase1_financial_phrasebank.train --preset distilbert --seed 1 --epochs 4
    python -m phase1_financial_phrasebank.train --preset distilbert --resume    # continue an interrupted run
    python -m phase1_financial_phrasebank.train --help                          # every key, with defaults

Writes runs/phase1_financial_phrasebank/<run_name>/ (config, env, history, metrics,
predictions, misclassified sentences, plots, checkpoints/{best,last}).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from common.batching import make_eval_loader, make_train_loader
from common.checkpoint import (collect_training_state, find_checkpoint, load_training_state,
                               restore_training_state, save_checkpoint)
from common.cli import run_cli
from common.device import make_grad_scaler, resolve_amp_dtype, resolve_device
from common.engine import (EarlyStopping, build_optimizer, build_scheduler, count_optimizer_steps,
                           count_parameters, evaluate, train_one_epoch)
from common.plots import plot_learning_curves
from common.records import start_run, write_json, write_jsonl
from common.seeding import get_rng_state, set_rng_state, set_seed
from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config
from phase1_financial_phrasebank.data import LABELS, load_phrasebank
from phase1_financial_phrasebank.evaluate import encode_pairs, evaluate_final
from phase1_financial_phrasebank.models import build_model, load_tokenizer

PHASE = "phase1_financial_phrasebank"


def main(cfg: Phase1Config, provenance: Optional[dict] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    device = resolve_device(cfg.device)
    amp_dtype = resolve_amp_dtype(device, cfg.precision)
    bank = load_phrasebank(cfg.data_dir, cfg.split_seed)  # bad data fails before a run dir exists
    run_dir = start_run(cfg, PHASE, device, provenance)
    checkpoints = run_dir / "checkpoints"
    last = find_checkpoint(checkpoints / "last") if cfg.resume else None

    set_seed(cfg.seed)  # before the model and its new head are built
    tokenizer = load_tokenizer(cfg.tokenizer_name_or_path or cfg.model_name_or_path)
    model = build_model(cfg.architecture, cfg.model_name_or_path, tokenizer, list(LABELS), cfg.max_length,
                        checkpoint=str(last) if last else None).to(device)

    level = cfg.train_agreement
    train_set = encode_pairs(tokenizer, bank.split(level, "train")[:cfg.max_train_samples], cfg.max_length)
    val_set = encode_pairs(tokenizer, bank.split(level, "val")[:cfg.max_eval_samples], cfg.max_length)
    train_loader = make_train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed, cfg.group_by_length,
                                     cfg.num_workers)
    val_loader = make_eval_loader(val_set, tokenizer, cfg.eval_batch_size, cfg.num_workers)

    steps_per_epoch = count_optimizer_steps(len(train_loader), cfg.grad_accum_steps, cfg.max_steps)
    optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay, device)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, steps_per_epoch * cfg.epochs, cfg.warmup_ratio)
    scaler = make_grad_scaler(device, amp_dtype)
    stopper = EarlyStopping(cfg.early_stopping_patience)
    history, start_epoch, train_seconds = [], 0, 0.0
    if last:
        state = load_training_state(last)
        restore_training_state(state, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper)
        history, start_epoch, train_seconds = state["history"], state["epoch"], state["train_seconds"]
        set_rng_state(state["rng"])
        print(f"Resuming {run_dir} after epoch {start_epoch}")

    for epoch in range(start_epoch, cfg.epochs):
        if stopper.should_stop:
            break
        train_loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        train_stats = train_one_epoch(model, train_loader, optimizer, scheduler, device, amp_dtype=amp_dtype,
                                      scaler=scaler, grad_accum_steps=cfg.grad_accum_steps,
                                      max_grad_norm=cfg.max_grad_norm, max_steps=cfg.max_steps,
                                      progress=cfg.progress, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        val_metrics, _ = evaluate(model, val_loader, device, LABELS, amp_dtype=amp_dtype, progress=cfg.progress,
                                  desc="validation")
        history.append({"epoch": epoch + 1, **train_stats, "epoch_seconds": round(epoch_seconds, 3),
                        "samples_per_second": round(train_stats["examples"] / epoch_seconds, 2),
                        "val_loss": val_metrics["loss"], "val_accuracy": val_metrics["accuracy"],
                        "val_f1_macro": val_metrics["f1_macro"], "learning_rate": scheduler.get_last_lr()[0]})
        print(f"epoch {epoch + 1}: train loss {train_stats['train_loss']:.4f}, val loss {val_metrics['loss']:.4f}, "
              f"val acc {val_metrics['accuracy']:.4f}, val macro-F1 {val_metrics['f1_macro']:.4f} "
              f"({epoch_seconds:.1f}s)")
        if stopper.update(val_metrics["f1_macro"], epoch + 1):
            save_checkpoint(checkpoints / "best", model, tokenizer)
        save_checkpoint(checkpoints / "last", model, tokenizer, collect_training_state(
            epoch=epoch + 1, optimizer=optimizer, scheduler=scheduler, scaler=scaler, stopper=stopper,
            history=history, rng_state=get_rng_state(), extra={"train_seconds": train_seconds}))
        write_jsonl(run_dir / "history.jsonl", history)
        plot_learning_curves(history, run_dir / "learning_curves.png", title=cfg.run_name or PHASE)

    best = find_checkpoint(checkpoints / "best")
    model = build_model(cfg.architecture, cfg.model_name_or_path, tokenizer, list(LABELS), cfg.max_length,
                        checkpoint=str(best)).to(device)
    metrics = evaluate_final(model, tokenizer, bank, cfg, run_dir, device, amp_dtype)
    metrics.update(count_parameters(model), train_seconds=round(train_seconds, 3),
                   seconds_per_epoch=round(train_seconds / max(len(history), 1), 3),
                   epochs_trained=len(history), best_epoch=stopper.best_epoch,
                   train_examples=len(train_set), data_cleaning=bank.cleaning)
    write_json(run_dir / "metrics.json", metrics)
    print(f"test ({level}): accuracy {metrics['test_accuracy']:.4f}, macro-F1 {metrics['test_f1_macro']:.4f}; "
          f"run directory {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(main, Phase1Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
