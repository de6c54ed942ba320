"""Faithfulness of token attributions: deletion and insertion curves.

For one explained example, the content tokens (all but `<s>`, `</s>` and the like) are
ranked by attribution. Deletion replaces the top fraction k of them by the mask token and
follows the explained class's probability as k grows from 0 to 1; insertion starts with
every content token masked and reveals the top fraction k. A faithful ranking makes the
probability fall fast under deletion and rise fast under insertion. Scores per example
(DeYoung et al. 2020, ERASER; Samek et al. 2017, AOPC):

- comprehensiveness = mean over k > 0 of p(x) - p(x without the top k)   (higher: better)
- sufficiency       = mean over k > 0 of p(x) - p(only the top k)         (lower: better)
- deletion AUC, insertion AUC: trapezoidal areas under the two curves over k in [0, 1].

A random ranking is scored the same way as the reference any method must beat.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

METRICS = ("comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc")
HIGHER_IS_BETTER = {"comprehensiveness": True, "sufficiency": False, "deletion_auc": False, "insertion_auc": True}


def rank_tokens(scores: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Positions of content tokens, highest attribution first (ties keep text order)."""
    positions = np.flatnonzero(content)
    return positions[np.argsort(-scores[positions], kind="stable")]


def deleted_positions(order: np.ndarray, fractions: Sequence[float]) -> list[np.ndarray]:
    """The positions removed at each fraction: the top round(k * n) of the ranking, so each
    step removes everything the previous one did and more."""
    return [order[:int(round(k * len(order)))] for k in fractions]


def perturbed_inputs(input_ids: torch.Tensor, order: np.ndarray, fractions: Sequence[float],
                     replacement_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(deletion batch, insertion batch), one row per fraction, from a one-example batch."""
    ids = input_ids[0]
    deletion, insertion = [], []
    for removed in deleted_positions(order, fractions):
        deleted = ids.clone()
        deleted[torch.as_tensor(removed, dtype=torch.long)] = replacement_id
        deletion.append(deleted)
        hidden = np.setdiff1d(order, removed)
        inserted = ids.clone()
        inserted[torch.as_tensor(hidden, dtype=torch.long)] = replacement_id
        insertion.append(inserted)
    return torch.stack(deletion), torch.stack(insertion)


def class_probabilities(model, inputs: dict, batch_ids: torch.Tensor, target: int) -> np.ndarray:
    extra = {k: v.expand(len(batch_ids), -1) for k, v in inputs.items() if k != "input_ids"}
    with torch.no_grad():
        logits = model(input_ids=batch_ids, **extra).logits.float()
    return torch.softmax(logits, -1)[:, target].cpu().numpy()


def perturbation_curves(model, inputs: dict, target: int, scores: np.ndarray, content: np.ndarray,
                        fractions: Sequence[float], replacement_id: int) -> dict:
    """Deletion and insertion curves of one ranking, and the four scores above."""
    order = rank_tokens(scores, content)
    deletion_ids, insertion_ids = perturbed_inputs(inputs["input_ids"], order, fractions, replacement_id)
    both = class_probabilities(model, inputs, torch.cat([deletion_ids, insertion_ids]), target)
    deletion, insertion = both[:len(fractions)], both[len(fractions):]
    full = deletion[0]  # fraction 0: nothing deleted
    return {"deletion": deletion.tolist(), "insertion": insertion.tolist(),
            "comprehensiveness": float(np.mean(full - deletion[1:])),
            "sufficiency": float(np.mean(full - insertion[1:])),
            "deletion_auc": float(np.trapezoid(deletion, fractions)),
            "insertion_auc": float(np.trapezoid(insertion, fractions))}


def summarize(per_example: list[dict], methods: Sequence[str]) -> dict:
    """Mean and standard deviation of each score per method, and the mean curves."""
    summary = {}
    for method in methods:
        rows = [example["faithfulness"][method] for example in per_example]
        entry = {metric: {"mean": float(np.mean([r[metric] for r in rows])),
                          "std": float(np.std([r[metric] for r in rows]))} for metric in METRICS}
        entry["deletion_curve"] = np.mean([r["deletion"] for r in rows], 0).tolist()
        entry["insertion_curve"] = np.mean([r["insertion"] for r in rows], 0).tolist()
        summary[method] = entry
    return summary
