"""Fine-tune a multilingual encoder on multilingual sentiment; report every language.

Usage:
    python -m phase2_multilingual_sentiment.train --preset xlmr --data_dir ../shared/data/tweet_sentiment_multilingual
    python -m phase2_multilingual_sentiment.train --preset mbert,zero_shot        # train on English, test on all
    python -m phase2_multilingual_sentiment.train --preset distilmbert,per_language --languages french
    python -m phase2_multilingual_sentiment.train --preset xlmr --languages english,french,german
    python -m phase2_multilingual_sentiment.train --dataset reviews.csv --group_column lang   # other data
    python -m phase2_multilingual_sentiment.sweep --space phase2_multilingual_sentiment/sweeps/xlmr_grid.yaml
    python -m phase2_multilingual_sentiment.train --help                             # every key, with defaults

Writes runs/phase2_multilingual_sentiment/<run_name>/ (config, env, history, metrics with
per-language scores, predictions with their language, plots, checkpoints/{best,last}).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.checkpoint import find_checkpoint
from common.cli import run_cli
from common.device import resolve_amp_dtype, resolve_device
from common.engine import count_parameters
from common.evaluation import Evaluator, encode_examples, summarize_scores
from common.fit import OnEpochEnd, fit, summarize_fit
from common.models import load_classifier, load_tokenizer, load_trained_classifier
from common.records import start_run, write_json
from common.seeding import set_seed
from phase2_multilingual_sentiment.config import PRESET_DIR, Phase2Config
from phase2_multilingual_sentiment.data import load_splits

PHASE = "phase2_multilingual_sentiment"


def main(cfg: Phase2Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1 (over the training languages),
    evaluate it on every language; return the run directory."""
    return train_and_evaluate(cfg, PHASE, provenance, on_epoch_end)


def train_and_evaluate(cfg: Phase2Config, phase: str, provenance: Optional[dict] = None,
                       on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """`main` with the run directory under `phase` (phase 3 studies this same task)."""
    device = resolve_device(cfg.device)
    amp_dtype = resolve_amp_dtype(device, cfg.precision)
    splits = load_splits(cfg)  # bad data or languages fail before a run directory exists
    run_dir = start_run(cfg, phase, device, provenance)
    last = find_checkpoint(run_dir / "checkpoints" / "last") if cfg.resume else None
    if cfg.resume and last is None:
        print(f"--resume: no checkpoint in {run_dir / 'checkpoints'}, starting from scratch")

    set_seed(cfg.seed)  # before the new classification head is initialised
    tokenizer = load_tokenizer(cfg.model_name_or_path)
    model = (load_trained_classifier(last) if last else load_classifier(cfg.model_name_or_path, splits.label_names))
    model = model.to(device)
    evaluator = Evaluator(splits, tokenizer, cfg, device, amp_dtype)
    train_set = encode_examples(tokenizer, splits.train[:cfg.max_train_samples], cfg.max_length)

    result = fit(cfg, model, tokenizer, train_set, evaluator, run_dir, device, amp_dtype, resume_from=last,
                 on_epoch_end=on_epoch_end)

    model = load_trained_classifier(find_checkpoint(run_dir / "checkpoints" / "best")).to(device)
    metrics = evaluator.final(model, run_dir, title=cfg.run_name or phase)
    metrics.update(summarize_fit(result, count_parameters(model)["parameters"], len(train_set)), data=splits.info)
    write_json(run_dir / "metrics.json", metrics)
    for split, scores in metrics.get("groups", {}).items():
        print(f"{split} macro-F1 per language: " + ", ".join(f"{lang} {s['f1_macro']:.3f}" for lang, s in scores.items()))
    print(f"{summarize_scores(metrics)}; run directory {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(main, Phase2Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
