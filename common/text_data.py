"""Any text-classification data set: a local CSV/JSONL file or a hub data set.

Columns are configurable: the text, the label (names or integers; the label set is taken
from the data), and optional context columns that are either prepended to the text
(e.g. an aspect before a headline) or passed as the second sentence of a pair. A file
with a split column is split by it; one without is split 80/10/10, stratified and
seeded, keeping the rows of one split group together when `split_group_column` names one.
With `deduplicate` (the default) the data is cleaned first (common/splits.py
`clean_examples`, `clean_published`). A label that occurs only outside the training split is an error: the
model could never predict it, and its scores would be silently meaningless.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from common.config import TrainConfig, option
from common.errors import DataError, describe
from common.hub import HubRef
from common.model_options import HeadOptions, MemoryOptions, PretrainedOptions
from common.splits import (Example, TextSplits, carve, check_labels_trained, clean_examples, clean_published,
                           split_by_group, split_stratified, unused_split_groups)

SPLITS = ("train", "val", "test")
CSV_FIELD_LIMIT = 2**31 - 1  # a field of any length a C long can count
LOCAL_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "dev": "val", "test": "test", "testing": "test"}


@dataclass
class TextDataConfig(MemoryOptions, PretrainedOptions, HeadOptions, TrainConfig):
    """Config keys of the text-classification phases: the generic data path (a phase adds
    its own data set) here; with them the classification head's keys (`HeadOptions`) and
    what becomes of a pretrained checkpoint (`PretrainedOptions`) and the memory levers of
    large models (`MemoryOptions`), all in common/model_options.py."""

    dataset: str = option("text.csv", "A local .csv/.tsv/.jsonl file (relative to data_dir when that is set), "
                          "or a hub data set id.")
    dataset_config: Optional[str] = option(None, "Config name of a hub data set.")
    text_column: str = option("text", "Text column of a CSV/JSONL/hub data set.")
    label_column: str = option("label", "Label column (names or integers; the label set is read from the data).")
    context_columns: list[str] = option([], "Extra text columns joined to the input, e.g. an aspect (comma-separated).")
    context_mode: str = option("prepend", "'prepend': '<context>: <text>'; 'pair': context as the second "
                               "sentence of a pair.", ("prepend", "pair"))
    group_column: Optional[str] = option(None, "Column naming each row's group (e.g. its language): metrics are "
                                         "also reported per group.")
    split_column: str = option("split", "Column naming each row's split (train/validation/test); without it "
                               "the file is split 80/10/10, stratified, with split_seed.")
    split_group_column: Optional[str] = option(None, "Column whose rows must share one split (a sentence id, a "
                                               "patient, a source text and its translations): data without a "
                                               "split column is split 80/10/10 over its values, stratified by "
                                               "label as far as the groups allow.")
    deduplicate: bool = option(True, "Keep one copy of each text and drop texts filed under more than one label, "
                               "before splitting (published splits: validation and train lose their copies of "
                               "test texts); what was removed is recorded in metrics.json.")
    split_seed: int = option(42, "Seed of the stratified split of data that comes without one; kept apart "
                             "from `seed` so that training seeds never move the test set.", at_least=0)


def read_text(path: Path) -> str:
    """A text file in UTF-8 (a byte-order mark is dropped) or UTF-16 (with its byte-order mark)."""
    raw = Path(path).read_bytes()
    encoding = "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not {encoding.replace('-sig', '')} text ({exc.reason} at byte {exc.start}); "
                        "save it as UTF-8") from None


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV (header line) or JSONL (one object per line) file; errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}, line {number}: expected a JSON object per line")
                rows.append(row)
    elif path.suffix.lower() in (".csv", ".tsv"):
        csv.field_size_limit(CSV_FIELD_LIMIT)  # the module's default, 131,072 characters, is one long note
        rows = list(csv.DictReader(io.StringIO(read_text(path), newline=""),
                                   delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv or .jsonl")
    if not rows:
        raise DataError(f"{path}: the file holds no rows")
    return rows


def is_blank(value: Any) -> bool:
    """None, NaN (a JSON NaN, or pandas' missing value) or a string of spaces."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def require_cell(row: dict, column: str, where: str) -> Any:
    if column not in row:
        raise DataError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))})")
    value = row[column]
    if is_blank(value):
        raise DataError(f"{where}: empty {column!r}")
    return value


