"""Training one of the study's small encoders from scratch, and the one place a run's new
classifier is built: the keys that choose the architecture and its tokenizer
(`ScratchOptions`, checked when a config is built), the run's tokenizer (loaded, or a
byte-level BPE vocabulary trained on the train split), the hub models a run reads, and
`build_new_classifier` (a small encoder, or a pretrained one with a new head).

The architectures themselves are in common/small_transformers.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from common.bpe import describe_bpe, train_byte_level_bpe
from common.config import option
from common.errors import ConfigError
from common.hub import HubRef, model_ref
from common.models import build_classifier, label_maps, load_tokenizer
from common.small_transformers import (SMALL_ARCHITECTURES, SmallTransformerConfig,
                                       SmallTransformerForSequenceClassification)


ARCHITECTURES = ("pretrained", *SMALL_ARCHITECTURES)


@dataclass
class ScratchOptions:
    """The keys that train one of the small encoders from scratch instead of fine-tuning
    model_name_or_path, and choose its tokenizer."""

    architecture: str = option("pretrained", "'pretrained' fine-tunes model_name_or_path; 'mini_transformer' "
                               "and 'tiny_transformer' train a small encoder from scratch, with the tokenizer "
                               "of tokenizer_name_or_path (default: model_name_or_path) or one trained on the "
                               "train split (train_tokenizer).", ARCHITECTURES)
    tokenizer_name_or_path: Optional[str] = option(None, "Tokenizer to use; default: model_name_or_path.")
    train_tokenizer: bool = option(False, "Train a byte-level BPE tokenizer (the `tokenizers` library) on the "
                                   "train split's texts and train a small encoder on it: for scripts a "
                                   "pretrained vocabulary reads as unknown tokens. Needs a small architecture.")
    tokenizer_vocab_size: int = option(8000, "train_tokenizer: most tokens in the vocabulary.", at_least=300)
    tokenizer_min_frequency: int = option(2, "train_tokenizer: a pair of tokens is merged only when it occurs "
                                          "at least this often in the train split.", at_least=1)

    def __post_init__(self) -> None:
        super().__post_init__()  # the base config's checks (each key's domain) first
        check_scratch_options(self)


def check_scratch_options(cfg) -> None:
    """Scratch keys that each key allows alone but that together are meaningless."""
    if cfg.train_tokenizer and cfg.architecture not in SMALL_ARCHITECTURES:
        raise ConfigError("train_tokenizer trains a new vocabulary, which only a model trained from scratch can "
                          f"use: set architecture to one of {', '.join(SMALL_ARCHITECTURES)}")
    if cfg.train_tokenizer and cfg.tokenizer_name_or_path:
        raise ConfigError("choose one of train_tokenizer and tokenizer_name_or_path")
    if getattr(cfg, "attention_dropout", None) is not None and cfg.architecture in SMALL_ARCHITECTURES:
        raise ConfigError(f"attention_dropout: {cfg.architecture} has one dropout for its whole encoder (its torch "
                          "TransformerEncoderLayer's); leave attention_dropout unset")
    if getattr(cfg, "freeze_embeddings", False) and cfg.architecture in SMALL_ARCHITECTURES:
        raise ConfigError(f"freeze_embeddings keeps pretrained embeddings; {cfg.architecture} is trained from "
                          "scratch, so its embeddings would stay random: leave freeze_embeddings false")


def tokenizer_source(cfg) -> Optional[str]:
    """Where the run's tokenizer is loaded from before the run starts; None when it is
    trained on the run's train split (`run_tokenizer`)."""
    if getattr(cfg, "train_tokenizer", False):
        return None
    return getattr(cfg, "tokenizer_name_or_path", None) or cfg.model_name_or_path


def run_tokenizer(cfg, run) -> tuple[PreTrainedTokenizerBase, dict]:
    """The run's tokenizer and what metrics.json records of it: the one `open_run` loaded,
    or (train_tokenizer) a byte-level BPE vocabulary of the train split's texts and pairs
    (the texts the model trains on; validation and test texts are never read). It is saved
    with every checkpoint; a resumed run reads its checkpoint's instead of training anew.
    For a small model its `model_max_length` is the run's max_length."""
    if run.tokenizer is not None:
        tokenizer, record = run.tokenizer, {}
    else:
        examples = run.splits.train
        texts = [e.text for e in examples] + [e.pair for e in examples if e.pair]
        if run.resume_from:
            tokenizer = load_tokenizer(str(run.resume_from))
        else:
            tokenizer = train_byte_level_bpe(texts, cfg.tokenizer_vocab_size, cfg.tokenizer_min_frequency)
        record = {"tokenizer": describe_bpe(tokenizer, len(texts))}
    if getattr(cfg, "architecture", "pretrained") in SMALL_ARCHITECTURES:
        # A small model has max_length positions: its saved tokenizer says so, so that
        # truncation=True (in a pipeline, say) cuts there instead of at the vocabulary's 512.
        tokenizer.model_max_length = cfg.max_length
    return tokenizer, record


def encoder_refs(cfg) -> list[HubRef]:
    """The hub models a run reads: the encoder (and another tokenizer, if named), only the
    tokenizer of a model trained from scratch, or nothing with a trained tokenizer."""
    tokenizer = tokenizer_source(cfg)
    if getattr(cfg, "architecture", "pretrained") in SMALL_ARCHITECTURES:
        return model_ref(tokenizer, "", weights=False) if tokenizer else []
    refs = model_ref(cfg.model_name_or_path, "")
    return refs + (model_ref(cfg.tokenizer_name_or_path, "", weights=False) if cfg.tokenizer_name_or_path else [])


def build_new_classifier(cfg, tokenizer: PreTrainedTokenizerBase, label_names: Sequence[str]) -> PreTrainedModel:
    """A classifier with a freshly initialised head (and, for the small models, encoder)."""
    architecture = getattr(cfg, "architecture", "pretrained")
    if architecture in SMALL_ARCHITECTURES:
        config = SmallTransformerConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                        max_position_embeddings=cfg.max_length, **label_maps(label_names),
                                        **SMALL_ARCHITECTURES[architecture])
        return SmallTransformerForSequenceClassification(config)
    return build_classifier(cfg, label_names)

