"""How sure a score is: bootstrap intervals over the test examples, and the paired test of
two runs on the same examples (SciPy's `bootstrap` and `permutation_test`).

A test score is an estimate from a finite sample of examples; the 95% percentile-bootstrap
interval resamples those examples (with replacement, seeded) and reads the 2.5th and
97.5th percentiles of the score (Efron & Tibshirani 1993). Where examples come in clusters
that move together (the stocks of one trading day), resampling examples treats them as
independent and gives intervals that are too narrow: `cluster_bootstrap_intervals`
resamples whole clusters instead (the cluster bootstrap, Cameron, Gelbach & Miller 2008). Two runs scored on the same
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


def matthews(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """Matthews correlation of a two-class task (label 1 the positive class), vectorized;
    0 where a count of the confusion matrix makes it undefined (scikit-learn's convention)."""
    tp, tn = np.sum((y_true == 1) & (y_pred == 1), axis=axis), np.sum((y_true == 0) & (y_pred == 0), axis=axis)
    fp, fn = np.sum((y_true == 0) & (y_pred == 1), axis=axis), np.sum((y_true == 1) & (y_pred == 0), axis=axis)
    return mcc_from_counts(tp, tn, fp, fn)


def mcc_from_counts(tp, tn, fp, fn) -> np.ndarray:
    tp, tn, fp, fn = (np.asarray(x, dtype=float) for x in (tp, tn, fp, fn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.where(denominator > 0, (tp * tn - fp * fn) / np.where(denominator > 0, denominator, 1), 0.0)


def scorers(n_labels: int) -> dict[str, Callable]:
    """The bootstrapped scores: accuracy, macro-F1 and, for two classes, MCC (a market task's measure)."""
    return {"accuracy": accuracy, "f1_macro": macro_f1(n_labels), **({"mcc": matthews} if n_labels == 2 else {})}


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


def cluster_counts(y_true: np.ndarray, y_pred: np.ndarray, members: np.ndarray, size: int,
                   n_labels: int) -> dict[str, np.ndarray]:
    """Per cluster (rows) and label (columns): examples of the label, predictions of it, and
    correct predictions of it; every score here is a function of their sums."""
    counts = {name: np.zeros((size, n_labels)) for name in ("true", "pred", "correct")}
    np.add.at(counts["true"], (members, y_true), 1)
    np.add.at(counts["pred"], (members, y_pred), 1)
    hits = y_true == y_pred
    np.add.at(counts["correct"], (members[hits], y_true[hits]), 1)
    return counts


def count_scores(true: np.ndarray, pred: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 (over the labels that occur in the truth or the predictions) and,
    for two labels, MCC, from summed counts (resamples x labels)."""
    n = true.sum(-1)
    occurs = true + pred > 0
    f1 = np.where(occurs, 2 * correct / np.maximum(true + pred, 1), 0.0)
    scores = {"accuracy": correct.sum(-1) / np.maximum(n, 1), "f1_macro": f1.sum(-1) / np.maximum(occurs.sum(-1), 1)}
    if true.shape[-1] == 2:
        tp, fn, fp = correct[..., 1], true[..., 1] - correct[..., 1], pred[..., 1] - correct[..., 1]
        scores["mcc"] = mcc_from_counts(tp, n - tp - fn - fp, fp, fn)
    return scores


def percentile_interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def cluster_draws(size: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each of `size` clusters is drawn in each resample (resamples x clusters)."""
    return np.random.default_rng(seed).multinomial(size, np.full(size, 1 / size), size=n_resamples)


def cluster_bootstrap_intervals(y_true: Sequence[int], y_pred: Sequence[int], clusters: Sequence, n_labels: int, *,
                                n_resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> dict:
    """As `bootstrap_intervals`, resampling whole clusters (e.g. the trading day of a stock-day)
    with replacement, each resample as many clusters as there are; also `"clusters"`, their
    number. A resample's scores come from the clusters' counts (`cluster_counts`), weighted by
    how often each cluster was drawn."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ids, members = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    counts = cluster_counts(y_true, y_pred, members, len(ids), n_labels)
    draws = cluster_draws(len(ids), n_resamples, seed)
    scores = count_scores(*(draws @ counts[name] for name in ("true", "pred", "correct")))
    intervals: dict = {"level": level, "resamples": n_resamples, "seed": seed, "clusters": int(len(ids))}
    intervals.update({name: percentile_interval(values, level) for name, values in scores.items()})
    return intervals


def compare_clustered(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], clusters: Sequence,
                      n_labels: int, *, metric: str = "f1_macro", n_resamples: int = 10000, seed: int = 0,
                      level: float = LEVEL) -> dict:
    """`compare_predictions` for examples in clusters that move together: the interval of A - B
    resamples whole clusters, and the permutation test swaps the two runs' predictions
    cluster by cluster."""
    y_true, pred_a, pred_b = map(np.asarray, (y_true, pred_a, pred_b))
    ids, members = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    a = cluster_counts(y_true, pred_a, members, len(ids), n_labels)
    b = cluster_counts(y_true, pred_b, members, len(ids), n_labels)

    def score(weights: np.ndarray, counts: dict) -> np.ndarray:
        return count_scores(weights @ counts["true"], weights @ counts["pred"], weights @ counts["correct"])[metric]

    every = np.ones(len(ids))
    score_a, score_b = float(score(every, a)), float(score(every, b))
    observed = score_a - score_b
    draws = cluster_draws(len(ids), n_resamples, seed)
    differences = score(draws, a) - score(draws, b)
    swaps = np.random.default_rng(seed + 1).integers(0, 2, size=(n_resamples, len(ids)))
    swapped = {name: (1 - swaps) @ a[name] + swaps @ b[name] for name in ("true", "pred", "correct")}
    other = {name: swaps @ a[name] + (1 - swaps) @ b[name] for name in ("true", "pred", "correct")}
    permuted = count_scores(*swapped.values())[metric] - count_scores(*other.values())[metric]
    p_value = (np.sum(np.abs(permuted) >= abs(observed) - 1e-12) + 1) / (n_resamples + 1)
    return {"metric": metric, "a": score_a, "b": score_b, "difference": observed,
            "interval": percentile_interval(differences, level), "p_value": float(min(p_value, 1.0)),
            "n": int(len(y_true)), "clusters": int(len(ids)), "resamples": n_resamples, "seed": seed,
            "level": level}


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
