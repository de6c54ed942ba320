"""The study's two small transformer encoders, trained from scratch (MiniTransformer,
TinyTransformer): their sizes and architecture. The keys that choose them and their
tokenizer, and the run glue that builds them, are in common/scratch.py.

The encoders are plain PyTorch (`nn.TransformerEncoder`, pre-norm, GELU, learned
positions, mean pooling over real tokens) wrapped as a `PreTrainedModel`, so that they
save, load and checkpoint exactly like the Hugging Face models. Their tokenizer is a
pretrained model's (`tokenizer_name_or_path`) or, with `train_tokenizer`, a byte-level
BPE vocabulary trained on the run's train split (common/bpe.py).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from common.heads import mean_pool

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
