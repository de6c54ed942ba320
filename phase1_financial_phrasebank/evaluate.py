"""Evaluation of a phase 1 model: before and after training, and the final report.

Final evaluation: validation and test metrics, the extra test sets (for Financial
PhraseBank, the test split of every agreement level; the split is shared by all levels,
so none of these sentences was trained on), per-example predictions, the misclassified
test examples (most confident first, for error analysis) and a confusion-matrix plot.
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
from common.text_data import Example, TextSplits


def encode_examples(tokenizer, examples: Sequence[Example], max_length: int) -> EncodedDataset:
    pairs = [e.pair or "" for e in examples] if any(e.pair for e in examples) else None
    return encode_texts(tokenizer, [e.text for e in examples], [e.label for e in examples], max_length, pairs)


def prediction_frame(examples: Sequence[Example], logits: np.ndarray, label_names: Sequence[str]) -> pd.DataFrame:
    probs = softmax(logits, axis=-1)
    frame = pd.DataFrame({"text": [e.text for e in examples]})
    if any(e.pair for e in examples):
        frame["text_pair"] = [e.pair for e in examples]
    frame["label"] = [label_names[e.label] for e in examples]
    frame["prediction"] = [label_names[i] for i in probs.argmax(-1)]
    frame["confidence"] = probs.max(-1).round(4)
    frame["correct"] = frame["label"] == frame["prediction"]
    for i, name in enumerate(label_names):
        frame[f"prob_{name}"] = probs[:, i].round(4)
    return frame


class Evaluator:
    """Encodes each evaluation set once and evaluates any model on it."""

    def __init__(self, splits: TextSplits, tokenizer, cfg, device: torch.device, amp_dtype: Optional[torch.dtype]):
        self.splits, self.cfg, self.device, self.amp_dtype = splits, cfg, device, amp_dtype
        sets = {"val": splits.val, "test": splits.test, **splits.extra_tests}
        # An extra test set that is the test split itself is neither encoded nor scored twice.
        self.same_as_test = {name for name, examples in splits.extra_tests.items() if examples is splits.test}
        self.examples = {name: examples[:cfg.max_eval_samples] for name, examples in sets.items()
                         if name not in self.same_as_test}
        self.loaders = {name: make_eval_loader(encode_examples(tokenizer, examples, cfg.max_length), tokenizer,
                                               cfg.eval_batch_size, cfg.num_workers)
                        for name, examples in self.examples.items()}

    def run(self, model, name: str) -> tuple[dict, np.ndarray]:
        return evaluate(model, self.loaders[name], self.device, self.splits.label_names, amp_dtype=self.amp_dtype,
                        progress=self.cfg.progress, desc=name)

    def before_training(self, model) -> dict:
        """Scores of the untrained head: the 'before' column of before/after tables."""
        scores = {}
        for name in ("val", "test"):
            metrics, _ = self.run(model, name)
            scores[f"before_{name}_accuracy"] = metrics["accuracy"]
            scores[f"before_{name}_f1_macro"] = metrics["f1_macro"]
        return scores

    def final(self, model, run_dir: Path, title: str) -> dict:
        """Evaluate the selected model; write predictions, error analysis and plots; return metrics."""
        label_names = self.splits.label_names
        val_metrics, _ = self.run(model, "val")
        test_metrics, test_logits = self.run(model, "test")
        metrics = {**prefix_metrics(val_metrics, "val"), **prefix_metrics(test_metrics, "test")}
        test_sets = {}
        for name in self.splits.extra_tests:
            extra = test_metrics if name in self.same_as_test else self.run(model, name)[0]
            test_sets[name] = {k: extra[k] for k in ("accuracy", "f1_macro", "n")}
            metrics[f"test_{name.lower()}_accuracy"] = extra["accuracy"]
            metrics[f"test_{name.lower()}_f1_macro"] = extra["f1_macro"]
        if test_sets:
            metrics["test_sets"] = test_sets
        predictions = prediction_frame(self.examples["test"], test_logits, label_names)
        write_csv(run_dir / "predictions.csv", predictions)
        errors = predictions[~predictions["correct"]].sort_values("confidence", ascending=False)
        write_csv(run_dir / "misclassified.csv", errors)
        plot_confusion_matrix(test_metrics["confusion_matrix"], label_names, run_dir / "confusion_matrix.png",
                              title=f"{title}: test (n={test_metrics['n']})")
        return metrics
