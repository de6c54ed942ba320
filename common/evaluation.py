"""Evaluation of a classifier on its `Splits`: before and after training, and the final
report. Examples are text `Example`s unless a phase passes its own loader and columns.

Final evaluation: validation and test metrics; the extra test sets (for Financial
PhraseBank, the test split of every agreement level); per-group metrics where examples
carry a group (for multilingual data, the language) computed on each group's rows
alone; per-example predictions; the misclassified test examples, most confident first,
for error analysis; a confusion-matrix plot and, with groups, a per-group bar chart.

With `evaluate_test` false (tuning trials) the test split is never encoded or scored:
hyperparameters are chosen on validation data only.

Test sets that share inputs (Financial PhraseBank's agreement levels hold the same
sentences with their own labels) are pooled: each distinct input is encoded and scored
once, and every set's metrics are computed from its rows of the pooled logits.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax
from torch.utils.data import DataLoader

from common.batching import EncodedDataset, encode_texts, make_eval_loader
from common.training_steps import evaluate, predict, score_logits
from common.metrics import compute_metrics, prefix_metrics
from common.plots import plot_confusion_matrix, plot_group_scores, plot_predicted_scores
from common.records import write_csv
from common.regression import evaluate_regression
from common.splits import Splits
from common.uncertainty import bootstrap_intervals, cluster_bootstrap_intervals, regression_intervals
from common.splits import Example


def encode_examples(tokenizer, examples: Sequence[Example], max_length: int) -> EncodedDataset:
    pairs = [e.pair or "" for e in examples] if any(e.pair for e in examples) else None
    return encode_texts(tokenizer, [e.text for e in examples], [e.label for e in examples], max_length, pairs)


Columns = Callable[[Sequence], dict[str, list]]  # examples -> the columns that describe them
POOL = "pooled test sets"  # the loader of the pooled test sets' distinct inputs


def text_columns(examples: Sequence[Example]) -> dict[str, list]:
    """A text example's columns of predictions.csv: its text, its pair and group where there are any."""
    columns = {"text": [e.text for e in examples]}
    if any(e.pair for e in examples):
        columns["text_pair"] = [e.pair for e in examples]
    if any(e.group for e in examples):
        columns["group"] = [e.group for e in examples]
    return columns


def prediction_frame(examples: Sequence, logits: np.ndarray, label_names: Sequence[str],
                     columns: Columns = text_columns) -> pd.DataFrame:
    """One row per example: `columns(examples)`, then label, prediction, confidence and every probability."""
    probs = softmax(logits, axis=-1)
    labels = [label_names[e.label] for e in examples]
    predictions = [label_names[i] for i in probs.argmax(-1)]
    data = {**columns(examples), "label": labels, "prediction": predictions, "confidence": probs.max(-1).round(4),
            "correct": [label == prediction for label, prediction in zip(labels, predictions)]}
    data.update({f"prob_{name}": probs[:, i].round(4) for i, name in enumerate(label_names)})
    return pd.DataFrame(data)  # built at once: one column at a time is slow with many classes


def score_groups(examples: Sequence, logits: np.ndarray, label_names: Sequence[str]) -> dict[str, dict]:
    """Accuracy, macro-F1 and the predicted share of the commonest prediction of each group,
    on that group's rows only (in first-seen order)."""
    groups = list(dict.fromkeys(e.group for e in examples if e.group is not None))
    labels = np.array([e.label for e in examples])
    predictions = logits.argmax(-1)
    scores = {}
    for group in groups:
        rows = np.array([e.group == group for e in examples])
        metrics = compute_metrics(labels[rows], predictions[rows], label_names)
        scores[group] = {k: metrics[k] for k in ("accuracy", "f1_macro", "n")}
        # A model can be fine on the pooled rows and predict one class for a whole group.
        counts = np.bincount(predictions[rows], minlength=len(label_names))
        scores[group]["top_prediction"] = {"label": label_names[int(counts.argmax())],
                                           "share": float(counts.max() / max(rows.sum(), 1))}
    return scores


