"""A synthetic Financial PhraseBank in the original file layout: templated sentences with
nested agreement levels, one repeated sentence and one whose copies disagree. For smoke
runs (`python -m common.reproduce --quick`) and the tests; it says nothing about the real data."""
from __future__ import annotations

import json
import random
from pathlib import Path

from phase1_financial_phrasebank.config import LEVELS

COMPANIES = ["Nokia", "Elcoteq", "Fiskars", "Kone", "Outokumpu", "Stora", "Wartsila", "Orion", "Sampo", "Neste"]
TEMPLATES = {
    "positive": ["{c} net profit rose {n} percent in the quarter .", "{c} operating profit increased to EUR {n} mn .",
                 "{c} sales grew by {n} % and the outlook improved ."],
    "negative": ["{c} net loss widened to EUR {n} mn .", "{c} cut {n} jobs after sales fell .",
                 "{c} operating profit decreased {n} percent ."],
    "neutral": ["{c} is headquartered in Helsinki and employs {n} people .", "{c} will publish its report on {n} May .",
                "The company {c} has {n} shareholders ."],
}


def synthetic_phrasebank(n: int = 240, seed: int = 0) -> dict[str, list[str]]:
    """Nested agreement levels of `sentence@label` lines, with one repeated sentence and one
    sentence whose copies disagree (both in 50Agree only)."""
    rng = random.Random(seed)
    sentences = {}
    while len(sentences) < n:
        label = rng.choice(["neutral", "neutral", "positive", "negative"])
        text = rng.choice(TEMPLATES[label]).format(c=rng.choice(COMPANIES), n=rng.randint(2, 999))
        sentences.setdefault(text, label)
    pairs = sorted(sentences.items())
    rng.shuffle(pairs)
    agreement = {s: rng.choice(range(4)) for s, _ in pairs}  # index of the highest level it reaches
    levels = {level: [f"{s}@{label}" for s, label in pairs if agreement[s] >= i] for i, level in enumerate(LEVELS)}
    levels["50Agree"] += [levels["50Agree"][0], "Kone signed a deal with Nokia .@neutral",
                          "Kone signed a deal with Nokia .@positive"]
    return levels


def write_phrasebank(directory: Path, levels: dict[str, list[str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for level, lines in levels.items():
        (directory / f"Sentences_{level}.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return directory


def vocabulary(levels: dict[str, list[str]]) -> set[str]:
    """Every word of the sentences (lower-cased, '%' split off), e.g. for a tiny tokenizer."""
    return {w.lower() for lines in levels.values() for line in lines
            for w in line.rsplit("@", 1)[0].replace("%", " % ").split()}


ASPECTS = {"positive": ["Corporate/Sales", "Stock/Price Action/Bullish"], "negative": ["Corporate/Risks",
           "Stock/Price Action/Bearish"], "neutral": ["Corporate/Company Communication", "Market/Volatility"]}
SCORES = {"positive": (0.2, 0.9), "negative": (-0.9, -0.2), "neutral": (-0.05, 0.05)}


def synthetic_fiqa(n: int = 200, seed: int = 0) -> dict[str, dict]:
    """Headline and post files of FiQA 2018 Task 1 in the challenge's layout (JSON keyed by id,
    list fields written as Python literals), from the PhraseBank templates: the target is the
    sentence's company, the score and aspect follow its label. Like the real files, some
    sentences carry two targets, one snippet has an unescaped apostrophe and one aspect lacks
    its closing quote."""
    rng = random.Random(seed)
    files: dict[str, dict] = {"task1_headline_ABSA_train.json": {}, "task1_post_ABSA_train.json": {}}
    for number in range(n):
        label = rng.choice(["neutral", "positive", "positive", "negative"])
        company = rng.choice(COMPANIES)
        sentence = rng.choice(TEMPLATES[label]).format(c=company, n=rng.randint(2, 999))
        info = [{"snippets": repr([sentence.split(" ", 1)[1]]), "target": company,
                 "sentiment_score": f"{rng.uniform(*SCORES[label]):.3f}",
                 "aspects": repr([rng.choice(ASPECTS[label])])}]
        name = "task1_headline_ABSA_train.json" if number % 2 else "task1_post_ABSA_train.json"
        if number % 17 == 3:  # a second target in the same sentence, with its own score and aspect
            other = rng.choice([c for c in COMPANIES if c != company])
            sentence = f"{sentence} {other} was not mentioned ."
            info.append({"snippets": repr(["not mentioned"]), "target": other, "sentiment_score": "0.0",
                         "aspects": repr(["Corporate/Company Communication"])})
        files[name][str(1000 + number)] = {"sentence": sentence, "info": info}
    headline = files["task1_headline_ABSA_train.json"]
    first, second = list(headline)[:2]
    headline[first]["info"][0]["snippets"] = "['" + headline[first]["sentence"].split(" ", 1)[1] + "'s view']"
    headline[second]["info"][0]["aspects"] = "['Market/Volatility]"
    return files


def write_fiqa(directory: Path, files: dict[str, dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
    return directory
