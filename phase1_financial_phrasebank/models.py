"""Phase 1 models: a pretrained encoder (DistilBERT by default) with a classification
head, or one of two small transformer encoders trained from scratch.

The small encoders are plain PyTorch (`nn.TransformerEncoder`, pre-norm, GELU, learned
positions, mean pooling over real tokens) wrapped as a `PreTrainedModel`, so that they
save, load and checkpoint exactly like the Hugging Face models, with the same tokenizer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel,
                          PreTrainedTokenizerBase)
from transformers.modeling_outputs import SequenceClassifierOutput

from common.heads import mean_pool
from common.hub import HubRef, model_ref
from common.lora import apply_lora, is_adapter_checkpoint, load_lora
from common.models import build_classifier, label_maps, load_trained_classifier

# Sizes of the from-scratch encoders (parameter counts, with the 30,522-token uncased
# WordPiece vocabulary, are in the phase README).
SMALL_ARCHITECTURES = {
    "mini_transformer": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "tiny_transformer": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
}


class SmallTransformerConfig(PretrainedConfig):
    model_type = "phase1_small_transformer"

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
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.dropout(self.token_embeddings(input_ids) + self.position_embeddings(positions))
        hidden = self.encoder(hidden, src_key_padding_mask=attention_mask == 0)
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# Registered so that AutoModel / pipeline load the small models' checkpoints too.
AutoConfig.register(SmallTransformerConfig.model_type, SmallTransformerConfig)
AutoModelForSequenceClassification.register(SmallTransformerConfig, SmallTransformerForSequenceClassification)


def model_refs(cfg) -> list[HubRef]:
    """The hub models `build_model` reads: the encoder, or only the tokenizer of a model trained from scratch."""
    tokenizer = cfg.tokenizer_name_or_path or cfg.model_name_or_path
    if cfg.architecture in SMALL_ARCHITECTURES:
        return model_ref(tokenizer, "", weights=False)
    refs = model_ref(cfg.model_name_or_path, "")
    return refs + (model_ref(cfg.tokenizer_name_or_path, "", weights=False) if cfg.tokenizer_name_or_path else [])


def build_new_model(cfg, tokenizer: PreTrainedTokenizerBase, label_names: list[str]) -> PreTrainedModel:
    """A classifier with a freshly initialised head (and, for the small models, encoder)."""
    if cfg.architecture in SMALL_ARCHITECTURES:
        config = SmallTransformerConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                        max_position_embeddings=cfg.max_length, **label_maps(label_names),
                                        **SMALL_ARCHITECTURES[cfg.architecture])
        return SmallTransformerForSequenceClassification(config)
    return build_classifier(cfg, label_names)


def build_model(cfg, tokenizer: PreTrainedTokenizerBase, label_names: list[str],
                checkpoint: Optional[Path] = None) -> nn.Module:
    """The model to train (with LoRA adapters if `cfg.lora`), or one restored from `checkpoint`:
    a full Hugging Face model directory, or a LoRA adapter over a freshly built base."""
    if checkpoint is not None and is_adapter_checkpoint(checkpoint):
        return load_lora(build_new_model(cfg, tokenizer, label_names), checkpoint, trainable=True)
    if checkpoint is not None:
        return load_trained_classifier(checkpoint)
    model = build_new_model(cfg, tokenizer, label_names)
    if cfg.lora:
        model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules)
    return model
