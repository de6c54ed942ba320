"""Phase 2 data: the XLM-T multilingual tweet sentiment benchmark, or any text data set
with a language column, narrowed to the languages of the setup.

The original layout (`<language>/{train,val,test}_{text,labels}.txt`, one tweet or one
label 0/1/2 per line, the two files of a split aligned line by line) is read from
`data_dir`; without it, the parquet conversion of `cardiffnlp/tweet_sentiment_multilingual`
comes from the hub (the repository's own loading script is not run). Every example
carries its language as its group, so metrics are reported per language.

The hub layout, as checked on 2026-12-01 (the repository's tree at `refs/convert/parquet`):
no dataset card; one folder per config, `all/` and `arabic/` ... `spanish/`, each holding
`{train,validation,test}/0000.parquet` with the columns `text` (string) and `label`
(ClassLabel: negative, neutral, positive). `datasets` offers that branch as one config,
`default`, which reads `all/` and every language folder together (every tweet twice), and
knows no config per language; so each language's folder is read alone, with `data_dir`.

Setups: train and validation examples come from `train_languages`, test examples from
`languages`. Zero-shot transfer (train on English, test everywhere) therefore selects its
model on English validation data only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from common.errors import ConfigError, DataError, describe
from common.hub import HubRef
from common.text_data import hub_dataset_refs, load_text_splits
from common.splits import Example, TextSplits
from phase2_multilingual_sentiment.config import TWEET_DATASET, TWEET_LANGUAGES, Phase2Config

LABEL_NAMES = ["negative", "neutral", "positive"]
HUB_ID = "cardiffnlp/tweet_sentiment_multilingual"
HUB_REVISION = "refs/convert/parquet"  # the parquet conversion: no loading script runs
FILE_SPLITS = {"train": "train", "val": "val", "test": "test"}
HUB_SPLITS = {"train": "train", "validation": "val", "test": "test"}  # folder -> our split name


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")  # not splitlines(): a tweet may hold U+2028 and the like
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_language_split(directory: Path, language: str, split: str) -> list[Example]:
    """One language's split in the original layout; errors name the file and line."""
    text_path = directory / language / f"{split}_text.txt"
    label_path = directory / language / f"{split}_labels.txt"
    texts, labels = read_lines(text_path), read_lines(label_path)
    if len(texts) != len(labels):
        raise DataError(f"{text_path} has {len(texts)} lines but {label_path} has {len(labels)}: "
                        "the two files must be aligned line by line")
    examples = []
    for number, (text, label) in enumerate(zip(texts, labels), start=1):
        if label.strip() not in ("0", "1", "2"):
            raise DataError(f"{label_path}, line {number}: unknown label {label!r} "
                            "(expected 0 negative, 1 neutral, 2 positive)")
        if not text.strip():
            raise DataError(f"{text_path}, line {number}: empty text")
        examples.append(Example(text.strip(), int(label), group=language))
    if not examples:
        raise DataError(f"{text_path}: the split is empty")
    return examples


def load_tweet_files(data_dir: Path, languages: Sequence[str]) -> dict[str, list[Example]]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    splits = {name: [] for name in FILE_SPLITS}
    for language in languages:
        if not (data_dir / language).is_dir():
            found = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
            raise DataError(f"{data_dir}: no folder for language {language!r} (found: {', '.join(found) or 'none'})")
        for name, file_split in FILE_SPLITS.items():
            splits[name] += read_language_split(data_dir, language, file_split)
    return splits


def hub_files(languages: Sequence[str]) -> tuple[str, ...]:
    """The parquet files of the hub layout that `load_tweet_hub` reads for `languages`."""
    return tuple(f"{language}/{split}/*.parquet" for language in languages for split in HUB_SPLITS)


