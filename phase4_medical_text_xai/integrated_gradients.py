"""Integrated Gradients (Sundararajan et al. 2017) with captum's LayerIntegratedGradients.

Attributions are taken at the word-embedding layer for the explained class's logit (not
its softmax probability, which saturates and would make the path integral tell less).
The baseline keeps the special tokens (`<s>`, `</s>`, `[CLS]`, `[SEP]`) and replaces every
other token by padding, so it differs from the input in content only. RoBERTa derives its
position ids from the token ids (padding gets the padding position), which would give the
baseline other positions than the input; the input's own position ids are therefore
recorded once and passed explicitly to every forward pass, input, path and baseline alike.
Completeness (sum of attributions = f(x) - f(baseline)) holds up to the convergence delta
that captum reports, which each explanation records. `adaptive_integrated_gradients`
makes that gap a bound instead of a by-product: it starts with few path points and
doubles them until |delta| is at most a share of |f(x) - f(baseline)| (Sundararajan et
al. 2017 check completeness to within 5%; the default here is 1%), so easy examples cost
few passes and no example is reported less complete than asked.
"""
from __future__ import annotations

import inspect
from typing import Optional

import torch
from captum.attr import LayerIntegratedGradients


def special_token_mask(tokenizer, input_ids: torch.Tensor) -> torch.Tensor:
    """True at `<s>`/`</s>`/`[CLS]`/`[SEP]`/padding of a one-example batch."""
    flags = tokenizer.get_special_tokens_mask(input_ids[0].tolist(), already_has_special_tokens=True)
    return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)


def baseline_ids(tokenizer, input_ids: torch.Tensor) -> torch.Tensor:
    if tokenizer.pad_token_id is None:
        raise ValueError("Integrated Gradients needs a padding token for its baseline")
    special = special_token_mask(tokenizer, input_ids)
    return torch.where(special, input_ids[0], torch.full_like(input_ids[0], tokenizer.pad_token_id))[None]


def recorded_position_ids(model, inputs: dict) -> Optional[torch.Tensor]:
    """The position ids the model computes for `inputs` itself, or None for a model with no
    learned position embedding (or no `position_ids` argument)."""
    positions = getattr(getattr(model.base_model, "embeddings", None), "position_embeddings", None)
    if positions is None or "position_ids" not in inspect.signature(model.forward).parameters:
        return None
    captured = {}

    def record(module, args, output) -> None:  # returns None: the output is left as it is
        captured["ids"] = args[0]

    handle = positions.register_forward_hook(record)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    return captured["ids"].expand_as(inputs["input_ids"]).clone()


def integrated_gradients(model, tokenizer, inputs: dict, target: int, steps: int = 50,
                         internal_batch_size: int = 16, method: str = "gausslegendre") -> tuple[torch.Tensor, dict]:
    """Per-token attributions of a one-example batch for the `target` logit, and the
    completeness check: f(x), f(baseline), the attribution sum and captum's delta.
    `steps` path points under captum's integration rule `method`, `internal_batch_size`
    of them per forward and backward pass."""
    extra_names = [name for name in ("attention_mask", "token_type_ids") if name in inputs]
    extras = [inputs[name] for name in extra_names]
    positions = recorded_position_ids(model, inputs)
    if positions is not None:
        extra_names.append("position_ids")
        extras.append(positions)

    def forward(input_ids, *extra):
        return model(input_ids=input_ids, **dict(zip(extra_names, extra))).logits

    baseline = baseline_ids(tokenizer, inputs["input_ids"])
    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions, delta = explainer.attribute(inputs["input_ids"], baselines=baseline, target=target,
                                              additional_forward_args=tuple(extras), n_steps=steps,
                                              method=method, internal_batch_size=internal_batch_size,
                                              return_convergence_delta=True)
    with torch.no_grad():
        f_input = float(forward(inputs["input_ids"], *extras)[0, target])
        f_baseline = float(forward(baseline, *extras)[0, target])
    token_attributions = attributions.sum(-1)[0].detach()
    return token_attributions, {"logit": f_input, "baseline_logit": f_baseline,
                                "attribution_sum": float(token_attributions.sum()), "delta": float(delta[0])}


def adaptive_integrated_gradients(model, tokenizer, inputs: dict, target: int, steps: int = 32,
                                  internal_batch_size: int = 16, method: str = "gausslegendre",
                                  tolerance: float = 0.01, max_steps: int = 512) -> tuple[torch.Tensor, dict]:
    """`integrated_gradients` with `steps`, 2 x `steps`, ... path points (at most
    `max_steps`) until |delta| <= `tolerance` x max(|f(x) - f(baseline)|, 0.1) (a
    difference near zero would otherwise ask for an exactness no rule reaches); `tolerance`
    0 runs `steps` once. The check records the steps used and whether the bound was met."""
    while True:
        attributions, check = integrated_gradients(model, tokenizer, inputs, target, steps, internal_batch_size, method)
        bound = tolerance * max(abs(check["logit"] - check["baseline_logit"]), 0.1)
        check.update(steps=steps, within_tolerance=bool(tolerance == 0 or abs(check["delta"]) <= bound))
        if check["within_tolerance"] or steps * 2 > max_steps:
            return attributions, check
        steps *= 2
