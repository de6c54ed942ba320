"""The models of FiQA target extraction: a seq2seq model that writes the target (an
encoder-decoder checkpoint such as flan-t5, or an `EncoderDecoderModel` warm-started from
one encoder as both its encoder and its decoder, Rothe et al. 2020), and the extractive
baseline, a BIO tagger over the sentence's tokens; with LoRA adapters on either.

A warm-started model's cross-attention and its decoder's language-model head start
untrained; with LoRA they train in full (peft's `modules_to_save`) and are saved with the
adapters, so the adapter checkpoint alone restores the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from torch import nn

from common.lora import apply_lora, is_adapter_checkpoint, load_lora
from phase1_financial_phrasebank.fiqa.target_config import TargetConfig

SPAN_LABELS = ("O", "B", "I")
NEW_PARTS = ["crossattention", "cls"]  # of a BERT-style decoder warm-started from an encoder


def warm_start(encoder: str, tokenizer) -> nn.Module:
    """An EncoderDecoderModel with `encoder` as encoder and as decoder, told the tokenizer's
    start, end and padding tokens (BERT-style: [CLS] starts, [SEP] ends)."""
    from transformers import EncoderDecoderModel

    model = EncoderDecoderModel.from_encoder_decoder_pretrained(encoder, encoder)
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id, config.eos_token_id, config.pad_token_id = start, end, tokenizer.pad_token_id
    model.config.vocab_size = model.config.decoder.vocab_size
    return model


def base_model(cfg: TargetConfig, tokenizer) -> nn.Module:
    """The untrained model of `cfg.extractor` from `cfg.model_name_or_path`."""
    from transformers import AutoModelForSeq2SeqLM, AutoModelForTokenClassification

    if cfg.extractor == "span_tagger":
        return AutoModelForTokenClassification.from_pretrained(
            cfg.model_name_or_path, num_labels=len(SPAN_LABELS), id2label=dict(enumerate(SPAN_LABELS)),
            label2id={label: i for i, label in enumerate(SPAN_LABELS)})
    if cfg.encoder_decoder:
        return warm_start(cfg.model_name_or_path, tokenizer)
    return AutoModelForSeq2SeqLM.from_pretrained(cfg.model_name_or_path)


def modules_to_save(cfg: TargetConfig) -> list[str]:
    """What trains in full beside the adapters: the tagger's head, a warm start's new parts."""
    if cfg.extractor == "span_tagger":
        return ["classifier"]
    return NEW_PARTS if cfg.encoder_decoder else []


def build_target_model(cfg: TargetConfig, tokenizer, checkpoint: Optional[Path] = None) -> nn.Module:
    """The model to train (no `checkpoint`), or a saved one: an adapter checkpoint over a fresh
    base model, or a whole model directory."""
    from transformers import AutoModelForSeq2SeqLM, AutoModelForTokenClassification

    if checkpoint is not None and not is_adapter_checkpoint(checkpoint):
        loader = AutoModelForTokenClassification if cfg.extractor == "span_tagger" else AutoModelForSeq2SeqLM
        return loader.from_pretrained(checkpoint)
    model = base_model(cfg, tokenizer)
    if checkpoint is not None:
        return load_lora(model, checkpoint, trainable=True)
    if cfg.lora:
        model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules or None,
                           modules_to_save(cfg))
    return model
