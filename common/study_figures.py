"""What the original study reported, in one place: its headline figures per phase and its
stated findings, as its own README gives them (copied here from the project's study notes,
STUDY.md beside the repository, which is not shipped with it).

These are the "reported by the original study" rows of the results tables, always shown
labelled and never mixed with runs made here. The study publishes neither its data split
nor its seeds nor how it averaged: its figures compare with ours only roughly, and a table
that shows one says so (`ORIGINAL_CAVEAT`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

ORIGINAL_SOURCE = "original study (reported)"
ORIGINAL_CAVEAT = "split, seeds and averaging not published"


@dataclass(frozen=True)
class ReportedFigure:
    task: str
    model: str
    accuracy: Optional[float]  # a share (0.768), whatever the study printed (76.80%)
    f1_macro: Optional[float]


# The study's headline table: one row per phase, its best model. Phase 3 tuned phase 2's
# model and reports no figure of its own.
ORIGINAL_FIGURES = {
    "phase1_financial_phrasebank": ReportedFigure("Financial PhraseBank", "DistilBERT", 0.768, 0.6115),
    "phase2_multilingual_sentiment": ReportedFigure("multilingual sentiment", "XLM-R with Adafactor", 0.707, 0.7196),
    "phase4_medical_text_xai": ReportedFigure("medical text", "RoBERTa", 0.74, 0.73),
    "phase5_multimodal_financial_sentiment": ReportedFigure("multimodal finance (chart + text)",
                                                            "FinBERT + ResNet-50", 0.83, 0.83),
}

# Its stated findings, each a claim the tables confirm or refute with seeds and intervals.
ORIGINAL_CLAIMS = (
    "model depth and optimizer choice matter a lot on small data sets",
    "Adafactor with learning-rate decay, and warmup, make multilingual training more robust",
    "explanation methods support the predictions in a high-stakes domain",
    "fusing the chart with the text raises accuracy and, above all, neutral recall",
)


def original_row(phase: str, accuracy: str = "accuracy", f1_macro: str = "all: test macro-F1",
                 **columns: str) -> dict:
    """The study's figure for `phase` as a row of a table's reported part (`TableSpec.reported`):
    its source, model, accuracy and macro-F1 (under the headers `accuracy` and `f1_macro` of
    the table it joins), plus `columns` (e.g. the data it names)."""
    figure = ORIGINAL_FIGURES[phase]
    return {"source": f"{ORIGINAL_SOURCE}; {ORIGINAL_CAVEAT}", "model": figure.model, "data": figure.task,
            **columns, accuracy: f"{figure.accuracy:.3f}", f1_macro: f"{figure.f1_macro:.4f}"}


def original_summary(phase: str) -> str:
    """The study's figure for `phase` in a sentence's words, for the summary table."""
    figure = ORIGINAL_FIGURES.get(phase)
    if figure is None:
        return "none reported"
    return f"{figure.model}: accuracy {figure.accuracy:.3f}, macro-F1 {figure.f1_macro:.4f}"


# A related study of FiQA 2018 Task 1 with LoRA (distilBERT, finBERT, flan-t5), as its README
# reports it: micro-averaged scores (precision = recall = F1 = accuracy), its own split of the
# train files, and the models chosen on the test split (so optimistic).
FIQA_SOURCE = "FiQA 2018 LoRA study (related, reported; micro-averaged, models chosen on its test split)"
FIQA_FIGURES = {
    "sentiment": {"model": "distilBERT", "before": 0.26, "after": 0.5934, "improved": 0.6467,
                  "improved_by": "aspect added to the text"},
    "aspects": {"model": "distilBERT", "before": 0.3667, "after": 0.4134, "improved": 0.6734,
                "improved_by": "categories merged from 6 to 2 levels"},
    "targets": {"model": "flan-t5, generated", "after": 0.821},
}


def fiqa_row(task: str, score: str, **columns: str) -> dict:
    """The FiQA study's figures for `task` as a reported row, its score under the header `score`."""
    figure = FIQA_FIGURES[task]
    parts = [f"before {figure['before']:.4f}"] if "before" in figure else []
    parts.append(f"fine-tuned {figure['after']:.4f}")
    if "improved" in figure:
        parts.append(f"{figure['improved_by']} {figure['improved']:.4f}")
    return {"source": FIQA_SOURCE, "model": figure["model"], "data": "FiQA 2018 Task 1 train files, own split",
            **columns, score: "; ".join(parts)}
