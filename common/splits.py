"""Train/val/test splits of any kind of example, with their label names; the text
`Example`; and how examples are cleaned (duplicates, texts under two labels) and split
(stratified, by group, the budget subsets).

A text phase's examples are `Example`s; phase 5's carry an image as
well. Whatever the type, an example has a `label` (an index into `label_names`) and may
have a `group` (e.g. its language), for which metrics are also reported.
"""
from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from common.errors import DataError


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


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    pair: Optional[str] = None
    group: Optional[str] = None  # e.g. the language: metrics are also reported per group
    split_group: Optional[str] = None  # rows sharing it always fall in one split (split_group_column)


TextSplits = Splits  # splits of text `Example`s


def text_key(example) -> str:
    """What makes two examples the same input: the text, and its pair where there is one."""
    pair = getattr(example, "pair", None)
    return example.text if not pair else f"{example.text}\n{pair}"


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


# Cleaning and splitting of data read from files (common/text_data.py) and by the phases' loaders.

def check_labels_trained(splits: dict[str, list[Example]], label_names: Sequence[str], source: str) -> None:
    trained = {example.label for example in splits["train"]}
    for name in ("val", "test"):
        unseen = sorted({label_names[e.label] for e in splits[name]} - {label_names[i] for i in trained})
        if unseen:
            raise DataError(f"{source}: label(s) {', '.join(unseen)} occur in the {name} split but never in "
                            "the train split, so no model trained here could predict them")
    for name, examples in splits.items():
        if not examples:
            raise DataError(f"{source}: the {name} split is empty")


def conflicting_texts(pairs: Sequence[tuple[str, Any]]) -> set[str]:
    """Texts that occur with more than one label among (text, label) pairs."""
    labels_of: dict[str, set] = defaultdict(set)
    for text, label in pairs:
        labels_of[text].add(label)
    return {text for text, labels in labels_of.items() if len(labels) > 1}


def deduplicate(pairs: Sequence[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], dict]:
    """Keep one copy of each (text, label) pair's text; drop every copy of a text whose copies
    disagree on the label (a duplicate across splits would leak, and a conflicting one
    cannot be right in both places)."""
    conflicting = conflicting_texts(pairs)
    seen, clean = set(), []
    for sentence, label in pairs:
        if sentence not in conflicting and sentence not in seen:
            seen.add(sentence)
            clean.append((sentence, label))
    stats = {"raw": len(pairs), "duplicates_removed": len(pairs) - len({text for text, _ in pairs}),
             "conflicting_sentences_dropped": len(conflicting), "clean": len(clean),
             "label_counts": dict(Counter(label for _, label in clean))}
    return clean, stats


def clean_examples(examples: Sequence[Example], source: str = "the data") -> tuple[list[Example], dict]:
    """`deduplicate` for examples, before they are split: one copy of each input (text and
    pair), and none of an input filed under two labels."""
    kept_keys, stats = deduplicate([(text_key(e), e.label) for e in examples])
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(text_key(example), example)
    kept = [first[key] for key, _ in kept_keys]
    if examples and not kept:
        raise DataError(f"{source}: cleaning removed every one of the {len(examples)} rows: "
                        f"{stats['duplicates_removed']} repeated an earlier row and "
                        f"{stats['conflicting_sentences_dropped']} text(s) were filed under more than one label; "
                        "check text_column and label_column, or pass --deduplicate false to keep them")
    return kept, {"raw": stats["raw"], "duplicates_removed": stats["duplicates_removed"],
                  "conflicting_texts_dropped": stats["conflicting_sentences_dropped"], "clean": len(kept)}


def clean_published(splits: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict]:
    """Published splits cleaned together, the test split kept as published: validation and
    train lose every input that a split ahead of them (test, then validation) holds, every
    input filed under two labels anywhere, and their own repeats."""
    conflicting = conflicting_texts([(text_key(e), e.label) for part in splits.values() for e in part])
    held = {text_key(e) for e in splits["test"]}
    cleaned, stats = {"test": list(splits["test"])}, {"conflicting_texts": len(conflicting)}
    for name in ("val", "train"):
        seen, kept, counts = set(), [], Counter()
        for example in splits[name]:
            key = text_key(example)
            reason = ("conflicting_dropped" if key in conflicting else "held_out_copies_dropped" if key in held
                      else "duplicates_removed" if key in seen else None)
            if reason:
                counts[reason] += 1
                continue
            seen.add(key)
            kept.append(example)
        held |= seen
        cleaned[name] = kept
        stats[name] = {"raw": len(splits[name]), **counts, "clean": len(kept)}
    return cleaned, stats


def unused_split_groups(rows: Sequence[dict], group_column: str, used: Sequence[str]) -> dict[str, dict]:
    """Columns (other than `used`) that look like the id of rows belonging together across
    groups, as a sentence id in a translated long format: every value on two rows or more,
    the rows of one value each in a different group. The split should keep them together."""
    found = {}
    for column in rows[0]:
        if column in used or column == group_column:
            continue
        groups_of: dict[str, list] = defaultdict(list)
        for row in rows:
            groups_of[str(row.get(column))].append(row.get(group_column))
        if len(groups_of) < len(rows) and all(len(g) > 1 and len(set(g)) == len(g) for g in groups_of.values()):
            found[column] = {"rows": len(rows), "values": len(groups_of), "group_column": group_column}
    return found


def split_by_group(examples: list[Example], seed: int, source: str,
                   strata: Optional[Sequence] = None) -> dict[str, list[Example]]:
    """80/10/10 in which the examples of one split group (`Example.split_group`) share a split,
    stratified by label (or by `strata`, one per example) as far as the groups allow
    (scikit-learn's StratifiedGroupKFold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = [e.split_group for e in examples]
    if len(set(groups)) < 10:
        raise DataError(f"{source}: {len(set(groups))} split groups; an 80/10/10 split by group needs at least 10")
    stratum = list(strata) if strata is not None else [e.label for e in examples]

    def hold_out(part: list[int], folds: int) -> tuple[list[int], list[int]]:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        rest, held = next(splitter.split(np.zeros(len(part)), [stratum[i] for i in part],
                                         [groups[i] for i in part]))
        return [part[i] for i in rest], [part[i] for i in held]

    rest, test = hold_out(list(range(len(examples))), 10)
    train, val = hold_out(rest, 9)
    return {name: [examples[i] for i in part] for name, part in (("train", train), ("val", val), ("test", test))}


def carve(examples: list[Example], fraction: float, seed: int, source: str,
          label_names: Optional[Sequence[str]] = None) -> tuple[list[Example], list[Example]]:
    """Split off a stratified `fraction` of `examples`: (rest, carved). An error names each
    label's count, by its name where `label_names` are given."""
    strata = [e.label for e in examples]
    try:
        from sklearn.model_selection import train_test_split  # here: scikit-learn takes a second to import

        return tuple(train_test_split(examples, test_size=fraction, stratify=strata, random_state=seed))
    except ValueError as exc:
        counts = {label_names[k] if label_names and isinstance(k, int) else k: n for k, n in Counter(strata).items()}
        raise DataError(f"{source}: too few rows for a stratified split ({len(examples)} rows; per label "
                        f"{counts}): {exc}") from None


def split_stratified(examples: list[Example], seed: int, source: str,
                     label_names: Optional[Sequence[str]] = None) -> dict[str, list[Example]]:
    """80/10/10, stratified by label."""
    train, rest = carve(examples, 0.2, seed, source, label_names)
    val, test = carve(rest, 0.5, seed, source, label_names)
    return {"train": train, "val": val, "test": test}
