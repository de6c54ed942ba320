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
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from common.checkpoint import find_checkpoint, save_checkpoint
from common.cli import run_cli
from common.engine import count_parameters
from common.evaluation import Evaluator, encode_examples, summarize_scores
from common.finetune import open_run
from common.fit import OnEpochEnd, fit, summarize_fit
from common.imbalance import inverse_frequency_weights, oversample
from common.lora import merge_lora
from common.models import head_origin, load_tokenizer
from common.records import write_json
from common.seeding import set_seed
from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config, check_config
from phase1_financial_phrasebank.data import load_splits
from phase1_financial_phrasebank.models import build_model
from phase1_financial_phrasebank.regimes import apply_regime

PHASE = "phase1_financial_phrasebank"


def main(cfg: Phase1Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    check_config(cfg)
    run = open_run(cfg, PHASE, load_splits, provenance)  # bad input fails before a run directory exists
    device, amp_dtype, splits, run_dir, last = run.device, run.amp_dtype, run.splits, run.run_dir, run.resume_from

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

    def set_stage(epoch: int) -> dict:
        return {"stage": apply_regime(model, cfg.regime, epoch, cfg.head_epochs, cfg.unfreeze_layers_per_epoch)}

    result = fit(cfg, model, tokenizer, train_set, evaluator, run_dir, device, amp_dtype, resume_from=last,
                 loss_fn=loss_fn, before_epoch=set_stage, on_epoch_end=on_epoch_end)

    best = find_checkpoint(run_dir / "checkpoints" / "best")
    model = build_model(cfg, tokenizer, splits.label_names, checkpoint=best).to(device)
    head = head_origin(model)
    metrics = evaluator.final(model, run_dir, title=cfg.run_name or PHASE)
    if cfg.merge:
        save_checkpoint(run_dir / "checkpoints" / "merged", merge_lora(model), tokenizer)
    metrics.update(summarize_fit(result, count_parameters(model)["parameters"], len(train_set)),
                   class_weights=dict(zip(splits.label_names, class_weights)), data=splits.info, head=head)
    write_json(run_dir / "metrics.json", metrics)
    print(f"{summarize_scores(metrics)}; run directory {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(main, Phase1Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
