"""Phase 4 config: the command-line contract keys plus the medical abstracts data set.

Defaults are the `roberta` preset's run: RoBERTa base fine-tuned on the five condition
classes of the Medical Abstracts corpus, abstracts truncated to 256 tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import option
from common.text_data import TextDataConfig

PHASE = "phase4_medical_text_xai"  # the package, and the runs subfolder of its run directories
PRESET_DIR = Path(__file__).parent / "presets"
MEDICAL_DATASET = "medical_abstracts"
STRATEGIES = ("head", "head_tail", "chunks")
POOLINGS = ("mean", "max")


@dataclass
class LongInputOptions:
    """The config keys of the long-abstract strategies (phase4_medical_text_xai/long_inputs.py)."""

    long_inputs: str = option("head", "What the model reads of a text longer than max_length: 'head' (its first "
                              "tokens), 'head_tail' (its first head_tokens and its last tokens, Sun et al. 2019) "
                              "or 'chunks' (overlapping windows whose logits are pooled).", STRATEGIES)
    head_tokens: int = option(128, "head_tail: tokens kept from the start; the rest of max_length comes from "
                              "the end.", at_least=1)
    chunk_stride: int = option(64, "chunks: tokens that consecutive windows share.", at_least=0)
    max_chunks: int = option(8, "chunks: most windows per text; a text that needs more loses its end.", at_least=1)
    chunk_pooling: str = option("mean", "chunks: how the windows' logits make the text's ('mean' or 'max').",
                                POOLINGS)


@dataclass
class Phase4Config(LongInputOptions, TextDataConfig):
    model_name_or_path: str = option("FacebookAI/roberta-base",
                                     "Hub id or local directory of the encoder (RoBERTa, BERT, ...).")
    learning_rate: float = option(2e-5, "Peak learning rate.")
    epochs: int = option(3, "Number of training epochs.")
    batch_size: int = option(16, "Training batch size per optimizer step (before accumulation).")
    max_length: int = option(256, "Maximum tokens per abstract (per window with long_inputs chunks); what "
                             "becomes of longer ones is long_inputs' choice (the run reports how many lose "
                             "tokens).")
    # --- long abstracts: long_inputs head|head_tail|chunks, head_tokens, chunk_stride, max_chunks, chunk_pooling ---

    # --- data: the Medical Abstracts corpus, or any text data set (TextDataConfig's keys) ---
    dataset: str = option(MEDICAL_DATASET, f"'{MEDICAL_DATASET}' (from data_dir: medical_tc_train.csv and/or "
                          "medical_tc_test.csv with condition_label,medical_abstract, names in "
                          "medical_tc_labels.csv; else the hub's TimSchopf/medical_abstracts), a local "
                          ".csv/.tsv/.jsonl file, or a hub data set id.")
