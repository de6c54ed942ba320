"""The study's two small transformer encoders, trained from scratch (MiniTransformer,
TinyTransformer), and the config keys that choose them and their tokenizer.

The encoders are plain PyTorch (`nn.TransformerEncoder`, pre-norm, GELU, learned
positions, mean pooling over real tokens) wrapped as a `PreTrainedModel`, so that they
save, load and checkpoint exactly like the Hugging Face models. Their tokenizer is a
pretrained model's (`tokenizer_name_or_path`) or, with `train_tokenizer`, a byte-level
BPE vocabulary trained on the run's train split (common/bpe.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel,
                          PreTrainedTokenizerBase)
from transformers.modeling_outputs import SequenceClassifierOutput

from common.bpe import describe_bpe, train_byte_level_bpe
from common.config import option
from common.errors import ConfigError
from common.heads import mean_pool
from common.hub import HubRef, model_ref
from common.models import build_classifier, label_maps, load_tokenizer

# Sizes of the from-scratch encoders (parameter counts, with the 30,522-token uncased
# WordPiece vocabulary, are in phase 1's README).
SMALL_ARCHITECTURES = {
    "mini_transformer": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "tiny_transformer": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
}


class SmallTransformerConfig(PretrainedConfig):
    model_type = "phase1_small_transformer"  # the name saved checkpoints carry (phase 1 introduced the models)

    def __init__(self, vocab_size: int = 30522, hidden_size: int = 256, num_hidden_layers: int = 4,
                 num_attention_heads: int = 4, intermediate_size: int = 1024, max_position_embeddings: int = 512,
                 dropout: float = 0.1, initializer_range: float = 0.02, pad_token_id: int = 0, **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.dropout = dropout
        self.initializer_range = initializer_range


class SmallTransformerForSequenceClassification(PreTrainedModel):
    config_class = SmallTransformerConfig
    base_model_prefix = "small_transformer"

    def __init__(self, config: SmallTransformerConfig):
        super().__init__(config)
        self.token_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(config.hidden_size, config.num_attention_heads, config.intermediate_size,
                                           config.dropout, activation="gelu", batch_first=True, norm_first=True)
        # enable_nested_tensor=False: the nested-tensor fast path is inference-only and
        # would make train and eval numerics differ.
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers, norm=nn.LayerNorm(config.hidden_size),
                                             enable_nested_tensor=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, **unused) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(f"{input_ids.shape[1]} tokens, more than the {self.config.max_position_embeddings} "
                             "positions this model has (its run's max_length): truncate them, e.g. "
                             "pipeline(..., truncation=True) or tokenizer(..., truncation=True)")
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.dropout(self.token_embeddings(input_ids) + self.position_embeddings(positions))
        hidden = self.encoder(hidden, src_key_padding_mask=attention_mask == 0)
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# Registered so that AutoModel / pipeline load the small models' checkpoints too.
AutoConfig.register(SmallTransformerConfig.model_type, SmallTransformerConfig)
AutoModelForSequenceClassification.register(SmallTransformerConfig, SmallTransformerForSequenceClassification)


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


def check_scratch_options(cfg) -> None:
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

