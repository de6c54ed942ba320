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

from common.cli import run_cli
from common.finetune import train_and_evaluate
from common.fit import OnEpochEnd
from phase2_multilingual_sentiment.config import PRESET_DIR, Phase2Config
from phase2_multilingual_sentiment.data import load_splits

PHASE = "phase2_multilingual_sentiment"


def main(cfg: Phase2Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1 (over the training languages),
    evaluate it on every language; return the run directory."""
    return train_and_evaluate(cfg, PHASE, load_splits, provenance, on_epoch_end)


if __name__ == "__main__":
    run_cli(main, Phase2Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
