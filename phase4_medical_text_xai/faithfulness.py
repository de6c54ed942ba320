"""Faithfulness of token attributions: deletion and insertion curves.

For one explained example, the tokens of its text that the model read (never `<s>`, `</s>`
and the like) are ranked by attribution. Deletion replaces the top fraction k of them by
the mask token and follows the explained class's probability as k grows from 0 to 1;
insertion starts with every content token masked and reveals the top fraction k. A text
read as several windows (long_inputs chunks) has a token hidden in every window that
holds it, and its probability is that of the windows' pooled logits, as in training. A faithful ranking makes the
probability fall fast under deletion and rise fast under insertion. Scores per example
(DeYoung et al. 2020, ERASER; Samek et al. 2017, AOPC):

- comprehensiveness = mean over k > 0 of p(x) - p(x without the top k)   (higher: better)
- sufficiency       = mean over k > 0 of p(x) - p(only the top k)         (lower: better)
- deletion AUC, insertion AUC: trapezoidal areas under the two curves over k in [0, 1].

A random ranking is scored the same way as the reference any method must beat.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

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


def window_probabilities(model, windows: Sequence[Sequence[int]], positions: Sequence[Sequence[int]], target: int,
                         replacement_id: int, pad_id: int, pooling: str = "mean",
                         rows_per_pass: int = 32) -> Callable[[list[np.ndarray]], np.ndarray]:
    """For a text read as `windows` (each window's input ids, and the text token each of its
    positions holds in `positions`, -1 for a special token): a function that, given sets of
    text tokens to hide, replaces them by `replacement_id` in every window that holds them,
    scores every window, pools each text's windows' logits (`pooling`, as in training)
    and returns the probability of class `target` for each set."""
    import torch  # here, not at import: the report reads METRICS without torch

    from phase4_medical_text_xai.long_inputs import pool_logits

    def probabilities(hidden_sets: list[np.ndarray]) -> np.ndarray:
        rows, owners = [], []
        for number, hidden in enumerate(hidden_sets):
            hide = set(np.asarray(hidden).tolist())
            for ids, held in zip(windows, positions):
                rows.append([replacement_id if p in hide else t for t, p in zip(ids, held)])
                owners.append(number)
        width = max(len(row) for row in rows)
        input_ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows])
        attention_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        device = next(model.parameters()).device
        with torch.no_grad():
            logits = torch.cat([model(input_ids=input_ids[i:i + rows_per_pass].to(device),
                                      attention_mask=attention_mask[i:i + rows_per_pass].to(device)).logits.float()
                                for i in range(0, len(rows), rows_per_pass)])
        pooled = pool_logits(logits, torch.tensor(owners, device=logits.device), len(hidden_sets), pooling)
        return torch.softmax(pooled, -1)[:, target].cpu().numpy()

    return probabilities


def perturbation_curves(probabilities: Callable[[list[np.ndarray]], np.ndarray], scores: np.ndarray,
                        content: np.ndarray, fractions: Sequence[float]) -> dict:
    """Deletion and insertion curves of one ranking, and the four scores above;
    `probabilities(hidden_sets)` is the explained class's probability with each set of
    token positions hidden (`window_probabilities`)."""
    order = rank_tokens(scores, content)
    deleted = deleted_positions(order, fractions)
    both = probabilities(deleted + [np.setdiff1d(order, removed) for removed in deleted])
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
