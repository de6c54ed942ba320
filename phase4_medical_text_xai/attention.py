"""Attention maps and attention rollout (Abnar & Zuidema 2020).

The classifier reads the first token's final hidden state (`<s>` / `[CLS]`), so the
explanation is that token's row: per layer and head, how much it attends to each token,
and the rollout, which follows attention through the layers. Rollout averages the heads
of each layer, adds the identity for the residual connection, renormalises rows, and
multiplies the layers' matrices: each row is a distribution over input tokens (sums to 1).
Attention weights need the eager attention implementation (SDPA does not return them).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from common.plots import save_figure  # also selects the headless backend


def attention_weights(model, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [labels], attentions [layers, heads, tokens, tokens]) of a one-example batch."""
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        model.set_attn_implementation("eager")
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    if not output.attentions:
        raise RuntimeError(f"{type(model).__name__} returned no attention weights")
    return output.logits[0], torch.stack([a[0] for a in output.attentions]).float()


def attention_rollout(attentions: torch.Tensor) -> torch.Tensor:
    """Rollout [tokens, tokens] from attentions [layers, heads, tokens, tokens]."""
    tokens = attentions.size(-1)
    identity = torch.eye(tokens, dtype=attentions.dtype, device=attentions.device)
    rollout = identity
    for layer in attentions:
        mixed = layer.mean(0) + identity
        mixed = mixed / mixed.sum(-1, keepdim=True)
        rollout = mixed @ rollout
    return rollout


def plot_attention(attentions: torch.Tensor, rollout_row: np.ndarray, tokens: list[str], path, title: str) -> None:
    """One panel per layer (heads x tokens: the first token's attention) and the rollout."""
    layers, heads, length = attentions.size(0), attentions.size(1), attentions.size(-1)
    width = min(24, max(8, 0.12 * length))
    fig, axes = plt.subplots(layers + 1, 1, figsize=(width, 0.3 * heads * layers + 2.5), squeeze=False)
    step = max(1, length // 60)  # label at most ~60 tokens so the axis stays readable
    for index, ax in enumerate(axes[:, 0]):
        if index < layers:
            image = ax.imshow(attentions[index, :, 0, :].cpu().numpy(), aspect="auto", cmap="viridis")
            ax.set_ylabel(f"layer {index + 1}\nhead", fontsize=7)
        else:
            image = ax.imshow(rollout_row[None, :], aspect="auto", cmap="magma")
            ax.set_ylabel("rollout", fontsize=7)
            ax.set_yticks([])
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.02)
        ax.set_xticks(range(0, length, step))
        ax.set_xticklabels(tokens[::step] if index == layers else [], rotation=90, fontsize=6)
    axes[0, 0].set_title(title)
    save_figure(fig, path)
