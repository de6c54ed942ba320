"""Phase 4 data: the Medical Abstracts corpus (Schopf et al. 2022), five condition classes.

From `data_dir`: `medical_tc_train.csv` and `medical_tc_test.csv` (columns
`condition_label,medical_abstract`, labels 1-5) with the class names in
`medical_tc_labels.csv` (`condition_label,condition_name`). With both files the published
test split is kept and validation is a stratified 10% of train; with only one of them
(the shared copy holds the test file alone) that file is split 80/10/10, stratified and
seeded by `split_seed`, and the run records it. Without `data_dir` the corpus comes from
the hub (`TimSchopf/medical_abstracts`). Any other data set goes through the generic
CSV/JSONL/hub path.

Some abstracts occur more than once, a few under different conditions; with
`deduplicate` (the default) one copy is kept and the conflicting ones are dropped, before
splitting, so that no text is in two splits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from common.errors import DataError
from common.text_data import (Example, TextSplits, carve, check_labels_trained, conflicting_texts, deduplicate,
                              load_hub_dataset, load_text_splits, read_table, rows_to_examples, split_stratified)
from phase4_medical_text_xai.config import MEDICAL_DATASET, Phase4Config

HUB_ID = "TimSchopf/medical_abstracts"
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


def load_medical_hub(split_seed: int, dedupe: bool) -> TextSplits:
    hub = load_hub_dataset(HUB_ID, text_column=TEXT_COLUMN, label_column=LABEL_COLUMN, split_seed=split_seed)
    names = hub.label_names
    if names == [str(i) for i in range(1, len(CONDITIONS) + 1)]:
        names = list(CONDITIONS)  # the hub stores the ids 1-5
    info = {"source": f"hub:{HUB_ID}"}
    # The hub has train and test; the validation part carved from train goes back before cleaning.
    splits = split_published(hub.train + hub.val, hub.test, split_seed, dedupe, info, HUB_ID)
    check_labels_trained(splits, names, HUB_ID)
    info["sizes"] = {k: len(v) for k, v in splits.items()}
    return TextSplits(names, splits["train"], splits["val"], splits["test"], info=info)


def load_splits(cfg: Phase4Config) -> TextSplits:
    if cfg.dataset != MEDICAL_DATASET:
        return load_text_splits(cfg)
    if cfg.data_dir:
        return load_medical_files(Path(cfg.data_dir), cfg.split_seed, cfg.deduplicate)
    return load_medical_hub(cfg.split_seed, cfg.deduplicate)
