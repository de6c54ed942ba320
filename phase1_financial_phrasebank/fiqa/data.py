"""FiQA 2018 Task 1 (aspect-based financial sentiment; Maia et al. 2018): reading the
challenge's train files and one seeded split grouped by sentence.

The files, `task1_{headline,post}_ABSA_train.json`, are JSON objects keyed by id; each
value is `{"sentence", "info": [{"snippets", "target", "sentiment_score", "aspects"}]}`:
one sentence may carry several (target, score, aspect) entries (57 headlines do). Scores
are strings holding floats in [-1, 1]; `snippets` and `aspects` are Python lists written as
strings, and a few are not valid Python (an apostrophe inside a quoted snippet, a missing
closing quote), so they are read leniently: Python's own parser first, then the text
between the brackets split at quote-comma-quote. An entry that cannot be read at all (no
sentence, no target, a score that is not a number in [-1, 1], no aspect) is an error
naming the file and the id. The challenge's test files carry no labels, so the examples
are the train files' entries, split 80/10/10 with every entry of one sentence in one split
(scikit-learn's StratifiedGroupKFold over sentences, stratified by the task's label).

The hub copy `pauri32/fiqa-2018` is a rebalanced re-split into CSV files, not the
challenge's files; it is not read here (pass --data_dir with the challenge's files).
"""
from __future__ import annotations

import ast
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from common.errors import DataError
from common.splits import Splits
from common.splits import Example, split_by_group

FILES = {"headline": "task1_headline_ABSA_train.json", "post": "task1_post_ABSA_train.json"}
SENTIMENT_LABELS = ("negative", "neutral", "positive")
ASPECT_LEVELS = ("1", "2", "full")
FIQA_TASKS = ("sentiment", "sentiment_score", "aspect")


@dataclass(frozen=True)
class Entry:
    """One (sentence, target) entry of the challenge's train files."""

    id: str  # "<source>:<id in its file>", the sentence's id (shared by its entries)
    source: str  # headline or post
    sentence: str
    target: str
    score: float  # sentiment in [-1, 1]
    aspect: str  # the full aspect path, e.g. "Stock/Price Action/Bullish"
    snippets: tuple[str, ...]
    aspects: int = 1  # how many aspects the entry lists (the first one is used)


def parse_list(text: str) -> list[str]:
    """A list of strings written as a Python literal, read leniently (see the module docstring)."""
    return read_list(text)[0]


def read_list(text: str) -> tuple[list[str], bool]:
    """`parse_list`'s items, and whether the text needed the lenient reading."""
    try:
        value = ast.literal_eval(text)
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return [item.strip() for item in value if item.strip()], False
    except (ValueError, SyntaxError):
        pass
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    parts = [part.strip() for part in re.split(r"""['"]\s*,\s*['"]""", inner)]
    cleaned = []
    for index, part in enumerate(parts):  # one quote off each end of the list, and at each comma
        if index == 0 and part[:1] in "'\"":
            part = part[1:]
        if index == len(parts) - 1 and part[-1:] in "'\"":
            part = part[:-1]
        cleaned.append(part.strip())
    return [part for part in cleaned if part], True