def load_tweet_hub(languages: Sequence[str], source: str = HUB_ID) -> dict[str, list[Example]]:
    """Each language's folder of the parquet branch (`source`: the hub id, or a local copy of
    that branch's files, which `datasets` reads the same way)."""
    import datasets

    splits = {name: [] for name in FILE_SPLITS}
    for language in languages:
        where = f"{source}@{HUB_REVISION}, folder {language}/"
        try:
            dataset = datasets.load_dataset(source, revision=HUB_REVISION, data_dir=language)
        except Exception as exc:  # offline, or the hub moved the files
            raise DataError(f"could not load {where} ({describe(exc)}); pass --data_dir with the original "
                            "files instead") from None
        if set(dataset) != set(HUB_SPLITS):
            raise DataError(f"{where}: expected the splits {', '.join(HUB_SPLITS)}, found {', '.join(dataset)}")
        names = getattr(dataset["train"].features.get("label"), "names", None)
        if names is not None and list(names) != LABEL_NAMES:
            raise DataError(f"{where}: the label names are {names}, expected {LABEL_NAMES} in that order")
        for hub_split, name in HUB_SPLITS.items():
            for number, row in enumerate(dataset[hub_split], start=1):
                if row["label"] not in (0, 1, 2):
                    raise DataError(f"{where}{hub_split}, row {number}: unknown label {row['label']!r}")
                splits[name].append(Example(row["text"].strip(), int(row["label"]), group=language))
    return splits


def check_languages(requested: Sequence[str], available: Sequence[str], key: str) -> None:
    unknown = [lang for lang in requested if lang not in available]
    if unknown:
        raise ConfigError(f"{key}: unknown language(s) {', '.join(map(repr, unknown))}; the data has "
                          f"{', '.join(available)}: set --{key} to some of those (presets such as zero_shot "
                          "name the XLM-T languages, e.g. 'english')")


def select_languages(splits: TextSplits, languages: Sequence[str], train_languages: Sequence[str]) -> TextSplits:
    """Train/val from `train_languages`, test from `languages` (empty: every language)."""
    available = list(dict.fromkeys(e.group for part in (splits.train, splits.val, splits.test) for e in part))
    if None in available:
        raise ConfigError("the data set has no language column: set group_column")
    check_languages(languages, available, "languages")
    check_languages(train_languages, available, "train_languages")
    evaluated = list(languages) or available
    trained = list(train_languages) or evaluated

    def keep(examples: list[Example], chosen: Sequence[str]) -> list[Example]:
        return [e for e in examples if e.group in chosen]

    selected = TextSplits(splits.label_names, keep(splits.train, trained), keep(splits.val, trained),
                          keep(splits.test, evaluated))
    for name in ("train", "val", "test"):
        if not selected.split(name):
            raise DataError(f"the {name} split has no examples in the chosen languages")
    selected.info = {**splits.info, "train_languages": trained, "test_languages": evaluated,
                     "sizes": {name: {lang: sum(e.group == lang for e in selected.split(name))
                                      for lang in (evaluated if name == "test" else trained)}
                               for name in ("train", "val", "test")}}
    return selected


def needed_languages(cfg: Phase2Config) -> list[str]:
    return list(dict.fromkeys([*(cfg.languages or TWEET_LANGUAGES), *cfg.train_languages]))


def data_refs(cfg: Phase2Config) -> list[HubRef]:
    """What `load_splits` reads from the hub for `cfg`: the languages' parquet files, a hub data set, or nothing."""
    if cfg.dataset != TWEET_DATASET:
        return hub_dataset_refs(cfg)
    return [] if cfg.data_dir else [HubRef(HUB_ID, "dataset", revision=HUB_REVISION,
                                           files=hub_files(needed_languages(cfg)))]


def load_splits(cfg: Phase2Config) -> TextSplits:
    if cfg.dataset != TWEET_DATASET:
        if not cfg.group_column:
            raise ConfigError(f"dataset {cfg.dataset!r}: set group_column to its language column")
        return select_languages(load_text_splits(cfg), cfg.languages, cfg.train_languages)
    needed = needed_languages(cfg)
    check_languages(needed, TWEET_LANGUAGES, "languages")
    source: Optional[str] = cfg.data_dir
    parts = load_tweet_files(Path(source), needed) if source else load_tweet_hub(needed)
    splits = TextSplits(list(LABEL_NAMES), parts["train"], parts["val"], parts["test"],
                        info={"source": str(source) if source else f"hub:{HUB_ID}@{HUB_REVISION}"})
    return select_languages(splits, cfg.languages, cfg.train_languages)
