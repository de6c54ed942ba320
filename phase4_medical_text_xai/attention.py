"""Attention maps and attention rollout (Abnar & Zuidema 2020).

The classifier reads the first token's final hidden state (`<s>` / `[CLS]`), so the
explanation is that token's row: per layer and head, how much it attends to each token,
and the rollout, which follows attention through the layers. Rollout averages the heads
of each layer, adds the identity for the residual connection, renormalises rows, and
multiplies the layers' matrices: each row is a distribution over input tokens (sums to 1).
Attention weights need the eager attention implementation (SDPA does not return them).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

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


def display_token(token: str) -> str:
    """A token as a reader knows it: without the word-start marker of byte-level BPE (Ġ) or
    SentencePiece (▁); a token that is only the marker is shown as ␣."""
    text = token.lstrip("Ġ▁")
    return text or "␣"


def plot_attention(attentions: torch.Tensor, rollout_row: np.ndarray, tokens: list[str], path, title: str,
                   special: Optional[Sequence[bool]] = None) -> None:
    """One panel per layer (heads x tokens: the first token's attention) and the rollout, over
    the text's own tokens: the columns of `special` tokens (<s>, </s>, padding) are left out,
    since the first token's attention to itself and to the separators would take the whole
    colour scale (the title says so). Every token is labelled up to 150 of them (beyond,
    every k-th, said in the title), at a bounded width."""
    layers, heads, length = attentions.size(0), attentions.size(1), attentions.size(-1)
    keep = np.flatnonzero(~np.asarray(special, dtype=bool)) if special is not None else np.arange(length)
    shown = [display_token(tokens[i]) for i in keep]
    step = max(1, math.ceil(len(keep) / 150))
    width = min(30.0, max(8.0, 0.13 * len(keep) / step))
    fig, axes = plt.subplots(layers + 1, 1, figsize=(width, 0.3 * heads * layers + 2.5), squeeze=False)
    for index, ax in enumerate(axes[:, 0]):
        if index < layers:
            image = ax.imshow(attentions[index, :, 0, :].cpu().numpy()[:, keep], aspect="auto", cmap="viridis")
            ax.set_ylabel(f"layer {index + 1}\nhead", fontsize=7)
        else:
            image = ax.imshow(np.asarray(rollout_row)[None, keep], aspect="auto", cmap="magma")
            ax.set_ylabel("rollout", fontsize=7)
            ax.set_yticks([])
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.02)
        ax.set_xticks(range(0, len(keep), step))
        ax.set_xticklabels(shown[::step] if index == layers else [], rotation=90, fontsize=7)
    notes = [f"{length - len(keep)} special tokens left out"] if len(keep) < length else []
    notes += [f"every {step}th token labelled"] if step > 1 else []
    axes[0, 0].set_title(title + (f" ({'; '.join(notes)})" if notes else ""))
    save_figure(fig, path)
