"""Final evaluation of a trained phase 1 model.

Validation and test metrics on the training level; the test split of every agreement
level (the split is shared by all levels, so none of these sentences was trained on);
per-sentence predictions; the misclassified test sentences, most confident first, for
error analysis; and a confusion-matrix plot.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from common.batching import EncodedDataset, encode_texts, make_eval_loader
from common.engine import evaluate
from common.metrics import prefix_metrics
from common.plots import plot_confusion_matrix
from common.records import write_csv
from phase1_financial_phrasebank.data import LABELS, Pair, PhraseBank


def encode_pairs(tokenizer, pairs: Sequence[Pair], max_length: int) -> EncodedDataset:
    label_ids = {name: i for i, name in enumerate(LABELS)}
    return encode_texts(tokenizer, [s for s, _ in pairs], [label_ids[label] for _, label in pairs], max_length)


def prediction_frame(pairs: Sequence[Pair], logits: np.ndarray) -> pd.DataFrame:
    probs = softmax(logits, axis=-1)
    predicted = probs.argmax(-1)
    frame = pd.DataFrame({"sentence": [s for s, _ in pairs], "label": [label for _, label in pairs],
                          "prediction": [LABELS[i] for i in predicted],
                          "confidence": probs.max(-1).round(4)})
    frame["correct"] = frame["label"] == frame["prediction"]
    for i, name in enumerate(LABELS):
        frame[f"prob_{name}"] = probs[:, i].round(4)
    return frame


def evaluate_final(model, tokenizer, bank: PhraseBank, cfg, run_dir: Path, device: torch.device,
                   amp_dtype: Optional[torch.dtype]) -> dict:
    """Evaluate the (best) model; write predictions, error analysis and plots; return metrics."""
    def run_split(level: str, split: str) -> tuple[dict, list[Pair], np.ndarray]:
        pairs = bank.split(level, split)[:cfg.max_eval_samples]
        loader = make_eval_loader(encode_pairs(tokenizer, pairs, cfg.max_length), tokenizer, cfg.eval_batch_size)
        metrics, logits = evaluate(model, loader, device, LABELS, amp_dtype=amp_dtype, progress=cfg.progress,
                                   desc=f"{split} {level}")
        return metrics, pairs, logits

    level = cfg.train_agreement
    val_metrics, _, _ = run_split(level, "val")
    test_metrics, test_pairs, test_logits = run_split(level, "test")
    metrics = {**prefix_metrics(val_metrics, "val"), **prefix_metrics(test_metrics, "test")}

    by_level = {}
    for eval_level in cfg.eval_agreements:
        level_metrics = test_metrics if eval_level == level else run_split(eval_level, "test")[0]
        by_level[eval_level] = {k: level_metrics[k] for k in ("accuracy", "f1_macro", "n")}
        metrics[f"test_{eval_level.lower()}_accuracy"] = level_metrics["accuracy"]
        metrics[f"test_{eval_level.lower()}_f1_macro"] = level_metrics["f1_macro"]
    metrics["test_by_agreement"] = by_level

    predictions = prediction_frame(test_pairs, test_logits)
    write_csv(run_dir / "predictions.csv", predictions)
    errors = predictions[~predictions["correct"]].sort_values("confidence", ascending=False)
    write_csv(run_dir / "misclassified.csv", errors)
    plot_confusion_matrix(test_metrics["confusion_matrix"], LABELS, run_dir / "confusion_matrix.png",
                          title=f"{cfg.run_name}: test, {level} (n={test_metrics['n']})")
    return metrics