def read_entries(path: Path, source: str) -> tuple[list[Entry], int]:
    """The entries of one train file, and how many of its list fields needed the lenient reading."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object keyed by id, found {type(data).__name__}")
    entries, lenient = [], 0
    for key, value in data.items():
        where = f"{path}, id {key}"
        sentence = value.get("sentence") if isinstance(value, dict) else None
        infos = value.get("info") if isinstance(value, dict) else None
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"{where}: no sentence")
        if not isinstance(infos, list) or not infos:
            raise DataError(f"{where}: no 'info' entries (target, sentiment_score, aspects)")
        for number, info in enumerate(infos, start=1):
            at = f"{where}, entry {number}"
            target = info.get("target") if isinstance(info, dict) else None
            if not isinstance(target, str) or not target.strip():
                raise DataError(f"{at}: no target")
            try:
                score = float(info.get("sentiment_score"))
            except (TypeError, ValueError):
                raise DataError(f"{at}: sentiment_score {info.get('sentiment_score')!r} is not a number") from None
            if not -1.0 <= score <= 1.0:
                raise DataError(f"{at}: sentiment_score {score} is outside [-1, 1]")
            aspects_text, snippets_text = str(info.get("aspects", "")), str(info.get("snippets", "[]"))
            (aspects, odd_aspects), (snippets, odd_snippets) = read_list(aspects_text), read_list(snippets_text)
            lenient += odd_aspects + odd_snippets
            if not aspects:
                raise DataError(f"{at}: no aspect in {aspects_text!r}")
            entries.append(Entry(f"{source}:{key}", source, sentence.strip(), target.strip(), score, aspects[0],
                                 tuple(snippets), len(aspects)))
    if not entries:
        raise DataError(f"{path}: no entries")
    return entries, lenient


def read_fiqa(data_dir: Path) -> tuple[list[Entry], dict]:
    """Every entry of both train files, and what metrics.json records of them."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; expected the FiQA 2018 Task 1 files "
                        f"{', '.join(FILES.values())} in it")
    missing = [name for name in FILES.values() if not (data_dir / name).is_file()]
    if missing:
        raise DataError(f"data directory {data_dir} lacks {', '.join(missing)} (expected {', '.join(FILES.values())})")
    entries, info = [], {"files": {}, "lenient_fields": 0}
    for source, name in FILES.items():
        found, lenient = read_entries(data_dir / name, source)
        entries += found
        info["files"][name] = {"sentences": len({e.id for e in found}), "entries": len(found)}
        info["lenient_fields"] += lenient
    info.update(entries=len(entries), sentences=len({e.id for e in entries}),
                several_aspects=sum(e.aspects > 1 for e in entries),
                aspect_paths={"as_written": len({e.aspect for e in entries}),
                              "distinct": len({aspect_at(e.aspect, "full") for e in entries})},
                target_not_in_sentence=sum(e.target.lower() not in e.sentence.lower() for e in entries))
    return entries, info


def aspect_at(path: str, level: str) -> str:
    """The aspect path cut at `level`: "1" (Corporate, Stock, Market, Economy), "2" or "full";
    empty parts and spaces around parts are dropped ("Corporate/M&A/" is "Corporate/M&A")."""
    if level not in ASPECT_LEVELS:
        raise DataError(f"unknown aspect level {level!r}; use one of {', '.join(ASPECT_LEVELS)}")
    parts = [part.strip() for part in path.split("/") if part.strip()]
    return "/".join(parts if level == "full" else parts[:int(level)])


def sentiment_class(score: float, neutral_low: float, neutral_high: float) -> str:
    """negative below `neutral_low`, positive above `neutral_high`, neutral in between (bounds included)."""
    return "negative" if score < neutral_low else "positive" if score > neutral_high else "neutral"


def unseen_labels(train: Sequence[str], test: Sequence[str]) -> dict:
    """How many test examples carry a label that no training example has (no classifier can get them right)."""
    seen = set(train)
    unseen = [label for label in test if label not in seen]
    return {"examples": len(unseen), "labels": len(set(unseen)), "share": round(len(unseen) / max(len(test), 1), 4)}


def label_counts(labels: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))


CONTEXTS = ("target", "aspect")
SCORE = "sentiment_score"  # the one "label" of the regression task


def entry_label(entry: Entry, task: str, aspect_level: str, neutral_low: float, neutral_high: float) -> str:
    if task == "sentiment":
        return sentiment_class(entry.score, neutral_low, neutral_high)
    if task == "aspect":
        return aspect_at(entry.aspect, aspect_level)
    return SCORE


def entry_context(entry: Entry, columns: Sequence[str], aspect_level: str) -> Optional[str]:
    """What goes beside the sentence: its target and/or its aspect (at `aspect_level`), in the order asked."""
    parts = {"target": entry.target, "aspect": aspect_at(entry.aspect, aspect_level).replace("/", " / ")}
    return " ; ".join(parts[column] for column in columns) or None


def split_of_sentences(entries: Sequence[Entry], seed: int, source: str) -> dict[str, str]:
    """The split of each sentence id: 80/10/10 over sentences, stratified by the level-1 aspect
    and the sentiment class together, the same for every FiQA task and label level (so each
    FiQA table compares rows on the same test sentences)."""
    strata = [f"{aspect_at(e.aspect, '1')}|{sentiment_class(e.score, -0.1, 0.1)}" for e in entries]
    stand_ins = [Example(e.sentence, 0, split_group=e.id) for e in entries]
    with warnings.catch_warnings():  # some strata are too rare for 10 folds; StratifiedGroupKFold then balances less
        warnings.simplefilter("ignore", UserWarning)
        parts = split_by_group(stand_ins, seed, source, strata=strata)
    return {example.split_group: name for name, examples in parts.items() for example in examples}


