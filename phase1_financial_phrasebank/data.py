"""Financial PhraseBank v1.0: reading, cleaning and the one leakage-free split.

The release has four files, `Sentences_{50,66,75,All}Agree.txt`, one `sentence@label` per
line in latin-1. The levels are nested (a sentence with 75% agreement also has 66% and
50%), so splitting each level on its own would put a test sentence of one level into the
training split of another. Instead ONE stratified 80/10/10 split is drawn over every
distinct sentence and applied to all levels: a sentence sits in the same split at every
level, and no level's test sentence is ever trained on.

Without `data_dir`, the release zip is fetched from the hub dataset repository and read
with the same parser (the hub's loading script no longer runs under `datasets` >= 4).
The hub layout, as checked on 2026-12-01 (`takala/financial_phrasebank`, branch main):
README.md, the loading script `financial_phrasebank.py`, and the release zip
`data/FinancialPhraseBank-v1.0.zip`, whose folder `FinancialPhraseBank-v1.0/` holds the four
`Sentences_*Agree.txt` files with the release's License.txt and README.txt.
"""
from __future__ import annotations

import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from common.errors import DataError
from common.hub import HubRef
from common.text_data import hub_dataset_refs, load_text_splits
from common.splits import Example, TextSplits, deduplicate
from phase1_financial_phrasebank.config import LEVELS, Phase1Config
from phase1_financial_phrasebank.fiqa.data import fiqa_splits

LABELS = ("negative", "neutral", "positive")
SPLITS = ("train", "val", "test")
HUB_REPO = "takala/financial_phrasebank"
HUB_ZIP = "data/FinancialPhraseBank-v1.0.zip"
ENCODING = "latin-1"

Pair = tuple[str, str]  # (sentence, label)


def level_filename(level: str) -> str:
    return f"Sentences_{level}.txt"


def parse_phrasebank(lines: Iterable[str], source: str) -> list[Pair]:
    """Parse `sentence@label` lines; errors name the source and the 1-based line number."""
    pairs = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep or not sentence.strip():
            raise DataError(f"{source}, line {number}: malformed line (expected 'sentence@label'): {line[:80]!r}")
        label = label.strip().lower()
        if label not in LABELS:
            raise DataError(f"{source}, line {number}: unknown label {label!r} (expected one of {', '.join(LABELS)})")
        pairs.append((sentence.strip(), label))
    if not pairs:
        raise DataError(f"{source}: no sentences found (empty file)")
    return pairs


def read_level_files(data_dir: Path) -> dict[str, list[Pair]]:
    data_dir = Path(data_dir)
    expected = [level_filename(level) for level in LEVELS]
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; expected the Financial PhraseBank v1.0 "
                        f"files {', '.join(expected)} in it")
    missing = [name for name in expected if not (data_dir / name).is_file()]
    if missing:
        raise DataError(f"data directory {data_dir} lacks {', '.join(missing)} "
                        f"(expected all of {', '.join(expected)})")
    return {level: parse_phrasebank((data_dir / level_filename(level)).read_text(encoding=ENCODING).splitlines(),
                                    str(data_dir / level_filename(level)))
            for level in LEVELS}


def read_level_zip(zip_path: Path) -> dict[str, list[Pair]]:
    """Read the four level files from the release zip (members may sit in a folder)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{zip_path}: not a readable zip file ({exc})") from None
    with archive:
        members = {Path(name).name: name for name in archive.namelist() if not name.startswith("__MACOSX")}
        levels = {}
        for level in LEVELS:
            name = level_filename(level)
            if name not in members:
                raise DataError(f"{zip_path}: no member {name} (members: {', '.join(sorted(members))})")
            text = io.TextIOWrapper(archive.open(members[name]), encoding=ENCODING)
            levels[level] = parse_phrasebank(text, f"{zip_path}:{members[name]}")
    return levels


def fetch_hub_zip(cache_dir: Optional[Path] = None) -> Path:
    """Download the release zip from the hub dataset repository into the huggingface_hub
    cache (`cache_dir`, default HF_HUB_CACHE); offline, the cached copy is used."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=HUB_REPO, filename=HUB_ZIP, repo_type="dataset", cache_dir=cache_dir))
    except Exception as exc:  # offline, proxy, auth: all mean the same to the user
        raise DataError(f"could not download {HUB_ZIP} from the hub dataset {HUB_REPO} ({type(exc).__name__}: "
                        f"{exc}); pass --data_dir with the Financial PhraseBank v1.0 files instead") from None


