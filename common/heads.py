"""A mean-pooling + MLP classification head over any Hugging Face encoder (`head mean_mlp`
in every text phase).

The default head of `AutoModelForSequenceClassification` reads the first token only; this
one averages the encoder's outputs over the real (non-padding) tokens, then applies a
dropout-MLP, which is what encoders trained for sentence embeddings (MiniLM) expect. It is a
`PreTrainedModel` whose config carries the encoder's config, so
`save_pretrained` / `from_pretrained` round-trip encoder and head together.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from common.load_report import describe_loading, folded_load_report


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the hidden states over real (non-padding) tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPoolingClassifierConfig(PretrainedConfig):
    model_type = "mean_pooling_classifier"

    def __init__(self, encoder: Optional[dict] = None, head_hidden_size: int = 256, head_dropout: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder or {}
        self.head_hidden_size = head_hidden_size
        self.head_dropout = head_dropout


class MeanPoolingClassifier(PreTrainedModel):
    config_class = MeanPoolingClassifierConfig
    base_model_prefix = "encoder"

    def __init__(self, config: MeanPoolingClassifierConfig):
        super().__init__(config)
        encoder_config = AutoConfig.for_model(**config.encoder)
        self.encoder = AutoModel.from_config(encoder_config)
        width = getattr(encoder_config, "hidden_size", None) or encoder_config.dim  # DistilBERT calls it dim
        self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(width, config.head_hidden_size),
                                  nn.GELU(), nn.Dropout(config.head_dropout),
                                  nn.Linear(config.head_hidden_size, config.num_labels))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and any(module is m for m in self.head.modules()):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, **encoder_inputs) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        encoder_inputs = {k: v for k, v in encoder_inputs.items() if k == "token_type_ids" and v is not None}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **encoder_inputs).last_hidden_state
        logits = self.head(mean_pool(hidden, attention_mask))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MeanPoolingClassifierConfig.model_type, MeanPoolingClassifierConfig)
AutoModelForSequenceClassification.register(MeanPoolingClassifierConfig, MeanPoolingClassifier)


def build_mean_pooling_classifier(encoder_name_or_path: str, id2label: dict, hidden_size: int,
                                  dropout: float, **encoder_config) -> MeanPoolingClassifier:
    """A new head over the pretrained encoder at `encoder_name_or_path`, whose config takes
    the values `encoder_config` gives (e.g. its attention dropout)."""
    with folded_load_report():
        encoder, info = AutoModel.from_pretrained(encoder_name_or_path, output_loading_info=True, **encoder_config)
    loading = describe_loading(encoder_name_or_path, info)
    if loading:  # e.g. a pooler the checkpoint lacks: unused by mean pooling, but said
        print(loading)
    config = MeanPoolingClassifierConfig(encoder=encoder.config.to_dict(), head_hidden_size=hidden_size,
                                         head_dropout=dropout, num_labels=len(id2label), id2label=id2label,
                                         label2id={v: k for k, v in id2label.items()})
    model = MeanPoolingClassifier(config)
    model.encoder = encoder
    return model