def fiqa_splits(data_dir: Optional[str], task: str, context: Sequence[str], aspect_level: str, neutral_low: float,
                neutral_high: float, split_seed: int, context_mode: str = "pair") -> Splits:
    """Train/val/test examples of one FiQA task: the sentence (with its context as a text
    pair, or prepended), labelled by `task` (the score itself, a float, for sentiment_score);
    `info` records counts, labels and what no training example carries."""
    if data_dir is None:
        raise DataError("dataset fiqa_2018 needs --data_dir with the challenge's files "
                        f"({', '.join(FILES.values())}); there is no hub copy of them")
    if task not in FIQA_TASKS:
        raise DataError(f"unknown FiQA task {task!r}; use one of {', '.join(FIQA_TASKS)}")
    unknown = [column for column in context if column not in CONTEXTS]
    if unknown:
        raise DataError(f"FiQA context {', '.join(unknown)} unknown; use target and/or aspect")
    if task == "aspect" and "aspect" in context:
        raise DataError("the aspect task cannot take the aspect as its context: it is the label")
    if not neutral_low <= neutral_high:
        raise DataError(f"neutral band [{neutral_low}, {neutral_high}] is empty")
    entries, info = read_fiqa(Path(data_dir))
    split_of = split_of_sentences(entries, split_seed, str(data_dir))
    labels = [entry_label(e, task, aspect_level, neutral_low, neutral_high) for e in entries]
    label_names = list(SENTIMENT_LABELS) if task == "sentiment" else sorted(set(labels))
    parts: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
    for entry, label in zip(entries, labels):
        pair = entry_context(entry, context, aspect_level)
        text = entry.sentence if pair is None or context_mode == "pair" else f"{pair}: {entry.sentence}"
        target = entry.score if task == SCORE else label_names.index(label)
        parts[split_of[entry.id]].append(Example(text, target, pair if context_mode == "pair" else None,
                                                 split_group=entry.id))
    info.update(source="fiqa_2018", task=task, context=list(context), aspect_level=aspect_level,
                neutral_band=[neutral_low, neutral_high],
                split="80/10/10 over sentences (all entries of a sentence in one split), stratified by level-1 "
                      "aspect x sentiment class, one split for every FiQA task (split_seed)",
                sizes={name: len(examples) for name, examples in parts.items()})
    if task != SCORE:
        labels_of = {name: [label_names[e.label] for e in examples] for name, examples in parts.items()}
        info.update(label_counts={name: label_counts(values) for name, values in labels_of.items()},
                    unseen_labels={name: unseen_labels(labels_of["train"], labels_of[name])
                                   for name in ("val", "test")})
    return Splits(label_names, parts["train"], parts["val"], parts["test"], info=info)


@dataclass(frozen=True)
class TargetExample:
    """One entry for target extraction: the sentence, its gold target, its aspect context."""

    text: str
    target: str
    pair: Optional[str] = None  # the aspect, when the input carries it
    split_group: Optional[str] = None  # the sentence's id
    group: Optional[str] = None  # no per-group scores


def target_splits(data_dir: Optional[str], context: Sequence[str], aspect_level: str, split_seed: int) -> Splits:
    """Train/val/test entries for target extraction, on the split every FiQA task shares."""
    if data_dir is None:
        raise DataError("dataset fiqa_2018 needs --data_dir with the challenge's files "
                        f"({', '.join(FILES.values())}); there is no hub copy of them")
    entries, info = read_fiqa(Path(data_dir))
    split_of = split_of_sentences(entries, split_seed, str(data_dir))
    parts: dict[str, list[TargetExample]] = {"train": [], "val": [], "test": []}
    for entry in entries:
        pair = entry_context(entry, [c for c in context if c == "aspect"], aspect_level)
        parts[split_of[entry.id]].append(TargetExample(entry.sentence, entry.target, pair, entry.id))
    several = Counter(e.id for e in entries)
    info.update(source="fiqa_2018", task="target", context=list(context), aspect_level=aspect_level,
                split="80/10/10 over sentences, the split every FiQA task shares (split_seed)",
                sizes={name: len(examples) for name, examples in parts.items()},
                several_targets={name: sum(several[e.split_group] > 1 for e in examples)
                                 for name, examples in parts.items()},
                target_not_in_sentence={name: sum(e.target.lower() not in e.text.lower() for e in examples)
                                        for name, examples in parts.items()})
    return Splits([], parts["train"], parts["val"], parts["test"], info=info)