def require_column(rows: Sequence[dict], column: str, source: str) -> list[str]:
    """Every row's `column` as stripped text; an error naming all the rows where it is blank."""
    if rows and column not in rows[0]:
        raise DataError(f"{source}: no column {column!r} (columns: {', '.join(map(str, rows[0]))})")
    blank = [number for number, row in enumerate(rows, start=1) if is_blank(row.get(column))]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (f" and {len(blank) - 10} more" if len(blank) > 10 else "")
        raise DataError(f"{source}: {len(blank)} row(s) with an empty or missing {column!r}: row(s) {shown}")
    return [str(row[column]).strip() for row in rows]


def rows_to_examples(rows: Sequence[dict], source: str, text_column: str, label_column: str,
                     context_columns: Sequence[str], context_mode: str, label_names: Sequence[str],
                     group_column: Optional[str] = None, split_group_column: Optional[str] = None) -> list[Example]:
    label_ids = {name: i for i, name in enumerate(label_names)}
    examples = []
    for number, row in enumerate(rows, start=1):
        where = f"{source}, row {number}"
        text = str(require_cell(row, text_column, where)).strip()
        context = " ".join(str(require_cell(row, column, where)).strip() for column in context_columns)
        label = str(require_cell(row, label_column, where)).strip()
        if label not in label_ids:
            raise DataError(f"{where}: unknown label {label!r} (known: {', '.join(label_names)})")
        group = str(require_cell(row, group_column, where)).strip() if group_column else None
        split_group = str(require_cell(row, split_group_column, where)).strip() if split_group_column else None
        if context and context_mode == "prepend":
            examples.append(Example(f"{context}: {text}", label_ids[label], group=group, split_group=split_group))
        else:
            examples.append(Example(text, label_ids[label], context or None, group, split_group))
    return examples


