"""How sure a score is: bootstrap intervals over the test examples, and the paired test of
two runs on the same examples (SciPy's `bootstrap` and `permutation_test`).

A test score is an estimate from a finite sample of examples; the 95% percentile-bootstrap
interval resamples those examples (with replacement, seeded) and reads the 2.5th and
97.5th percentiles of the score (Efron & Tibshirani 1993). Two runs scored on the same
examples are compared pairwise: the interval of the difference resamples examples with
both runs' predictions together, and the p-value is that of a paired permutation test,
which swaps the two runs' predictions example by example (approximate randomization, the
test Dror et al. 2018 recommend for comparing NLP models).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import stats

RESAMPLES = 1000
LEVEL = 0.95


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y_true == y_pred, axis=axis)


def macro_f1(n_labels: int) -> Callable:
    """Macro-F1 over those of `n_labels` classes that occur in the (resampled) truth or
    predictions, vectorized along `axis` (resamples in the leading axes), as
    `common.metrics.compute_metrics` averages it."""
    def score(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
        f1_sum = present = 0
        for label in range(n_labels):
            true, pred = y_true == label, y_pred == label
            tp = np.sum(true & pred, axis=axis)
            wrong = np.sum(true ^ pred, axis=axis)  # false positives + false negatives
            occurs = 2 * tp + wrong > 0
            f1_sum = f1_sum + np.where(occurs, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)
            present = present + occurs
        return f1_sum / np.maximum(present, 1)
    return score


def scorers(n_labels: int) -> dict[str, Callable]:
    return {"accuracy": accuracy, "f1_macro": macro_f1(n_labels)}


def bootstrap_intervals(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int, *,
                        n_resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> dict:
    """`{"accuracy": [low, high], "f1_macro": [low, high], "level", "resamples", "seed"}`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    intervals: dict = {"level": level, "resamples": n_resamples, "seed": seed}
    for name, score in scorers(n_labels).items():
        result = stats.bootstrap((y_true, y_pred), score, paired=True, vectorized=True, n_resamples=n_resamples,
                                 confidence_level=level, method="percentile", batch=100,
                                 rng=np.random.default_rng(seed))
        intervals[name] = [float(result.confidence_interval.low), float(result.confidence_interval.high)]
    return intervals


def squared_error(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean((y_true - y_pred) ** 2, axis=axis)


def r_squared(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    residual = np.sum((y_true - y_pred) ** 2, axis=axis)
    total = np.sum((y_true - np.mean(y_true, axis=axis, keepdims=True)) ** 2, axis=axis)
    return 1 - residual / np.maximum(total, 1e-12)


def regression_intervals(y_true: Sequence[float], y_pred: Sequence[float], *, n_resamples: int = RESAMPLES,
                         seed: int = 0, level: float = LEVEL) -> dict:
    """`{"mse": [low, high], "r2": [low, high], "level", "resamples", "seed"}`: the percentile
    bootstrap of a regression's test scores, resampling examples as `bootstrap_intervals` does."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    intervals: dict = {"level": level, "resamples": n_resamples, "seed": seed}
    for name, score in (("mse", squared_error), ("r2", r_squared)):
        result = stats.bootstrap((y_true, y_pred), score, paired=True, vectorized=True, n_resamples=n_resamples,
                                 confidence_level=level, method="percentile", batch=100,
                                 rng=np.random.default_rng(seed))
        intervals[name] = [float(result.confidence_interval.low), float(result.confidence_interval.high)]
    return intervals


def mean_intervals(values: dict[str, np.ndarray], *, n_resamples: int = RESAMPLES, seed: int = 0,
                   level: float = LEVEL) -> dict:
    """`{name: [low, high], "level", "resamples", "seed"}`: the percentile bootstrap of the mean
    of each array of per-example scores (e.g. exact match, token F1), resampling examples."""
    intervals: dict = {"level": level, "resamples": n_resamples, "seed": seed}
    for name, scores in values.items():
        result = stats.bootstrap((np.asarray(scores, dtype=float),), np.mean, vectorized=True,
                                 n_resamples=n_resamples, confidence_level=level, method="percentile",
                                 rng=np.random.default_rng(seed))
        intervals[name] = [float(result.confidence_interval.low), float(result.confidence_interval.high)]
    return intervals


def compare_predictions(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], n_labels: int, *,
                        metric: str = "f1_macro", n_resamples: int = 10000, seed: int = 0,
                        level: float = LEVEL) -> dict:
    """Run A minus run B on the same examples: the difference, its paired bootstrap interval
    and the two-sided p-value of the paired permutation test."""
    y_true, pred_a, pred_b = map(np.asarray, (y_true, pred_a, pred_b))
    score = scorers(n_labels)[metric]

    def difference(a: np.ndarray, b: np.ndarray, *rest, axis: int = -1) -> np.ndarray:
        truth = rest[0] if rest else y_true  # the bootstrap resamples the truth with the predictions
        return score(truth, a, axis=axis) - score(truth, b, axis=axis)

    observed = float(difference(pred_a, pred_b))
    if np.array_equal(pred_a, pred_b):  # no swap can change anything: the test is degenerate
        return {"metric": metric, "a": float(score(y_true, pred_a)), "b": float(score(y_true, pred_b)),
                "difference": 0.0, "interval": [0.0, 0.0], "p_value": 1.0, "n": int(len(y_true)),
                "resamples": n_resamples, "seed": seed, "level": level}
    interval = stats.bootstrap((pred_a, pred_b, y_true), difference, paired=True, vectorized=True,
                               n_resamples=n_resamples, confidence_level=level, method="percentile", batch=500,
                               rng=np.random.default_rng(seed)).confidence_interval
    test = stats.permutation_test((pred_a, pred_b), difference, permutation_type="samples", vectorized=True,
                                  n_resamples=n_resamples, batch=500, rng=np.random.default_rng(seed + 1))
    return {"metric": metric, "a": float(score(y_true, pred_a)), "b": float(score(y_true, pred_b)),
            "difference": observed, "interval": [float(interval.low), float(interval.high)],
            "p_value": float(test.pvalue), "n": int(len(y_true)), "resamples": n_resamples, "seed": seed,
            "level": level}
