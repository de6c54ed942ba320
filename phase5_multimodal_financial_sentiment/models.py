"""Phase 5 models: a text encoder (any HF encoder, FinBERT by default), an image encoder
(a torchvision ResNet), and a fusion head, in one Hugging Face `PreTrainedModel` so that
checkpoints save, resume and reload like every other phase's (`save_pretrained` /
`from_pretrained`; the config records everything needed to rebuild it).

Fusion heads (each ends in a linear classifier):
- `concat`: [text; image] -> Linear -> GELU -> dropout -> classifier.
- `gated`: a gated multimodal unit (Arevalo et al. 2017): each modality is projected with
  tanh; a sigmoid gate computed from both decides, per dimension, how much each contributes.
- `attention`: the text vector attends (multi-head cross-attention) over the image's
  spatial feature map (ResNet's last stage before pooling); [text; attended image] -> MLP.
Text-only and image-only models are the same class with the other encoder left out; their
head is the same MLP on the one vector.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torchvision
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from common.errors import ConfigError, describe
from common.models import label_maps, load_error

FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


class MultimodalConfig(PretrainedConfig):
    model_type = "multimodal_sentiment"

    def __init__(self, text_config: Optional[dict] = None, image_model: str = "resnet50", modality: str = "fusion",
                 fusion: str = "concat", fusion_hidden_size: int = 256, fusion_dropout: float = 0.1,
                 freeze_text: bool = False, freeze_image: bool = False, image_size: int = 224,
                 image_mean: tuple = (0.485, 0.456, 0.406), image_std: tuple = (0.229, 0.224, 0.225),
                 image_weights: str = "none", text_max_length: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.text_config, self.image_model, self.modality, self.fusion = text_config, image_model, modality, fusion
        self.fusion_hidden_size, self.fusion_dropout = fusion_hidden_size, fusion_dropout
        self.freeze_text, self.freeze_image = freeze_text, freeze_image
        self.image_size, self.image_mean, self.image_std = image_size, list(image_mean), list(image_std)
        self.image_weights = image_weights  # what the image encoder started from (for the record)
        self.text_max_length = text_max_length  # texts are truncated at prediction as in training

    @property
    def uses_text(self) -> bool:
        return self.modality in ("fusion", "text")

    @property
    def uses_image(self) -> bool:
        return self.modality in ("fusion", "image")


class ImageEncoder(nn.Module):
    """A torchvision ResNet without its pooling and classifier: a spatial feature map."""

    def __init__(self, name: str, weights=None):
        super().__init__()
        if name not in FEATURES:
            raise ConfigError(f"unknown image model {name!r}; choose one of {', '.join(FEATURES)}")
        resnet = torchvision.models.get_model(name, weights=weights)
        self.body = nn.Sequential(*list(resnet.children())[:-2])
        self.out_features = FEATURES[name]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.body(pixel_values)  # [batch, channels, height, width]


def mlp(in_features: int, hidden: int, num_labels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_labels))


class GatedFusion(nn.Module):
    def __init__(self, text_dim: int, image_dim: int, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.text_proj, self.image_proj = nn.Linear(text_dim, hidden), nn.Linear(image_dim, hidden)
        self.gate = nn.Linear(text_dim + image_dim, hidden)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_labels))

    def forward(self, text: torch.Tensor, image_map: torch.Tensor) -> torch.Tensor:
        image = image_map.mean((2, 3))
        gate = torch.sigmoid(self.gate(torch.cat([text, image], -1)))  # 1: text, 0: image
        fused = gate * torch.tanh(self.text_proj(text)) + (1 - gate) * torch.tanh(self.image_proj(image))
        return self.classifier(fused)


class ConcatFusion(nn.Module):
    def __init__(self, text_dim: int, image_dim: int, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.head = mlp(text_dim + image_dim, hidden, num_labels, dropout)

    def forward(self, text: torch.Tensor, image_map: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([text, image_map.mean((2, 3))], -1))


class AttentionFusion(nn.Module):
    def __init__(self, text_dim: int, image_dim: int, hidden: int, num_labels: int, dropout: float, heads: int = 4):
        super().__init__()
        self.text_proj, self.image_proj = nn.Linear(text_dim, hidden), nn.Linear(image_dim, hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = mlp(2 * hidden, hidden, num_labels, dropout)

    def forward(self, text: torch.Tensor, image_map: torch.Tensor) -> torch.Tensor:
        query = self.text_proj(text)[:, None]  # [batch, 1, hidden]
        regions = self.image_proj(image_map.flatten(2).transpose(1, 2))  # [batch, height * width, hidden]
        attended, _ = self.attention(query, regions, regions, need_weights=False)
        return self.head(torch.cat([query, self.norm(attended)], -1)[:, 0])


FUSION_HEADS = {"concat": ConcatFusion, "gated": GatedFusion, "attention": AttentionFusion}


class MultimodalClassifier(PreTrainedModel):
    config_class = MultimodalConfig
    base_model_prefix = "multimodal"
    main_input_name = "pixel_values"

    def __init__(self, config: MultimodalConfig, text_encoder: Optional[nn.Module] = None,
                 image_encoder: Optional[nn.Module] = None):
        super().__init__(config)
        self.text_encoder = self.image_encoder = None
        text_dim = image_dim = 0
        if config.uses_text:
            self.text_encoder = text_encoder or AutoModel.from_config(AutoConfig.for_model(**config.text_config))
            text_dim = self.text_encoder.config.hidden_size
        if config.uses_image:
            self.image_encoder = image_encoder or ImageEncoder(config.image_model)
            image_dim = self.image_encoder.out_features
        hidden, labels, dropout = config.fusion_hidden_size, config.num_labels, config.fusion_dropout
        if config.modality == "fusion":
            self.head = FUSION_HEADS[config.fusion](text_dim, image_dim, hidden, labels, dropout)
        else:
            self.head = mlp(text_dim or image_dim, hidden, labels, dropout)
        self.post_init()
        self.freeze()

    def _init_weights(self, module: nn.Module) -> None:
        """Keep every part's own initialisation (torchvision's for the ResNet, PyTorch's for
        the head, the pretrained weights for the encoders)."""

    def freeze(self) -> None:
        for flag, encoder in ((self.config.freeze_text, self.text_encoder),
                              (self.config.freeze_image, self.image_encoder)):
            if flag and encoder is not None:
                encoder.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for flag, encoder in ((self.config.freeze_text, self.text_encoder),
                              (self.config.freeze_image, self.image_encoder)):
            if flag and encoder is not None:
                encoder.eval()  # a frozen encoder keeps its dropout off and its batch-norm statistics fixed
        return self

    def encode_text(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state[:, 0]

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, pixel_values=None, labels=None,
                text_features=None, **kwargs) -> SequenceClassifierOutput:
        """`text_features`: the frozen text encoder's vectors, computed once (text_features.py),
        read instead of the token ids."""
        text = None
        if self.text_encoder is not None:
            text = text_features if text_features is not None else self.encode_text(input_ids, attention_mask,
                                                                                    token_type_ids)
        image_map = self.image_encoder(pixel_values) if self.image_encoder is not None else None
        if self.config.modality == "fusion":
            logits = self.head(text, image_map)
        else:
            logits = self.head(text if text is not None else image_map.mean((2, 3)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class ReturnsClassifier(nn.Module):
    """A fixed linear map from a row's last daily returns to logits: the price baselines
    (price_baselines.py) scored through the same evaluation as the trained models."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward(self, returns: torch.Tensor, labels=None, **kwargs) -> SequenceClassifierOutput:
        return SequenceClassifierOutput(logits=self.linear(returns))


