"""Phase 2 config: the command-line contract keys plus the multilingual setup.

Defaults are the `xlmr` preset's run: XLM-RoBERTa base trained on all eight languages of
the XLM-T tweet sentiment data and evaluated on each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.config import option
from common.model_options import ScratchOptions
from common.text_data import TextDataConfig

PHASE = "phase2_multilingual_sentiment"  # the package, and the runs subfolder of its run directories
PRESET_DIR = Path(__file__).parent / "presets"
SWEEP_DIR = Path(__file__).parent / "sweeps"
TWEET_DATASET = "tweet_sentiment_multilingual"
TWEET_LANGUAGES = ("arabic", "english", "french", "german", "hindi", "italian", "portuguese", "spanish")


@dataclass
class Phase2Config(ScratchOptions, TextDataConfig):
    model_name_or_path: str = option("FacebookAI/xlm-roberta-base", "Hub id or local directory of the model.")
    learning_rate: Optional[float] = option(2e-5, "Peak learning rate ('none' only with adafactor_relative).")
    epochs: int = option(3, "Number of training epochs.")
    # --- or a small encoder from scratch: architecture, tokenizer_name_or_path, train_tokenizer (ScratchOptions) ---

    # --- data: the XLM-T tweets, or any data set with a language column (TextDataConfig's keys) ---
    dataset: str = option(TWEET_DATASET, f"'{TWEET_DATASET}' (XLM-T, from data_dir in its original layout "
                          "<language>/{train,val,test}_{text,labels}.txt, else from the hub), a local "
                          ".csv/.tsv/.jsonl file, or a hub data set id; for the last two, group_column names "
                          "the language column.")
    group_column: Optional[str] = option(None, "Language column of a CSV/JSONL/hub data set.")

    # --- setup: which languages train and which are evaluated ---
    languages: list[str] = option([], "Languages evaluated on their test split (comma-separated); empty: every "
                                  f"language of the data ({', '.join(TWEET_LANGUAGES)} for the XLM-T tweets).")
    train_languages: list[str] = option([], "Languages whose train and validation splits are used; empty: the "
                                        "same as `languages`. 'english' alone with all languages evaluated is "
                                        "zero-shot cross-lingual transfer: no target-language data is seen, "
                                        "not even for model selection.")
