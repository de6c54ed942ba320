"""Class imbalance: loss weights from training-split frequencies, and oversampling.

Both only ever look at the training split; validation and test keep their natural
distribution so that metrics stay comparable across runs.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence, TypeVar

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

T = TypeVar("T")


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """w_k = n / (K * n_k), scikit-learn's "balanced" weights: the weighted mean is 1, so the
    loss keeps its scale. A class absent from training gets weight 0 (it cannot be learned)."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    weights = np.zeros(num_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return weights.tolist()


def oversample(examples: Sequence[T], labels: Sequence[int], seed: int) -> list[T]:
    """Add random repeats of each smaller class's examples until every class has as many
    as the largest; the original examples all stay, and the result is shuffled."""
    by_class: dict[int, list[T]] = defaultdict(list)
    for example, label in zip(examples, labels):
        by_class[label].append(example)
    target = max(len(group) for group in by_class.values())
    rng = random.Random(seed)
    result = []
    for label in sorted(by_class):
        group = by_class[label]
        result += group + [rng.choice(group) for _ in range(target - len(group))]
    rng.shuffle(result)
    return result
