"""Synthetic tweets in three languages, in the XLM-T original layout, for smoke runs and the tests."""
from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "english": {0: ["awful", "hate", "terrible"], 1: ["today", "meeting", "report"], 2: ["great", "love", "happy"]},
    "french": {0: ["horrible", "deteste", "nul"], 1: ["aujourd", "reunion", "rapport"],
               2: ["super", "adore", "heureux"]},
    "german": {0: ["schrecklich", "hasse", "mies"], 1: ["heute", "treffen", "bericht"], 2: ["toll", "liebe", "froh"]},
}
FILLER = {"english": ["the", "game", "was"], "french": ["le", "match", "etait"], "german": ["das", "spiel", "war"]}
SIZES = {"train": 60, "val": 15, "test": 24}


def vocabulary() -> set[str]:
    return {w for lang in WORDS for ws in WORDS[lang].values() for w in ws} | {w for ws in FILLER.values() for w in ws}


def write_tweets(root: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for language in WORDS:
        (root / language).mkdir(parents=True, exist_ok=True)
        for split, size in SIZES.items():
            labels = [i % 3 for i in range(size)]
            rng.shuffle(labels)
            texts = [" ".join(rng.sample(FILLER[language], 2) + [rng.choice(WORDS[language][y])] + ["!"])
                     for y in labels]
            (root / language / f"{split}_text.txt").write_text("\n".join(texts), encoding="utf-8")
            (root / language / f"{split}_labels.txt").write_text("\n".join(map(str, labels)), encoding="utf-8")
    return root
