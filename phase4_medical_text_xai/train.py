"""Fine-tune an encoder (RoBERTa by default) to classify medical abstracts by condition.

Usage:
    python -m phase4_medical_text_xai.train --preset roberta --data_dir ../shared/data/medical_abstracts
    python -m phase4_medical_text_xai.train --preset roberta --max_length 512       # less truncation
    python -m phase4_medical_text_xai.train --dataset notes.csv --text_column note --label_column dx
    python -m phase4_medical_text_xai.explain --run runs/phase4_medical_text_xai/roberta_seed42 --n 20
    python -m phase4_medical_text_xai.train --help                                    # every key, with defaults

Writes runs/phase4_medical_text_xai/<run_name>/ (config, env, history, metrics with the
truncation rate per split, predictions, misclassified abstracts, plots, checkpoints);
`explain` then adds explanations/ to that directory without retraining.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.cli import run_cli
from common.finetune import train_and_evaluate
from common.fit import OnEpochEnd
from phase4_medical_text_xai.config import PRESET_DIR, Phase4Config
from phase4_medical_text_xai.data import load_splits

PHASE = "phase4_medical_text_xai"


def main(cfg: Phase4Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    return train_and_evaluate(cfg, PHASE, load_splits, provenance, on_epoch_end)


if __name__ == "__main__":
    run_cli(main, Phase4Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
