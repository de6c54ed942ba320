"""Scores of a model that predicts one number per example (a sentiment score), computed by
scikit-learn and scipy: mean squared error and R² (the FiQA 2018 challenge's measures),
mean absolute error and Pearson's r; and the warning for a model that predicts (nearly) a
constant, which can still have a small MSE on data whose scores cluster.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from scipy.stats import pearsonr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from torch.utils.data import DataLoader

from common.training_steps import predict

CONSTANT_SHARE = 0.1  # predictions spread less than this share of the gold scores' spread: a constant model


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict:
    """MSE, R², MAE and Pearson's r of `y_pred` against `y_true` (r is 0 for constant predictions)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    varies = len(y_true) > 1 and np.std(y_pred) > 0 and np.std(y_true) > 0
    return {"mse": float(mean_squared_error(y_true, y_pred)), "r2": float(r2_score(y_true, y_pred)),
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "pearson": float(pearsonr(y_true, y_pred)[0]) if varies else 0.0,
            "prediction_std": float(np.std(y_pred)), "gold_std": float(np.std(y_true)), "n": int(len(y_true))}


def regression_warnings(metrics: dict, split: str) -> list[str]:
    """A model whose predictions barely vary has learnt the mean, not the examples."""
    spread, gold = metrics.get(f"{split}_prediction_std"), metrics.get(f"{split}_gold_std")
    if spread is None or not gold or spread >= CONSTANT_SHARE * gold:
        return []
    return [f"the model's {split} predictions spread {spread:.3g} (standard deviation) against the gold scores' "
            f"{gold:.3g}: it predicts (nearly) a constant"]


def evaluate_regression(model: torch.nn.Module, loader: DataLoader, device: torch.device, *,
                        amp_dtype: Optional[torch.dtype] = None, progress: bool = True,
                        desc: str = "eval") -> tuple[dict, np.ndarray]:
    """`regression_metrics` of the model's one output per example (`loss` is the MSE), and
    the predictions, in dataset order."""
    outputs, scores = predict(model, loader, device, amp_dtype=amp_dtype, progress=progress, desc=desc)
    predictions = outputs[:, 0]
    metrics = regression_metrics(scores, predictions)
    metrics["loss"] = metrics["mse"]
    return metrics, predictions


def mse_loss(outputs: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """The training loss of a one-output model: mean squared error against the scores."""
    return torch.nn.functional.mse_loss(outputs.squeeze(-1), scores.float())