class Evaluator:
    """Encodes each evaluation set once and evaluates any model on it.

    The class attributes say what `common.fit` keeps of a validation pass: the score that
    picks the best epoch (higher is better) and the scores each history row records; an
    evaluator of another kind of output (a regression, generated text) names its own."""

    selection_metric = "f1_macro"
    history_metrics = ("accuracy", "f1_macro")
    headline = ("f1_macro", "macro-F1")  # the score the run's last line names, and its name
    pools_test_sets = True  # an evaluator whose `run` reads `loaders[name]` itself sets this false

    def __init__(self, splits: Splits, tokenizer, cfg, device: torch.device, amp_dtype: Optional[torch.dtype],
                 make_loader: Optional[Callable[[Sequence], DataLoader]] = None, columns: Columns = text_columns):
        """`make_loader(examples)` builds an evaluation loader (dataset order kept by its
        sampler) and `columns(examples)` describes examples in predictions.csv; the
        defaults are for text examples."""
        self.splits, self.cfg, self.device, self.amp_dtype, self.columns = splits, cfg, device, amp_dtype, columns
        self.best_results: dict[str, tuple[dict, np.ndarray]] = {}  # see keep_best
        self.test_splits = ("test",) if cfg.evaluate_test else ()
        sets = {"val": splits.val}
        if cfg.evaluate_test:
            sets.update({"test": splits.test, **splits.extra_tests})
        # An extra test set that is the test split itself is neither encoded nor scored twice.
        self.same_as_test = {name for name, examples in splits.extra_tests.items() if examples is splits.test}
        self.examples = {name: examples[:cfg.max_eval_samples] for name, examples in sets.items()
                         if name not in self.same_as_test}
        make_loader = make_loader or (lambda examples: make_eval_loader(
            encode_examples(tokenizer, examples, cfg.max_length), tokenizer, cfg.eval_batch_size, cfg.num_workers))
        self.pooled, pool = self.pool_test_sets()
        self.loaders = {name: make_loader(examples) for name, examples in self.examples.items()
                        if name not in self.pooled}
        if pool:
            self.loaders[POOL] = make_loader(pool)

    def pool_test_sets(self) -> tuple[dict[str, np.ndarray], list]:
        """For test sets that share inputs: each set's rows in a pool of their distinct
        inputs (an example without its label), and that pool; nothing to pool: ({}, [])."""
        names = [name for name in self.examples if name != "val"]
        if not self.pools_test_sets or len(names) < 2 or not all(
                dataclasses.is_dataclass(e) for name in names for e in self.examples[name]):
            return {}, []
        rows, pool, indices = {}, [], {}
        for name in names:
            positions = []
            for example in self.examples[name]:
                key = dataclasses.replace(example, label=None)
                if key not in rows:
                    rows[key] = len(pool)
                    pool.append(example)
                positions.append(rows[key])
            indices[name] = np.array(positions, dtype=np.int64)
        return indices, pool

    def run(self, model, name: str) -> tuple[dict, np.ndarray]:
        """Metrics and logits (dataset order) of the set `name`."""
        if name in self.pooled:
            return self.run_all(model, [name])[name]
        return evaluate(model, self.loaders[name], self.device, self.splits.label_names, amp_dtype=self.amp_dtype,
                        progress=self.cfg.progress, desc=name)

    def run_all(self, model, names: Sequence[str]) -> dict:
        """`run` of each named set; the pooled test sets' inputs are scored once for all of them."""
        results = {name: self.run(model, name) for name in names if name not in self.pooled}
        if any(name in self.pooled for name in names):
            pooled, _ = predict(model, self.loaders[POOL], self.device, amp_dtype=self.amp_dtype,
                                progress=self.cfg.progress, desc="test sets")
            for name in (n for n in names if n in self.pooled):
                logits = pooled[self.pooled[name]]
                labels = np.array([e.label for e in self.examples[name]])
                results[name] = score_logits(logits, labels, self.splits.label_names), logits
        return {name: results[name] for name in names}

    def before_training(self, model) -> dict:
        """Scores of the untrained model (a new head, a base model's own output): the
        'before' column of before/after tables."""
        scores = {}
        for name, (metrics, _) in self.run_all(model, ["val", *self.test_splits]).items():
            scores.update({f"before_{name}_{key}": metrics[key] for key in self.history_metrics})
        return scores

    def keep_best(self, name: str, result: tuple[dict, np.ndarray]) -> None:
        """`run`'s result on set `name` for the epoch `fit` keeps as best: `final` takes it
        instead of scoring the reloaded best checkpoint on that set again (same weights, same
        examples, same scores)."""
        self.best_results[name] = result

    def final(self, model, run_dir: Path, title: str) -> dict:
        """Evaluate the selected model; write predictions, error analysis and plots; return metrics
        (with the 95% bootstrap intervals of the test accuracy and macro-F1, common/uncertainty.py).
        Validation scores kept by `keep_best` during training are reused, not recomputed."""
        label_names = self.splits.label_names
        metrics, group_scores = {}, {}
        extras = [name for name in self.splits.extra_tests if name not in self.same_as_test] if self.test_splits else []
        wanted = ["val", *self.test_splits, *extras]
        results = {**self.best_results, **self.run_all(model, [n for n in wanted if n not in self.best_results])}
        for name in ("val", *self.test_splits):
            split_metrics, logits = results[name]
            metrics.update(prefix_metrics(split_metrics, name))
            groups = score_groups(self.examples[name], logits, label_names)
            if groups:
                group_scores[name] = groups
                for group, scores in groups.items():
                    metrics[f"{name}_{group}_accuracy"] = scores["accuracy"]
                    metrics[f"{name}_{group}_f1_macro"] = scores["f1_macro"]
                # Pooled macro-F1 weighs groups by their size; this mean weighs them equally.
                metrics[f"{name}_f1_macro_group_mean"] = float(np.mean([s["f1_macro"] for s in groups.values()]))
        if group_scores:
            metrics["groups"] = group_scores
            plot_group_scores(group_scores, run_dir / "group_scores.png", title=f"{title}: macro-F1 per group")
        if not self.test_splits:
            return metrics
        test_metrics, test_logits = results["test"]
        # How sure the test scores are: a seeded bootstrap over the test examples, or over their
        # clusters (e.g. trading days) where the examples name one: those move together.
        truth, clusters = [e.label for e in self.examples["test"]], [getattr(e, "cluster", None)
                                                                     for e in self.examples["test"]]
        if all(cluster is not None for cluster in clusters) and clusters:
            intervals = cluster_bootstrap_intervals(truth, test_logits.argmax(-1), clusters, len(label_names))
        else:
            intervals = bootstrap_intervals(truth, test_logits.argmax(-1), len(label_names))
        metrics["test_accuracy_ci"], metrics["test_f1_macro_ci"] = intervals.pop("accuracy"), intervals.pop("f1_macro")
        if "mcc" in intervals:
            metrics["test_mcc_ci"] = intervals.pop("mcc")
        metrics["test_intervals"] = intervals  # level, resamples, seed (and clusters, where resampled by cluster)
        test_sets = {}
        for name in self.splits.extra_tests:
            extra = test_metrics if name in self.same_as_test else results[name][0]
            test_sets[name] = {k: extra[k] for k in ("accuracy", "f1_macro", "n")}
            metrics[f"test_{name.lower()}_accuracy"] = extra["accuracy"]
            metrics[f"test_{name.lower()}_f1_macro"] = extra["f1_macro"]
        if test_sets:
            metrics["test_sets"] = test_sets
        predictions = prediction_frame(self.examples["test"], test_logits, label_names, self.columns)
        write_csv(run_dir / "predictions.csv", predictions)
        errors = predictions[~predictions["correct"]].sort_values("confidence", ascending=False)
        write_csv(run_dir / "misclassified.csv", errors)
        plot_confusion_matrix(test_metrics["confusion_matrix"], label_names, run_dir / "confusion_matrix.png",
                              title=f"{title}: test (n={test_metrics['n']})")
        return metrics


