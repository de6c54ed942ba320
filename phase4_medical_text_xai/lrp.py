"""Layer-wise Relevance Propagation for transformer encoders that conserves relevance.

captum's `LRP` has rules for linear and convolutional layers only, not for embeddings,
LayerNorm, GELU or attention. Ali et al. (2022, "XAI for Transformers: Better
Explanations through Conservative Propagation") show that gradient x input becomes a
conservative LRP once the forward pass treats as constants (detaches) the LayerNorm
scale 1/std and the attention probabilities; nonlinear activations are handled by the
identity rule of AttnLRP (Achtibat et al. 2024): a(x) is computed as x * (a(x)/x) with
the gate a(x)/x detached. With those constants frozen the network is linear in its input
embeddings and its bias terms together, so by Euler's theorem

    logit = sum over tokens of relevance + relevance absorbed by the biases,

exactly (up to float rounding). The rules are applied as a torch function mode, which
intercepts `layer_norm`, `softmax`, `scaled_dot_product_attention` and the activations
wherever a model calls them (module or functional), so BERT, RoBERTa and their relatives
run unchanged. An activation the mode does not know would break the identity: every
explanation therefore reports its conservation error, and `explain` refuses results
whose error exceeds `CONSERVATION_TOLERANCE`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from common.errors import ConfigError

CONSERVATION_TOLERANCE = 1e-3  # |tokens + biases - logit| / max(1, |logit|), float32
SOFTMAXES = {F.softmax, torch.softmax, torch.Tensor.softmax}
GATED_ACTIVATIONS = {F.gelu, torch.tanh, torch.Tensor.tanh, F.silu, F.relu, torch.relu, torch.Tensor.relu}


def detached_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(-len(normalized_shape), 0))
    centred = x - x.mean(dim=dims, keepdim=True)
    out = centred / torch.sqrt(x.var(dim=dims, unbiased=False, keepdim=True) + eps).detach()
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


def detached_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kwargs):
    """Scaled dot-product attention whose probabilities are constants (no dropout: eval only)."""
    scores = query @ key.transpose(-2, -1) * (scale if scale is not None else 1 / math.sqrt(query.size(-1)))
    if is_causal:
        length = scores.size(-1)
        causal = torch.ones(length, length, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.softmax(scores, dim=-1).detach() @ value


def gated(func, args, kwargs):
    x = args[0]
    out = func(*args, **kwargs)
    gate = torch.where(x == 0, torch.zeros_like(out), out / x)
    return x * gate.detach()


class ConservativeRules(TorchFunctionMode):
    """Within this mode, a model's forward pass is the one whose gradient x input is LRP."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.layer_norm:
            return detached_layer_norm(*args, **kwargs)
        if func in SOFTMAXES:  # inside an encoder, only attention uses a softmax
            return func(*args, **kwargs).detach()
        if func is F.scaled_dot_product_attention:
            return detached_attention(*args, **kwargs)
        if func in GATED_ACTIVATIONS:
            return gated(func, args, kwargs)
        return func(*args, **kwargs)


def embedding_norm(model) -> torch.nn.Module:
    """The LayerNorm applied to the summed word, position and type embeddings: its input
    is each token's input vector, where relevance is read off."""
    embeddings = getattr(model.base_model, "embeddings", None)
    norm = getattr(embeddings, "LayerNorm", None) or getattr(embeddings, "layer_norm", None)
    if norm is None:
        raise ConfigError(f"LRP: {type(model).__name__} has no embeddings LayerNorm to read relevance at "
                          "(supported: BERT, RoBERTa, XLM-R, DistilBERT and other BERT-style encoders)")
    return norm


def lrp_relevance(model, inputs: dict, target: int) -> tuple[torch.Tensor, dict]:
    """Relevance of each token of a one-example batch for the `target` logit, and the
    conservation check: logit, token sum, bias share and the relative error."""
    captured = {}

    def make_leaf(module, args):
        captured["x"] = args[0].detach().requires_grad_(True)
        return (captured["x"], *args[1:])

    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    handle = embedding_norm(model).register_forward_pre_hook(make_leaf)
    try:
        with torch.enable_grad(), ConservativeRules():
            logit = model(**inputs).logits[0, target]
        grads = torch.autograd.grad(logit, [captured["x"], *biases], allow_unused=True)
    finally:
        handle.remove()
    x = captured["x"]
    relevance = (x * grads[0]).sum(-1)[0].detach()
    bias_relevance = sum(float((b.detach() * g).sum()) for b, g in zip(biases, grads[1:]) if g is not None)
    value = float(logit.detach())
    error = abs(float(relevance.sum()) + bias_relevance - value) / max(1.0, abs(value))
    return relevance, {"logit": value, "token_relevance": float(relevance.sum()), "bias_relevance": bias_relevance,
                       "conservation_error": error}