@dataclass
class PhraseBank:
    """Clean sentences per level, their split, and what cleaning removed."""

    levels: dict[str, list[Pair]]
    split_of: dict[str, str]
    cleaning: dict[str, dict] = field(default_factory=dict)

    def split(self, level: str, split: str) -> list[Pair]:
        return [pair for pair in self.levels[level] if self.split_of[pair[0]] == split]


def assign_splits(levels: dict[str, list[Pair]], seed: int, ratios=(0.8, 0.1, 0.1)) -> dict[str, str]:
    """One stratified split over every distinct sentence of every level.

    A sentence is stratified by its label at the highest agreement level that keeps it
    (the most reliable label; it only differs when the 50% annotations conflict).
    """
    label_of: dict[str, str] = {}
    for level in reversed(LEVELS):  # AllAgree first
        for sentence, label in levels[level]:
            label_of.setdefault(sentence, label)
    sentences = sorted(label_of)  # order-independent of the input files
    strata = [label_of[s] for s in sentences]
    from sklearn.model_selection import train_test_split  # here: scikit-learn takes a second to import

    try:
        train, rest, _, rest_strata = train_test_split(sentences, strata, train_size=ratios[0],
                                                       stratify=strata, random_state=seed)
        val, test = train_test_split(rest, train_size=ratios[1] / (ratios[1] + ratios[2]),
                                     stratify=rest_strata, random_state=seed)
    except ValueError as exc:  # sklearn: a class too rare to appear in every split
        raise DataError(f"too few sentences for a stratified 80/10/10 split ({len(sentences)} sentences, "
                        f"label counts {dict(Counter(strata))}): {exc}") from None
    return {**{s: "train" for s in train}, **{s: "val" for s in val}, **{s: "test" for s in test}}


def load_phrasebank(data_dir: Optional[str], split_seed: int, zip_path: Optional[Path] = None) -> PhraseBank:
    """Read (from `data_dir`, a zip, or the hub), deduplicate, and split every level."""
    if data_dir is not None:
        raw = read_level_files(Path(data_dir))
    else:
        raw = read_level_zip(zip_path or fetch_hub_zip())
    levels, cleaning = {}, {}
    for level in LEVELS:
        levels[level], cleaning[level] = deduplicate(raw[level])
    split_of = assign_splits(levels, split_seed)
    bank = PhraseBank(levels=levels, split_of=split_of, cleaning=cleaning)
    for level in LEVELS:
        for split in SPLITS:
            if not bank.split(level, split):
                raise DataError(f"{level}: the {split} split is empty; the data set is too small to split 80/10/10")
    return bank


def phrasebank_splits(bank: PhraseBank, train_level: str, eval_levels: list[str]) -> TextSplits:
    """Train/val/test of one level, plus the test split of every evaluation level."""
    def examples(level: str, split: str) -> list[Example]:
        return [Example(sentence, LABELS.index(label)) for sentence, label in bank.split(level, split)]

    test = examples(train_level, "test")  # the same list object when it is also an evaluation level
    train, val = examples(train_level, "train"), examples(train_level, "val")
    return TextSplits(list(LABELS), train, val, test,
                      extra_tests={level: test if level == train_level else examples(level, "test")
                                   for level in eval_levels},
                      info={"source": "financial_phrasebank", "train_level": train_level, "cleaning": bank.cleaning,
                            "split": "one stratified 80/10/10 split of every sentence, shared by all agreement "
                                     "levels (split_seed)",
                            "sizes": {"train": len(train), "val": len(val), "test": len(test)}})


def data_refs(cfg: Phase1Config) -> list[HubRef]:
    """What `load_splits` reads from the hub for `cfg`: the release zip, a hub data set, or nothing."""
    if cfg.dataset == "fiqa_2018":
        return []  # read from data_dir alone (fiqa/data.py)
    if cfg.dataset == "financial_phrasebank":
        return [] if cfg.data_dir else [HubRef(HUB_REPO, "dataset", files=(HUB_ZIP,))]
    return hub_dataset_refs(cfg)


def load_splits(cfg: Phase1Config) -> TextSplits:
    """Financial PhraseBank, FiQA 2018, a local CSV/TSV/JSONL file, or a hub data set, per `cfg.dataset`."""
    if cfg.dataset == "fiqa_2018":
        return fiqa_splits(cfg.data_dir, cfg.fiqa_task, list(cfg.context_columns), cfg.fiqa_aspect_level,
                           cfg.fiqa_neutral_low, cfg.fiqa_neutral_high, cfg.split_seed, cfg.context_mode)
    if cfg.dataset == "financial_phrasebank":
        bank = load_phrasebank(cfg.data_dir, cfg.split_seed)
        return phrasebank_splits(bank, cfg.train_agreement, list(cfg.eval_agreements))
    return load_text_splits(cfg)
