"""Phase 4 data: the Medical Abstracts corpus (Schopf et al. 2022), five condition classes.

From `data_dir`: `medical_tc_train.csv` and `medical_tc_test.csv` (columns
`condition_label,medical_abstract`, labels 1-5) with the class names in
`medical_tc_labels.csv` (`condition_label,condition_name`). With both files the published
test split is kept and validation is a stratified 10% of train; with only one of them
(the shared copy holds the test file alone) that file is split 80/10/10, stratified and
seeded by `split_seed`, and the run records it. Without `data_dir` the corpus comes from
the hub (`TimSchopf/medical_abstracts`). Any other data set goes through the generic
CSV/JSONL/hub path.

The hub layout, as checked on 2026-12-01 (the repository's dataset card): two configs
declared in README.md, `default` (`data/train-*` 11,550 rows and `data/test-*` 2,888 rows,
columns `condition_label` int64 and `medical_abstract`) and `labels` (`labels/train-*`, five
rows of `condition_label` int64 and `condition_name`). The labels are plain integers (1-5),
not a ClassLabel, so their names come from the `labels` config, by value: ids stored 1-5 or
0-4 map to the same condition names.

Some abstracts occur more than once, a few under different conditions; with
`deduplicate` (the default) one copy is kept and the conflicting ones are dropped, before
splitting, so that no text is in two splits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from common.errors import DataError, describe
from common.hub import HubRef
from common.text_data import hub_dataset_refs, load_text_splits, read_table, rows_to_examples
from common.splits import (Example, TextSplits, carve, check_labels_trained, conflicting_texts, deduplicate,
                           split_stratified)
from phase4_medical_text_xai.config import MEDICAL_DATASET, Phase4Config

HUB_ID = "TimSchopf/medical_abstracts"
HUB_FILES = ("README.md", "data/train-*", "data/test-*", "labels/train-*")  # the card declares the configs
TEXT_COLUMN, LABEL_COLUMN = "medical_abstract", "condition_label"
FILES = {"train": "medical_tc_train.csv", "test": "medical_tc_test.csv"}
LABELS_FILE = "medical_tc_labels.csv"
CONDITIONS = ("neoplasms", "digestive system diseases", "nervous system diseases", "cardiovascular diseases",
              "general pathological conditions")


def read_label_names(path: Path) -> list[str]:
    """Class names in label order from `condition_label,condition_name` rows (labels 1..K)."""
    rows = read_table(path)
    names = {}
    for number, row in enumerate(rows, start=1):
        label, name = str(row.get("condition_label", "")).strip(), str(row.get("condition_name", "")).strip()
        if not label.isdigit() or not name:
            raise DataError(f"{path}, row {number}: expected condition_label,condition_name (got {row})")
        names[int(label)] = name
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"{path}: labels must be 1..{len(names)} (found {sorted(names)})")
    return [names[i] for i in sorted(names)]


def clean(examples: Sequence[Example], source: str, info: dict) -> list[Example]:
    kept, stats = deduplicate([(e.text, e.label) for e in examples])
    info.setdefault("cleaning", {})[source] = {k: v for k, v in stats.items() if k != "label_counts"}
    return [Example(text, label) for text, label in kept]


def split_published(train: list[Example], test: list[Example], split_seed: int, dedupe: bool,
                    info: dict, source: str) -> dict[str, list[Example]]:
    """Keep the published test split; validation is a stratified 10% of train. Cleaning
    looks at both files together: a text in both stays in test only."""
    if dedupe:
        conflicting = conflicting_texts([(e.text, e.label) for e in train + test])
        test = clean([e for e in test if e.text not in conflicting], "test", info)
        in_test = {e.text for e in test}
        train = clean([e for e in train if e.text not in conflicting and e.text not in in_test], "train", info)
        info["cleaning"]["conflicting_texts_dropped"] = len(conflicting)
    train, val = carve(train, 0.1, split_seed, source)
    info["split"] = f"published train/test; validation: stratified 10% of train (split_seed {split_seed})"
    return {"train": train, "val": val, "test": test}


def load_medical_files(data_dir: Path, split_seed: int, dedupe: bool) -> TextSplits:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    present = {split: data_dir / name for split, name in FILES.items() if (data_dir / name).is_file()}
    if not present:
        raise DataError(f"{data_dir}: neither {FILES['train']} nor {FILES['test']} is there")
    names = read_label_names(data_dir / LABELS_FILE) if (data_dir / LABELS_FILE).is_file() else list(CONDITIONS)
    ids = [str(i) for i in range(1, len(names) + 1)]  # the files' labels; example label = id - 1
    parts = {split: rows_to_examples(read_table(path), str(path), TEXT_COLUMN, LABEL_COLUMN, (), "prepend", ids)
             for split, path in present.items()}
    info: dict = {"source": str(data_dir), "files": [p.name for p in present.values()]}
    if len(parts) == 2:
        splits = split_published(parts["train"], parts["test"], split_seed, dedupe, info, str(present["train"]))
    else:
        (only_split, examples), = parts.items()
        if dedupe:
            examples = clean(examples, only_split, info)
        splits = split_stratified(examples, split_seed, str(present[only_split]))
        info["split"] = (f"only {present[only_split].name} was found: stratified 80/10/10 split of it "
                         f"(split_seed {split_seed}); not the published split")
        print(f"note: {info['split']}")
    check_labels_trained(splits, names, str(data_dir))
    info["sizes"] = {k: len(v) for k, v in splits.items()}
    return TextSplits(names, splits["train"], splits["val"], splits["test"], info=info)


def hub_label_names(labels_table, where: str) -> dict[int, str]:
    """condition_label -> condition_name from the hub's `labels` config."""
    names = {}
    for number, row in enumerate(labels_table, start=1):
        label, name = row.get("condition_label"), str(row.get("condition_name") or "").strip()
        if not isinstance(label, int) or not name:
            raise DataError(f"{where}, row {number}: expected condition_label (integer) and condition_name, got {row}")
        names[label] = name
    if not names:
        raise DataError(f"{where}: no label names")
    return names


