"""Train/val/test splits of any kind of example, with their label names.

A text phase's examples are `common.text_data.Example`s; phase 5's carry an image as
well. Whatever the type, an example has a `label` (an index into `label_names`) and may
have a `group` (e.g. its language), for which metrics are also reported.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class Splits:
    """Train/val/test examples, label names, and extra test sets (e.g. per agreement level)."""

    label_names: list[str]
    train: list[Any]
    val: list[Any]
    test: list[Any]
    extra_tests: dict[str, list[Any]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # where the data came from, how it was split and cleaned

    def split(self, name: str) -> list[Any]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def stratum(example: Any) -> tuple:
    """What a subset keeps in proportion: the example's group (its language) and, for a
    classifier, its label (a regression's float score is not a class)."""
    label = getattr(example, "label", None)  # none for a target extractor's examples
    label = label if isinstance(label, (int, str)) else None
    return getattr(example, "group", None), label


def apportion(sizes: dict, n: int) -> dict:
    """`n` shared out in proportion to `sizes`, rounded by largest remainder (ties: the larger
    part, then the key), so that the counts add up to `n`."""
    total = sum(sizes.values())
    quotas = {key: n * size / total for key, size in sizes.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}
    order = sorted(sizes, key=lambda key: (-(quotas[key] - counts[key]), -sizes[key], str(key)))
    for key in order[:n - sum(counts.values())]:
        counts[key] += 1
    return counts


def draw_subset(examples: list[Any], n: int, seed: int) -> list[Any]:
    """`n` of `examples` drawn at random, stratified by `stratum`, in their original order:
    `n` is shared out over the groups in proportion to their sizes, then each group's share
    over its labels, and each (group, label) draws with a generator seeded by `seed` and the
    stratum's name. So a group's draw is the same whichever other groups are drawn beside it,
    as long as its share is the same (English alone, or English among eight languages).
    Cutting the first `n` instead keeps whatever the file's order puts first: one label, or
    one language."""
    if n >= len(examples):
        return list(examples)
    members: dict[tuple, list[int]] = {}
    for index, example in enumerate(examples):
        members.setdefault(stratum(example), []).append(index)
    groups: dict[Any, dict] = {}
    for (group, label), indices in members.items():
        groups.setdefault(group, {})[label] = len(indices)
    chosen = []
    for group, share in apportion({g: sum(labels.values()) for g, labels in groups.items()}, n).items():
        for label, count in apportion(groups[group], share).items():
            rng = np.random.default_rng([seed, zlib.crc32(repr((group, label)).encode())])
            chosen += rng.choice(members[(group, label)], size=count, replace=False).tolist()
    return [examples[index] for index in sorted(chosen)]


def count_by(examples: list[Any], label_names: list[str]) -> dict:
    """Training examples per label name (`score` for a regression's, `target` for a target
    extractor's examples, which have no class), and per group where examples have groups."""
    labels: dict[str, int] = {}
    groups: dict[str, int] = {}
    for example in examples:
        label = getattr(example, "label", None)
        name = label_names[label] if isinstance(label, int) else "score" if isinstance(label, float) else "target"
        labels[name] = labels.get(name, 0) + 1
        if getattr(example, "group", None) is not None:
            groups[example.group] = groups.get(example.group, 0) + 1
    return {"labels": labels, **({"groups": groups} if groups else {})}


def draw_subsets(splits: Splits, max_train: Optional[int], max_eval: Optional[int], seed: int) -> dict:
    """Replace the train split by `draw_subset` of `max_train` of its examples, and each
    evaluation split (validation, test, extra test sets) by one of `max_eval` (None: whole);
    bring the recorded sizes up to date; return what metrics.json keeps as `data.subset`:
    per drawn split, how many of how many, and the train subset's counts per label and group."""
    record = {}
    sizes = splits.info.get("sizes", {})
    chosen = [("train", max_train)] + [(name, max_eval) for name in ("val", "test")]
    for name, n in chosen:
        full = splits.split(name)
        if not n or n >= len(full):
            continue
        drawn = draw_subset(full, n, seed)
        setattr(splits, name, drawn)
        record[name] = {"drawn": len(drawn), "of": len(full)}
        if isinstance(sizes.get(name), dict):  # per group (phase 2's languages)
            sizes[name] = count_by(drawn, splits.label_names).get("groups", {})
        elif name in sizes:
            sizes[name] = len(drawn)
    if max_eval:
        for name, examples in splits.extra_tests.items():
            if max_eval < len(examples):
                splits.extra_tests[name] = draw_subset(examples, max_eval, seed)
                record[name] = {"drawn": max_eval, "of": len(examples)}
    if "train" in record:
        record["train"].update(count_by(splits.train, splits.label_names))
    if record:
        record["seed"] = seed
        record["stratified_by"] = "group and label"
    return record
