"""Train one phase 3 configuration: a phase 2 run (XLM-R on the multilingual tweets)
recorded under runs/phase3_hp_tuning_xlm_roberta/.

Usage:
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor --learning_rate 1e-4
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor_relative --learning_rate none \
        --lr_scheduler constant --warmup_ratio 0
    python -m phase3_hp_tuning_xlm_roberta.train --preset runs/phase3_hp_tuning_xlm_roberta/sweep_lr/best_preset.json
    python -m phase3_hp_tuning_xlm_roberta.study --space phase3_hp_tuning_xlm_roberta/studies/learning_rate.yaml
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.cli import run_cli
from common.finetune import train_and_evaluate
from common.fit import OnEpochEnd
from phase2_multilingual_sentiment.data import load_splits
from phase3_hp_tuning_xlm_roberta.config import PRESET_DIR, Phase3Config

PHASE = "phase3_hp_tuning_xlm_roberta"


def main(cfg: Phase3Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    return train_and_evaluate(cfg, PHASE, load_splits, provenance, on_epoch_end)


if __name__ == "__main__":
    run_cli(main, Phase3Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
