"""Fine-tune a multilingual encoder on multilingual sentiment; report every language.

Usage:
    python -m phase2_multilingual_sentiment.train --preset xlmr --data_dir ../shared/data/tweet_sentiment_multilingual
    python -m phase2_multilingual_sentiment.train --preset mbert,zero_shot        # train on English, test on all
    python -m phase2_multilingual_sentiment.train --preset distilmbert,per_language --languages french
    python -m phase2_multilingual_sentiment.train --preset xlmr --languages english,french,german
    python -m phase2_multilingual_sentiment.train --preset tiny_bpe       # from scratch, BPE of the train split
    python -m phase2_multilingual_sentiment.train --dataset reviews.csv --group_column lang   # other data
    python -m phase2_multilingual_sentiment.sweep --space phase2_multilingual_sentiment/sweeps/xlmr_grid.yaml
    python -m phase2_multilingual_sentiment.train --help                             # every key, with defaults

Writes runs/phase2_multilingual_sentiment/<run_name>/ (config, env, history, metrics with
per-language scores, predictions with their language, plots, checkpoints/{best,last}).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from common.cli import run_cli
from phase2_multilingual_sentiment.config import PHASE, PRESET_DIR, Phase2Config

if TYPE_CHECKING:
    from common.fit import OnEpochEnd


def main(cfg: Phase2Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None,
         phase: str = PHASE) -> Path:
    """Train on the training languages, keep the best epoch by their validation macro-F1,
    evaluate it on every evaluated language; return the run directory (under `phase`: phase 3
    runs this same experiment, recorded as its own)."""
    # torch and transformers load here, not at import: `--help` and `reproduce --check` start without them.
    from common.evaluation import Evaluator, encode_examples
    from common.fit import fit
    from common.models import head_origin, load_trained_classifier
    from common.run_lifecycle import finish_run, load_run_classifier, open_run, report_tokens
    from common.scratch import run_tokenizer, tokenizer_source
    from common.seeding import set_seed
    from phase2_multilingual_sentiment.data import load_splits

    # train/val from cfg.train_languages, test from cfg.languages: zero-shot when they differ
    scratch = cfg.architecture != "pretrained"
    run = open_run(cfg, phase, load_splits, provenance, check_model=not scratch, tokenizer_from=tokenizer_source(cfg))
    # The model's own tokenizer (checked with the data before the run directory was made), or
    # one trained on the training languages' train split.
    tokenizer, tokenizer_record = run_tokenizer(cfg, run)
    set_seed(cfg.seed)  # before the new classification head (and a small encoder) is initialised
    model = load_run_classifier(cfg, run, tokenizer)
    tokens = report_tokens(tokenizer, run.splits, cfg)
    evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype)  # scores each language too
    train_set = encode_examples(tokenizer, run.splits.train, cfg.max_length)

    result = fit(cfg, run, model, tokenizer, train_set, evaluator, on_epoch_end=on_epoch_end)

    model = load_trained_classifier(run.best_checkpoint()).to(run.device)
    finish_run(cfg, run, model, evaluator, result, len(train_set), phase, head=head_origin(model),
               data={**run.splits.info, **tokens, **tokenizer_record})
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, Phase2Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
