"""Phase 1 config: the command-line contract keys plus Financial PhraseBank choices.

Defaults are the `distilbert` preset's run: DistilBERT fine-tuned on the 50Agree level.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.config import TrainConfig, option

PRESET_DIR = Path(__file__).parent / "presets"
LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")
ARCHITECTURES = ("pretrained", "mini_transformer", "tiny_transformer")


@dataclass
class Phase1Config(TrainConfig):
    architecture: str = option("pretrained", "'pretrained' fine-tunes model_name_or_path; 'mini_transformer' "
                               "and 'tiny_transformer' train a small encoder from scratch with that "
                               "model's tokenizer.", ARCHITECTURES)
    tokenizer_name_or_path: Optional[str] = option(None, "Tokenizer to use; default: model_name_or_path.")
    train_agreement: str = option("50Agree", "Agreement level whose train/val splits are used for training.",
                                  LEVELS)
    eval_agreements: list[str] = option(list(LEVELS), "Agreement levels whose test split the final model "
                                        "is evaluated on (comma-separated).", LEVELS)
    split_seed: int = option(42, "Seed of the one stratified 80/10/10 split shared by all agreement levels; "
                             "kept apart from `seed` so that training seeds never move the test set.")
