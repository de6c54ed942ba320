"""Local replicas of the hub repositories the code reads, in their real layouts.

Each writer copies a layout as the hub showed it on 2026-12-01 (folders, file names,
formats, columns, label encodings), written out literally here rather than from the
constants of the code under test, so that a wrong constant there fails a test here. The
replicas are read through the same `datasets` / `huggingface_hub` / `transformers` calls
the code makes for the hub: a replica folder stands where the hub id goes, or a replica
of the huggingface_hub cache (`models--org--name/{blobs,refs,snapshots}`) answers the
real hub id offline.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Sequence, Union

TWEET_LABELS = ["negative", "neutral", "positive"]


def write_cached_repo(cache: Path, repo_type: str, repo_id: str, files: dict[str, Union[bytes, Path]],
                      revision: str = "main") -> Path:
    """A repository in the huggingface_hub cache layout: content-addressed blobs, a
    snapshot folder per commit whose files link to them, and refs naming the commit."""
    folder = Path(cache) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}:{sorted(files)}".encode()).hexdigest()
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    ref = folder / "refs" / revision  # a revision such as refs/convert/parquet nests folders
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    return folder


def cache_model_dir(cache: Path, repo_id: str, directory: Path) -> Path:
    """A saved model directory (config, weights, tokenizer files) as the cached hub model `repo_id`."""
    return write_cached_repo(cache, "model", repo_id, {p.name: p for p in Path(directory).iterdir() if p.is_file()})


def phrasebank_release_zip(level_files: dict[str, Path]) -> bytes:
    """FinancialPhraseBank-v1.0.zip: the four level files, License.txt and README.txt in one folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in level_files.items():
            archive.write(path, f"FinancialPhraseBank-v1.0/{name}")
        archive.writestr("FinancialPhraseBank-v1.0/License.txt", "CC BY-NC-SA 3.0\n")
        archive.writestr("FinancialPhraseBank-v1.0/README.txt", "Financial Phrase Bank v1.0\n")
    return buffer.getvalue()


def cache_phrasebank(cache: Path, phrasebank_dir: Path) -> Path:
    """takala/financial_phrasebank (branch main): README.md, the loading script, data/FinancialPhraseBank-v1.0.zip."""
    levels = {p.name: p for p in sorted(Path(phrasebank_dir).glob("Sentences_*Agree.txt"))}
    return write_cached_repo(cache, "dataset", "takala/financial_phrasebank", {
        "README.md": b"---\nlicense: cc-by-nc-sa-3.0\n---\n# Dataset Card for financial_phrasebank\n",
        "financial_phrasebank.py": b"# the loading script (not run by datasets >= 4)\n",
        "data/FinancialPhraseBank-v1.0.zip": phrasebank_release_zip(levels)})


def tweet_features(label_names: Sequence[str] = TWEET_LABELS):
    import datasets

    return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(label_names))})


def write_tweet_parquet_branch(root: Path, languages: Sequence[str], per_split: dict[str, int],
                               label_names: Sequence[str] = TWEET_LABELS) -> Path:
    """cardiffnlp/tweet_sentiment_multilingual at refs/convert/parquet: no dataset card;
    `all/` and one folder per language, each `{train,validation,test}/0000.parquet` with
    `text` and a ClassLabel `label`. `all/` holds every language's rows again."""
    import datasets

    rows = {split: {"text": [], "label": []} for split in per_split}
    for language in languages:
        for split, n in per_split.items():
            table = {"text": [f"{language} {split} tweet {i}" for i in range(n)], "label": [i % 3 for i in range(n)]}
            write_parquet(datasets.Dataset.from_dict(table, features=tweet_features(label_names)),
                          root / language / split / "0000.parquet")
            rows[split]["text"] += table["text"]
            rows[split]["label"] += table["label"]
    for split, table in rows.items():
        write_parquet(datasets.Dataset.from_dict(table, features=tweet_features(label_names)),
                      root / "all" / split / "0000.parquet")
    return root


def write_parquet(dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(path))  # keeps the features (ClassLabel names) in the file's metadata, as the hub's do


MEDICAL_CARD = """---
dataset_info:
- config_name: default
  features:
  - name: condition_label
    dtype: int64
  - name: medical_abstract
    dtype: string
  splits:
  - name: train
    num_bytes: {train_bytes}
    num_examples: {train_rows}
  - name: test
    num_bytes: {test_bytes}
    num_examples: {test_rows}
- config_name: labels
  features:
  - name: condition_label
    dtype: int64
  - name: condition_name
    dtype: string
  splits:
  - name: train
    num_bytes: 171
    num_examples: 5
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
- config_name: labels
  data_files:
  - split: train
    path: labels/train-*
license: cc-by-sa-3.0
---
# Medical Abstracts Text Classification Dataset
"""
CONDITION_NAMES = ["neoplasms", "digestive system diseases", "nervous system diseases", "cardiovascular diseases",
                   "general pathological conditions"]


def write_medical_abstracts_repo(root: Path, train: Sequence[tuple[int, str]], test: Sequence[tuple[int, str]],
                                 first_id: int = 1) -> Path:
    """TimSchopf/medical_abstracts: README.md declaring the `default` and `labels` configs,
    `data/{train,test}-00000-of-00001.parquet` (condition_label int64, medical_abstract) and
    `labels/train-00000-of-00001.parquet` (condition_label, condition_name). Rows are
    (0-based condition, text); the files store condition + first_id (the hub's are 1-5)."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    # the card's split sizes are verified by `datasets` on load, as on the hub (11,550 and 2,888 rows there)
    (root / "README.md").write_text(MEDICAL_CARD.format(
        train_rows=len(train), test_rows=len(test), train_bytes=sum(len(t) + 8 for _, t in train),
        test_bytes=sum(len(t) + 8 for _, t in test)), encoding="utf-8")
    for split, rows in (("train", train), ("test", test)):
        frame = pd.DataFrame({"condition_label": [c + first_id for c, _ in rows],
                              "medical_abstract": [t for _, t in rows]}).astype({"condition_label": "int64"})
        (root / "data").mkdir(exist_ok=True)
        frame.to_parquet(root / "data" / f"{split}-00000-of-00001.parquet", index=False)
    (root / "labels").mkdir(exist_ok=True)
    pd.DataFrame({"condition_label": [i + first_id for i in range(len(CONDITION_NAMES))],
                  "condition_name": CONDITION_NAMES}).to_parquet(root / "labels" / "train-00000-of-00001.parquet",
                                                                 index=False)
    return root


def write_pushed_dataset(root: Path, splits: dict[str, dict], features=None) -> Path:
    """Any data set as `push_to_hub` lays it out: `data/<split>-00000-of-00001.parquet`."""
    import datasets

    for split, table in splits.items():
        write_parquet(datasets.Dataset.from_dict(table, features=features),
                      root / "data" / f"{split}-00000-of-00001.parquet")
    return root