def load_image_weights(name: str, policy: str):
    """torchvision's ImageNet weights for `name` (policy auto/imagenet) or None. Under
    `auto`, weights that cannot be had (offline, no cache) give random init, said aloud."""
    if policy == "none":
        return None
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        weights.get_state_dict(progress=False)  # from the torch hub cache, else downloaded
    except Exception as exc:  # offline (URLError), a broken cache file, ...
        reason = describe(exc)
        if policy == "imagenet":
            raise ConfigError(f"could not load ImageNet weights {weights} for {name} ({reason}); put them in the "
                              "torch hub cache, or pass --image_weights none to train from scratch") from None
        print(f"warning: ImageNet weights {weights} for {name} could not be loaded ({reason}); the image encoder "
              "starts from random weights (image_weights auto), as metrics.json records")
        return None
    return weights


def load_text_encoder(name_or_path: str) -> PreTrainedModel:
    try:
        return AutoModel.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise load_error(name_or_path, exc) from None


def build_model(cfg, label_names) -> MultimodalClassifier:
    """A new model for `cfg`: the pretrained text encoder, the ResNet (ImageNet weights or
    random) and a freshly initialised head."""
    config = MultimodalConfig(image_model=cfg.image_model, modality=cfg.modality, fusion=cfg.fusion,
                              fusion_hidden_size=cfg.fusion_hidden_size, fusion_dropout=cfg.fusion_dropout,
                              freeze_text=cfg.freeze_text, freeze_image=cfg.freeze_image, image_size=cfg.image_size,
                              text_max_length=cfg.max_length, **label_maps(label_names))
    text_encoder = image_encoder = None
    if config.uses_text:
        text_encoder = load_text_encoder(cfg.model_name_or_path)
        config.text_config = text_encoder.config.to_dict()
    if config.uses_image:
        weights = load_image_weights(cfg.image_model, cfg.image_weights)
        image_encoder = ImageEncoder(cfg.image_model, weights)
        config.image_weights = str(weights) if weights is not None else "none"
        if weights is not None:  # normalise inputs as the weights were trained
            preset = weights.transforms()
            config.image_mean, config.image_std = list(preset.mean), list(preset.std)
    return MultimodalClassifier(config, text_encoder, image_encoder)


def load_trained_model(checkpoint) -> MultimodalClassifier:
    """A saved phase 5 model; another kind of checkpoint (a phase 1 classifier, say) is an error naming its type."""
    config_path = Path(checkpoint) / "config.json"
    if config_path.is_file():
        try:
            model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
        except (ValueError, AttributeError):
            model_type = None
        if model_type != MultimodalConfig.model_type:
            raise ConfigError(f"{checkpoint} holds a {model_type or 'unknown'} model, not a phase 5 "
                              f"{MultimodalConfig.model_type} model (a phase 5 run's checkpoints/best)")
    try:
        return MultimodalClassifier.from_pretrained(str(checkpoint))
    except (OSError, ValueError) as exc:
        raise load_error(str(checkpoint), exc) from None
