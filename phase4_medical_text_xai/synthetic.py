"""Synthetic medical abstracts in the corpus's file layout (five conditions told apart by
their vocabulary), for smoke runs and the tests."""
from __future__ import annotations

import csv
import random
from pathlib import Path

CONDITIONS = ["neoplasms", "digestive system diseases", "nervous system diseases", "cardiovascular diseases",
              "general pathological conditions"]
KEYWORDS = [["tumor", "carcinoma", "metastasis", "chemotherapy"], ["liver", "colon", "gastric", "bowel"],
            ["seizure", "neuron", "epilepsy", "brain"], ["heart", "artery", "infarction", "cardiac"],
            ["infection", "fever", "inflammation", "sepsis"]]
FILLER = ["patients", "were", "studied", "in", "a", "trial", "the", "results", "show", "that", "treatment",
          "improved", "outcome", "of", "with", "and", "we", "report", "cases", "clinical"]


def synthetic_abstracts(n: int = 150, seed: int = 0) -> list[tuple[int, str]]:
    """(label 1-5, abstract) rows: filler words plus three keywords of the condition."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 5
        words = rng.choices(FILLER, k=rng.randint(12, 30)) + rng.choices(KEYWORDS[label], k=3)
        rng.shuffle(words)
        rows.append((label + 1, f"Study {i}. " + " ".join(words) + "."))
    return rows


def write_abstracts(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["condition_label", "medical_abstract"])
        writer.writerows(rows)
    return path


def write_labels(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["condition_label,condition_name"] + [f"{i},{name}" for i, name in enumerate(CONDITIONS, start=1)]
    (directory / "medical_tc_labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