def load_medical_hub(split_seed: int, dedupe: bool, source: str = HUB_ID) -> TextSplits:
    """The hub's `default` config (published train and test), named through its `labels`
    config; `source` is the hub id or a local copy of the repository's files."""
    import datasets

    try:
        names_of = hub_label_names(datasets.load_dataset(source, "labels", split="train"), f"{source} [labels]")
        published = datasets.load_dataset(source)
    except DataError:
        raise
    except Exception as exc:  # offline, or the hub moved the files
        raise DataError(f"could not load {source} from the hub ({describe(exc)}); pass --data_dir with "
                        "the medical_tc_*.csv files instead") from None
    if set(published) != {"train", "test"}:
        raise DataError(f"{source}: expected the splits train and test, found {', '.join(published)}")
    ids = sorted(names_of)
    names = [names_of[i] for i in ids]
    parts = {}
    for split in ("train", "test"):
        rows = [dict(row) for row in published[split]]
        for number, row in enumerate(rows, start=1):
            if row.get(LABEL_COLUMN) not in names_of:
                raise DataError(f"{source}[{split}], row {number}: unknown {LABEL_COLUMN} {row.get(LABEL_COLUMN)!r} "
                                f"(the labels config has {', '.join(map(str, ids))})")
            row[LABEL_COLUMN] = names_of[row[LABEL_COLUMN]]
        parts[split] = rows_to_examples(rows, f"{source}[{split}]", TEXT_COLUMN, LABEL_COLUMN, (), "prepend", names)
    info = {"source": f"hub:{source}", "label_ids": dict(zip(ids, names))}
    splits = split_published(parts["train"], parts["test"], split_seed, dedupe, info, source)
    check_labels_trained(splits, names, source)
    info["sizes"] = {k: len(v) for k, v in splits.items()}
    return TextSplits(names, splits["train"], splits["val"], splits["test"], info=info)


def data_refs(cfg: Phase4Config) -> list[HubRef]:
    """What `load_splits` reads from the hub for `cfg`: the corpus's files, a hub data set, or nothing."""
    if cfg.dataset != MEDICAL_DATASET:
        return hub_dataset_refs(cfg)
    return [] if cfg.data_dir else [HubRef(HUB_ID, "dataset", files=HUB_FILES)]


def load_splits(cfg: Phase4Config) -> TextSplits:
    if cfg.dataset != MEDICAL_DATASET:
        return load_text_splits(cfg)
    if cfg.data_dir:
        return load_medical_files(Path(cfg.data_dir), cfg.split_seed, cfg.deduplicate)
    return load_medical_hub(cfg.split_seed, cfg.deduplicate)
