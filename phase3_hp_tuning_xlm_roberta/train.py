"""Train one phase 3 configuration: phase 2's experiment (XLM-R on the multilingual tweets,
`phase2_multilingual_sentiment.train`), recorded under runs/phase3_hp_tuning_xlm_roberta/.

Usage:
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor --learning_rate 1e-4
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor_relative --learning_rate none \\
        --lr_scheduler constant --warmup_ratio 0
    python -m phase3_hp_tuning_xlm_roberta.train --preset runs/phase3_hp_tuning_xlm_roberta/sweep_lr/best_preset.json
    python -m phase3_hp_tuning_xlm_roberta.study --space phase3_hp_tuning_xlm_roberta/studies/learning_rate.yaml
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from common.cli import run_cli
from phase2_multilingual_sentiment.train import main as train_phase2
from phase3_hp_tuning_xlm_roberta.config import PHASE, PRESET_DIR, Phase3Config

if TYPE_CHECKING:
    from common.fit import OnEpochEnd


def main(cfg: Phase3Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """One configuration of a study: phase 2's experiment, step for step (every phase 2 key,
    the small models from scratch and their tokenizers included, acts as it does there),
    trained with the optimizer, learning rate, warmup, weight decay and schedule of `cfg`
    (common/optim.py) and recorded as a phase 3 run; return the run directory. A study's
    pruner sees each epoch's validation score through `on_epoch_end`."""
    return train_phase2(cfg, provenance, on_epoch_end, phase=PHASE)


if __name__ == "__main__":
    run_cli(main, Phase3Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
