"""Phase 1 models: a pretrained encoder (DistilBERT by default) or decoder LLM with a
classification head, a decoder LLM scoring each label's answer to a prompt (`llm_format
instruction`, common/llm.py), or one of the two small transformer encoders trained from
scratch (common/small_transformers.py), with LoRA adapters if asked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from torch import nn
from transformers import PreTrainedTokenizerBase

from common.lora import apply_lora, is_adapter_checkpoint, load_lora
from common.models import load_trained_classifier
from common.scratch import build_new_classifier


def build_model(cfg, tokenizer: PreTrainedTokenizerBase, label_names: list[str],
                checkpoint: Optional[Path] = None) -> nn.Module:
    """The model to train (with LoRA adapters if `cfg.lora`), or one restored from `checkpoint`:
    a full Hugging Face model directory, or a LoRA adapter over a freshly built base."""
    if cfg.llm_format == "instruction":
        from common.llm import build_answer_scorer

        return build_answer_scorer(cfg, tokenizer, label_names, checkpoint)
    if checkpoint is not None and is_adapter_checkpoint(checkpoint):
        return load_lora(build_new_classifier(cfg, tokenizer, label_names), checkpoint, trainable=True)
    if checkpoint is not None:
        return load_trained_classifier(checkpoint)
    model = build_new_classifier(cfg, tokenizer, label_names)
    if cfg.lora:
        model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules)
    return model
