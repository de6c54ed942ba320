"""Training regimes: which parameters train in which epoch.

The encoder is `model.base_model` (embeddings, transformer layers, and for BERT its
pooler); everything else is the classification head. Gradual unfreezing (Howard & Ruder
2018, as FinBERT used it) trains the head first, then unfreezes the encoder's layers from
the top down, a few per epoch, and the embeddings last.
"""
from __future__ import annotations

from torch import nn

from common.errors import ConfigError


def encoder_of(model: nn.Module) -> nn.Module:
    encoder = getattr(model, "base_model", model)
    if encoder is model:
        raise ConfigError(f"{type(model).__name__} has no separate pretrained encoder; training regimes other than "
                          "'full' need a pretrained architecture")
    return encoder


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers: the longest ModuleList in the encoder."""
    lists = [m for m in encoder.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ConfigError(f"cannot find the transformer layers of {type(encoder).__name__} for gradual unfreezing")
    return max(lists, key=len)


def trainable_scope(regime: str, epoch: int, head_epochs: int, num_layers: int, layers_per_epoch: int) -> int:
    """How many encoder layers (from the top) train in `epoch` (0-based); num_layers + 1
    means the whole encoder, embeddings included."""
    if regime == "full":
        return num_layers + 1
    if regime == "head_only" or epoch < head_epochs:
        return 0
    if regime == "head_then_full":
        return num_layers + 1
    return min((epoch - head_epochs + 1) * layers_per_epoch, num_layers + 1)  # gradual_unfreeze


def apply_regime(model: nn.Module, regime: str, epoch: int, head_epochs: int = 1, layers_per_epoch: int = 2) -> str:
    """Set `requires_grad` for this epoch; return a short description of what trains."""
    if regime == "full":  # leave requires_grad as built: everything, or LoRA's adapters + head
        return "all trainable parameters"
    encoder = encoder_of(model)
    layers = encoder_layers(encoder)
    scope = trainable_scope(regime, epoch, head_epochs, len(layers), layers_per_epoch)
    model.requires_grad_(True)
    if scope > len(layers):
        return "all parameters"
    encoder.requires_grad_(False)
    for layer in list(layers)[len(layers) - scope:]:
        layer.requires_grad_(True)
    return "head only" if scope == 0 else f"head + top {scope} of {len(layers)} layers"
