"""Warnings a reader cannot miss: results that look wrong, and data that leaks.

A run's scores can be computed correctly and still mean little: a model that predicts one
class for nearly every example (or for nearly every example of one group, such as a
language), a class it never predicts, a class with so few test examples that its F1 is
noise, or validation and test texts that also occur in the training split. Each is
printed as a `WARNING:` line and recorded in metrics.json under
`warnings` (and the leak counts under `data.leaks`), whatever the data set.
"""
from __future__ import annotations

import re
from typing import Callable, Optional, Sequence

from common.regression import regression_warnings
from common.splits import Splits, text_key

COLLAPSE_SHARE = 0.95  # one class predicted for at least this share of a split's examples
MIN_CLASS_EXAMPLES = 10  # fewer test examples of a class than this: its scores are noise


def normalize_text(text: str) -> str:
    """Case and runs of white space ignored: 'Sales  rose.' and 'sales rose.' are one text."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def count_leaks(splits: Splits, key: Callable = text_key) -> dict[str, dict[str, int]]:
    """For the val and test splits (and extra test sets): how many examples' inputs also
    occur in the train split, exactly and after `normalize_text`; where examples are sentence
    pairs, also `shared_text`: examples whose text occurs in train with another pair (one
    headline with two aspects), not the same input, yet its text was trained on."""
    train = [key(e) for e in splits.train]
    exact, normalized = set(train), {normalize_text(k) for k in train}
    train_texts = {normalize_text(e.text) for e in splits.train if hasattr(e, "text")}
    sets = {"val": splits.val, "test": splits.test, **splits.extra_tests}
    counts = {}
    for name, examples in sets.items():
        keys = [key(e) for e in examples]
        counts[name] = {"n": len(keys), "exact": sum(k in exact for k in keys),
                        "normalized": sum(normalize_text(k) in normalized for k in keys)}
        if any(getattr(e, "pair", None) for e in examples):
            counts[name]["shared_text"] = sum(normalize_text(k) not in normalized
                                              and normalize_text(e.text) in train_texts
                                              for e, k in zip(examples, keys))
    return counts


def data_warnings(info: dict) -> list[str]:
    """Warnings about a data set from its loader's record (`Splits.info`): its leak counts,
    rows that share a loader's leak columns with train rows (`shared_with_train`), cleaning
    that removed half the rows or more, and columns that look like the id of rows that
    belong together but were split apart."""
    warnings = leak_warnings(info.get("leaks") or {})
    cleaning = info.get("cleaning") or {}
    if cleaning.get("raw") and cleaning.get("clean") is not None and cleaning["clean"] <= cleaning["raw"] / 2:
        warnings.append(f"cleaning kept {cleaning['clean']} of {cleaning['raw']} rows "
                        f"({cleaning.get('duplicates_removed')} repeated an earlier row, "
                        f"{cleaning.get('conflicting_texts_dropped')} texts were filed under "
                        "more than one label): check text_column and label_column (--deduplicate false keeps them)")
    for split, counts in (info.get("unseen_labels") or {}).items():
        if counts["examples"]:
            warnings.append(f"{counts['examples']} {split} examples ({counts['share']:.1%}) carry {counts['labels']} "
                            "label(s) that no training example has: no classifier can get them right")
    shared = info.get("shared_with_train") or {}
    for split in ("val", "test"):
        counts = shared.get(split) or {}
        if counts.get("shared"):
            columns = ", ".join(shared["columns"])
            warnings.append(f"{counts['shared']} of the {counts['n']} {split} rows share {columns} with a train row: "
                            "a model can learn what those rows share (e.g. the day's move) instead of reading them; "
                            "split so that no such value is in two splits (e.g. by date)")
    for column, counts in (info.get("unused_split_groups") or {}).items():
        warnings.append(f"column {column!r} looks like the id of rows that belong together ({counts['rows']} rows "
                        f"share {counts['values']} values, each across different {counts['group_column']!r} values, "
                        f"e.g. a sentence and its translations), but the split ignored it: set split_group_column "
                        f"{column} to keep each id's rows in one split")
    return warnings


def leak_warnings(leaks: dict[str, dict[str, int]]) -> list[str]:
    warnings = []
    for name, counts in leaks.items():
        if counts["normalized"]:
            warnings.append(f"{counts['normalized']} of the {counts['n']} {name} examples also occur in the train "
                            f"split ({counts['exact']} exactly, the rest up to case and spaces): their scores "
                            "measure memory, not generalisation")
        if counts.get("shared_text"):
            warnings.append(f"{counts['shared_text']} of the {counts['n']} {name} examples share their text with a "
                            "train example of another pair (e.g. one sentence, two aspects): set split_group_column "
                            "to a column the two rows share to keep them in one split")
    return warnings


def prediction_warnings(confusion: Sequence[Sequence[int]], label_names: Sequence[str], split: str,
                        min_examples: Optional[int] = MIN_CLASS_EXAMPLES) -> list[str]:
    """Warnings from a split's confusion matrix (rows: true labels, columns: predictions)."""
    total = sum(sum(row) for row in confusion)
    if not total:
        return []
    predicted = [sum(row[j] for row in confusion) for j in range(len(label_names))]
    support = [sum(row) for row in confusion]
    warnings = []
    top = max(range(len(predicted)), key=predicted.__getitem__)
    if predicted[top] >= COLLAPSE_SHARE * total:
        warnings.append(f"the model predicts {label_names[top]!r} for {predicted[top] / total:.0%} of the {total} "
                        f"{split} examples: it has collapsed to (nearly) one class")
    # Classes absent from the split (many, with FiQA's aspect paths) are neither "never predicted" nor rare.
    never = [repr(name) for name, count, n in zip(label_names, predicted, support) if count == 0 and n]
    if never:
        warnings.append(f"the model never predicts {listed(never)} on the {split} split")
    rare = [f"{name!r} ({count})" for name, count in zip(label_names, support)
            if min_examples and 0 < count < min_examples]
    if rare:
        warnings.append(f"the {split} split has fewer than {min_examples} examples of {listed(rare)}: "
                        "those classes' scores are noise")
    return warnings


def listed(names: Sequence[str], most: int = 8) -> str:
    """Names joined by commas, the first `most` of them and how many more."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def group_warnings(groups: dict[str, dict], split: str) -> list[str]:
    """Groups (languages, say) whose rows the model labels with (nearly) one class, from the
    per-group scores (`common.evaluation.score_groups`)."""
    warnings = []
    for group, scores in groups.items():
        top = scores.get("top_prediction")
        if top and scores["n"] >= MIN_CLASS_EXAMPLES and top["share"] >= COLLAPSE_SHARE:
            warnings.append(f"on the {group!r} rows of the {split} split the model predicts {top['label']!r} for "
                            f"{top['share']:.0%} of the {scores['n']} examples: it has collapsed to (nearly) one "
                            f"class there (macro-F1 {scores['f1_macro']:.3f})")
    return warnings


def diagnose(metrics: dict, label_names: Sequence[str], data_info: Optional[dict] = None) -> list[str]:
    """Every warning about a finished run, from its metrics (and its data's record, `data_warnings`)."""
    warnings = data_warnings(data_info or {})
    for split in ("val", "test"):
        if f"{split}_confusion_matrix" in metrics:
            warnings += prediction_warnings(metrics[f"{split}_confusion_matrix"], label_names, split,
                                            MIN_CLASS_EXAMPLES if split == "test" else None)
        warnings += group_warnings(metrics.get("groups", {}).get(split, {}), split)
        warnings += regression_warnings(metrics, split)
    return warnings


def print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"WARNING: {warning}")