def infer_label_names(labels: Sequence[str]) -> list[str]:
    """Sorted label names; integer labels sort numerically (so '10' follows '9')."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def load_text_file(path: Path, *, text_column: str = "text", label_column: str = "label",
                   context_columns: Sequence[str] = (), context_mode: str = "prepend",
                   split_column: Optional[str] = "split", split_seed: int = 42,
                   group_column: Optional[str] = None, split_group_column: Optional[str] = None,
                   deduplicate: bool = True) -> TextSplits:
    """A CSV/JSONL file: split by its split column when it has one, else 80/10/10,
    stratified (by split group when `split_group_column` is set); cleaned first."""
    rows = read_table(path)
    source = str(path)
    label_names = infer_label_names(require_column(rows, label_column, source))
    examples = rows_to_examples(rows, source, text_column, label_column, context_columns, context_mode, label_names,
                                group_column, split_group_column)
    info: dict = {"source": source}
    if split_column and split_column in rows[0]:
        splits = {name: [] for name in SPLITS}
        for number, (row, example) in enumerate(zip(rows, examples), start=1):
            name = SPLIT_ALIASES.get(str(row.get(split_column, "")).strip().lower())
            if name is None:
                raise DataError(f"{source}, row {number}: unknown split {row.get(split_column)!r} "
                                f"(expected train, validation/val/dev or test)")
            splits[name].append(example)
        if deduplicate:
            splits, info["cleaning"] = clean_published(splits)
        info["split"] = f"by the {split_column!r} column"
    else:
        if deduplicate:
            examples, info["cleaning"] = clean_examples(examples, source)
        if split_group_column:
            splits = split_by_group(examples, split_seed, source)
            info["split"] = f"80/10/10 by {split_group_column!r} groups, stratified, split_seed {split_seed}"
        else:
            splits = split_stratified(examples, split_seed, source, label_names)
            info["split"] = f"stratified 80/10/10, split_seed {split_seed}"
            if group_column:  # translations split apart are not caught by the text leak check
                info["unused_split_groups"] = unused_split_groups(
                    rows, group_column, [text_column, label_column, *context_columns])
    check_labels_trained(splits, label_names, source)
    return TextSplits(label_names, splits["train"], splits["val"], splits["test"],
                      info={**info, "sizes": {k: len(v) for k, v in splits.items()}})


def load_hub_dataset(name: str, config_name: Optional[str] = None, *, text_column: str = "text",
                     label_column: str = "label", context_columns: Sequence[str] = (),
                     context_mode: str = "prepend", split_seed: int = 42,
                     group_column: Optional[str] = None, split_group_column: Optional[str] = None,
                     deduplicate: bool = True) -> TextSplits:
    """A hub data set (Parquet/CSV files, no loading scripts). Missing validation/test splits
    are carved out of train, stratified; ClassLabel names are used when the data has them."""
    import datasets

    try:
        dataset = datasets.load_dataset(name, config_name)
    except Exception as exc:  # offline, unknown name, script-only data set
        raise DataError(f"could not load hub data set {name!r} ({describe(exc)}); use a local CSV/JSONL "
                        "file instead") from None
    feature = dataset[next(iter(dataset))].features.get(label_column)
    class_names = list(getattr(feature, "names", []) or [])
    tables = {}
    for split_name, table in dataset.items():
        rows = [dict(row) for row in table]
        if class_names:
            for row in rows:
                row[label_column] = class_names[row[label_column]]
        tables[SPLIT_ALIASES.get(split_name.lower(), split_name)] = rows
    if "train" not in tables:
        raise DataError(f"hub data set {name!r} has no train split (splits: {', '.join(dataset)})")
    label_names = class_names or infer_label_names(
        [label for split, rows in tables.items() for label in require_column(rows, label_column, f"{name}[{split}]")])
    examples = {split: rows_to_examples(rows, f"{name}[{split}]", text_column, label_column, context_columns,
                                        context_mode, label_names, group_column, split_group_column)
                for split, rows in tables.items()}
    missing = [split for split in ("val", "test") if split not in examples]
    info: dict = {"source": f"hub:{name}", "carved_from_train": missing}
    if len(missing) == 2:  # cleaned, then split as a file without a split column is
        if deduplicate:
            examples["train"], info["cleaning"] = clean_examples(examples["train"], name)
        split = split_by_group if split_group_column else split_stratified
        examples.update(split(examples["train"], split_seed, name))
        if group_column and not split_group_column:
            info["unused_split_groups"] = unused_split_groups(
                tables["train"], group_column, [text_column, label_column, *context_columns])
    else:
        if missing:  # carve only the missing split (10% of train), keep the published one
            examples["train"], examples[missing[0]] = carve(examples["train"], 0.1, split_seed, name, label_names)
        if deduplicate:
            cleaned, info["cleaning"] = clean_published({split: examples[split] for split in SPLITS})
            examples.update(cleaned)
    splits = {split: examples[split] for split in SPLITS}
    check_labels_trained(splits, label_names, name)
    return TextSplits(label_names, splits["train"], splits["val"], splits["test"],
                      info={**info, "sizes": {k: len(v) for k, v in splits.items()}})


def is_local_file(dataset: str) -> bool:
    return Path(dataset).suffix.lower() in LOCAL_SUFFIXES


def hub_dataset_refs(cfg: TextDataConfig) -> list[HubRef]:
    """The hub data set the generic path reads, when `cfg.dataset` names one (not a local file)."""
    return [] if is_local_file(cfg.dataset) else [HubRef(cfg.dataset, "dataset")]


def load_text_splits(cfg: TextDataConfig) -> TextSplits:
    """The data set named by `cfg.dataset`: a local CSV/TSV/JSONL file or a hub data set."""
    columns = dict(text_column=cfg.text_column, label_column=cfg.label_column, group_column=cfg.group_column,
                   context_columns=list(cfg.context_columns), context_mode=cfg.context_mode, split_seed=cfg.split_seed,
                   split_group_column=cfg.split_group_column, deduplicate=cfg.deduplicate)
    path = Path(cfg.data_dir or ".") / cfg.dataset
    if is_local_file(cfg.dataset):
        return load_text_file(path, split_column=cfg.split_column, **columns)
    return load_hub_dataset(cfg.dataset, cfg.dataset_config, **columns)
