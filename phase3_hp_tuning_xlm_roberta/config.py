"""Phase 3 config: the phase 2 task and keys (so that a study's best configuration is a
preset phase 2 can run), with phase 3's own presets and study files.

The optimizer keys (`optimizer`, `learning_rate`, `weight_decay`, `momentum`,
`warmup_ratio`, `lr_scheduler`, `polynomial_power`) are shared by every phase
(common/config.py, common/optim.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phase2_multilingual_sentiment.config import Phase2Config

PHASE = "phase3_hp_tuning_xlm_roberta"  # the package, and the runs subfolder of its run directories
PRESET_DIR = Path(__file__).parent / "presets"
STUDY_DIR = Path(__file__).parent / "studies"


@dataclass
class Phase3Config(Phase2Config):
    """XLM-R base on all eight languages of the XLM-T tweets (phase 2's `xlmr` run)."""
