"""Phase 5 results for experiments.md (rendered by `python -m common.report`): the modality
ablation table (text only, image only, each fusion head), neutral recall beside macro-F1
as in the original study, and the test accuracy on each kind of synthetic example
(which modality carries the label) where runs recorded it. Each manifest (data set) is a
part of its own, titled with its path and labels."""
from __future__ import annotations

from common.tables import Column, GroupColumns, IntervalColumn, SecondsColumn, TableSpec
from phase5_multimodal_financial_sentiment.config import PHASE

LABELS = ("negative", "neutral", "positive")


def fused(run) -> bool:
    return run.config.get("modality") == "fusion"


def sees_images(run) -> bool:
    return run.config.get("modality") != "text"


def setup_columns() -> list[Column]:
    return [Column("modality", "config.modality", "{}"), Column("fusion", "config.fusion", "{}", fused),
            Column("image encoder", "config.image_model", "{}", sees_images),
            Column("image weights", "metrics.image_weights", "{}", sees_images),
            Column("image px", "config.image_size", "{}", sees_images),
            Column("epochs", "metrics.epochs_trained", "{}")]


def score_columns() -> list:
    return [Column("test accuracy", "metrics.test_accuracy"), Column("test macro-F1", "metrics.test_f1_macro"),
            IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
            Column("**neutral recall**", "metrics.test_recall_neutral"),
            *[Column(f"recall {name}", f"metrics.test_recall_{name}") for name in LABELS if name != "neutral"],
            GroupColumns(split="test", metric="accuracy", header="acc. where {group} informs",
                         order=("text", "image", "both")),
            SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]


TABLES = [
    TableSpec(name="phase5_ablation", phase=PHASE,
              title="Phase 5: modality ablation and fusion heads, test split "
                    "(model: the text encoder, unused by image-only rows)",
              columns=[*setup_columns(), *score_columns()]),
]