def summarize_scores(metrics: dict, headline: tuple[str, str] = Evaluator.headline) -> str:
    """One line for the end of a run: the `headline` score (key, name) on validation, and on
    test where it was scored."""
    key, name = headline
    parts = [f"val {name} {metrics[f'val_{key}']:.4f}"]
    if f"test_{key}" in metrics:
        accuracy = f"test accuracy {metrics['test_accuracy']:.4f}, " if "test_accuracy" in metrics else ""
        parts.append(f"{accuracy}test {name} {metrics[f'test_{key}']:.4f}")
        if f"before_test_{key}" in metrics:
            parts.append(f"before training {metrics[f'before_test_{key}']:.4f}")
    return "; ".join(parts)


class RegressionEvaluator(Evaluator):
    """An `Evaluator` of a model with one output per example, a score (the examples' labels
    are floats): MSE, R², MAE and Pearson's r; the best epoch has the highest validation R²."""

    selection_metric = "r2"
    history_metrics = ("mse", "r2")
    headline = ("r2", "R²")
    pools_test_sets = False  # scores come from `evaluate_regression` on each split's loader

    def run(self, model, name: str) -> tuple[dict, np.ndarray]:
        return evaluate_regression(model, self.loaders[name], self.device, amp_dtype=self.amp_dtype,
                                   progress=self.cfg.progress, desc=name)

    def final(self, model, run_dir: Path, title: str) -> dict:
        """Validation and test scores, the 95% bootstrap intervals of the test MSE and R²,
        predictions.csv (gold score, prediction, error) and a scatter plot of the test split."""
        metrics, results = {}, {}
        for name in ("val", *self.test_splits):
            split_metrics, results[name] = self.run(model, name)
            metrics.update(prefix_metrics(split_metrics, name))
        if not self.test_splits:
            return metrics
        gold = np.array([e.label for e in self.examples["test"]], dtype=float)
        intervals = regression_intervals(gold, results["test"])
        metrics["test_mse_ci"], metrics["test_r2_ci"] = intervals.pop("mse"), intervals.pop("r2")
        metrics["test_intervals"] = intervals
        frame = pd.DataFrame(self.columns(self.examples["test"]))
        frame["score"], frame["prediction"] = gold.round(4), results["test"].round(4)
        frame["error"] = (frame["prediction"] - frame["score"]).round(4)
        write_csv(run_dir / "predictions.csv", frame)
        plot_predicted_scores(gold, results["test"], run_dir / "predicted_scores.png",
                              title=f"{title}: test (n={len(gold)}, R² {metrics['test_r2']:.3f})")
        return metrics

