"""Multi-seed confirmation: is the tuned configuration better than the default by more
than seed noise?

Both configurations are re-run with the same seeds (common/sweep.py `rerun`), each scoring
the test split once. Per configuration: the per-seed scores, their mean and sample
standard deviation. Between them: the difference of means, its standard error
sqrt(s1^2/n1 + s2^2/n2), and Welch's t-test; the gain counts as real only when it exceeds
two standard errors (with three seeds a rough bar, and said to be one).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Sequence

from scipy import stats

from common.records import read_json

METRICS = ("test_f1_macro", "test_accuracy", "test_f1_macro_group_mean", "val_f1_macro")


def summarize_seeds(run_dirs: Sequence[Path], metrics: Sequence[str] = METRICS) -> dict:
    """Per-seed values, mean and sample std (0 for a single seed) of each metric."""
    records = [read_json(Path(run) / "metrics.json") for run in run_dirs]
    seeds = [read_json(Path(run) / "config.json")["config"]["seed"] for run in run_dirs]
    summary = {"seeds": seeds, "runs": [str(run) for run in run_dirs]}
    for metric in metrics:
        values = [record[metric] for record in records if metric in record]
        if values:
            summary[metric] = {"values": values, "mean": statistics.mean(values),
                               "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return summary


def compare(best: dict, default: dict, metric: str = "test_f1_macro") -> dict:
    """Difference of means, its standard error, Welch's t-test, and the verdict."""
    a, b = best[metric]["values"], default[metric]["values"]
    diff = statistics.mean(a) - statistics.mean(b)
    se = math.sqrt(best[metric]["std"] ** 2 / len(a) + default[metric]["std"] ** 2 / len(b))
    p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue) if len(a) > 1 and len(b) > 1 and se > 0 else None
    return {"metric": metric, "difference": diff, "standard_error": se, "welch_p_value": p_value,
            "gain_exceeds_two_standard_errors": bool(se > 0 and diff > 2 * se)}
