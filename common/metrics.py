"""Classification metrics, all computed by scikit-learn.

Macro-F1 is the headline number: the label distributions in these data sets are skewed
(Financial PhraseBank is 59% neutral), and accuracy rewards predicting the majority class.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro/micro/weighted F1, Matthews correlation (MCC, the measure of market
    movement tasks; scikit-learn's multiclass form beyond two classes), per-class
    precision/recall/F1/support, confusion matrix.

    Every class in `label_names` is reported, also when absent from `y_true`, so tables
    from different splits line up. The macro averages are over the classes that occur in
    the split or in the predictions (scikit-learn's own default): a class that neither
    occurs nor is predicted has no F1 to average, and with many rare classes (FiQA's 131
    aspect paths) counting it as 0 would measure the split's size, not the model. Micro-F1
    of single-label predictions equals accuracy.
    """
    labels = list(range(len(label_names)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    report = classification_report(y_true, y_pred, labels=labels, target_names=list(label_names),
                                   output_dict=True, zero_division=0)
    averaged = classification_report(y_true, y_pred, labels=present, output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "f1_micro": float(f1_score(y_true, y_pred, labels=present, average="micro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "mcc": matthews_from_confusion(confusion_matrix(y_true, y_pred, labels=labels)),
        "precision_macro": float(averaged["macro avg"]["precision"]),
        "recall_macro": float(averaged["macro avg"]["recall"]),
        "per_class": {name: {k: float(v) for k, v in report[name].items()} for name in label_names},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def matthews_from_confusion(matrix) -> float:
    """Matthews correlation from a confusion matrix (rows true, columns predicted), the
    multiclass form scikit-learn's `matthews_corrcoef` computes (Gorodkin 2004), without its
    warning for a split or prediction of one class; 0 where it is undefined."""
    matrix = np.asarray(matrix, dtype=float)
    true, predicted, total = matrix.sum(1), matrix.sum(0), matrix.sum()
    numerator = np.trace(matrix) * total - predicted @ true
    denominator = np.sqrt((total ** 2 - predicted @ predicted) * (total ** 2 - true @ true))
    return float(numerator / denominator) if denominator > 0 else 0.0


def prefix_metrics(metrics: dict, prefix: str) -> dict:
    """`{"accuracy": ..}` -> `{"test_accuracy": ..}`; per-class recall also flattened
    (`test_recall_negative`) so tables can show it without knowing the nesting."""
    flat = {f"{prefix}_{key}": value for key, value in metrics.items()}
    for name, scores in metrics.get("per_class", {}).items():
        flat[f"{prefix}_recall_{name}"] = scores["recall"]
        flat[f"{prefix}_f1_{name}"] = scores["f1-score"]
    return flat
