"""Phase 5 results for experiments.md (rendered by `python -m common.report`): the modality
ablation table (text only, image only, each fusion head), neutral recall beside macro-F1
as in the original study, and the test accuracy on each kind of synthetic example
(which modality carries the label) where runs recorded it. Each manifest (data set) is a
part of its own, titled with its path and labels.

The real-data tables (StockNet, StockEmotions: manifests written by build_stocknet.py and
build_stockemotions.py, which the runs record as `data.build`) put the price baselines
(price_baselines.py) beside the text, image and fusion rows, with accuracy, MCC and macro-F1
and their intervals resampled over trading days, and the published figures beside them."""
from __future__ import annotations

from dataclasses import dataclass

from common.summary import SummaryRow
from common.claims import ClaimVerdict, Comparison
from common.study_figures import original_row, original_summary
from common.tables import Column, GroupColumns, IntervalColumn, SecondsColumn, TableSpec, describe_model
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


def builder_of(run) -> str:
    """Which builder wrote the run's manifest ("stocknet", "stockemotions"), or "" for any other."""
    return str(((run.metrics.get("data") or {}).get("build") or {}).get("builder") or "")


def baseline_kind(run) -> str:
    return str((run.metrics.get("baseline") or {}).get("kind") or "")


def trained(run) -> bool:
    """A row trained by gradient (not a price baseline, whose epochs and seconds are none)."""
    return not baseline_kind(run)


def describe_row(run) -> str:
    """What a market row is: a price baseline, one modality, or a fusion head."""
    if baseline_kind(run):
        return f"{baseline_kind(run)} (fitted, no gradient)"
    modality = run.config.get("modality")
    return f"fusion: {run.config.get('fusion')}" if modality == "fusion" else f"{modality} only"


def describe_market_model(run) -> str:
    """The encoders a market row read: none (prices), the text encoder (frozen or
    fine-tuned), the image encoder (its weights and size), or both."""
    if baseline_kind(run):
        return "last 5 daily returns"
    config, parts = run.config, []
    if config.get("modality") != "image":
        text = describe_model(config, run.metrics.get("stand_in"))
        parts.append(f"{text} ({'frozen, features cached' if config.get('freeze_text') else 'fine-tuned'})")
    if config.get("modality") != "text":
        weights = run.metrics.get("image_weights") or "none"
        start = "from scratch" if weights == "none" else weights
        parts.append(f"{config.get('image_model')} {start}, {config.get('image_size')} px")
    return " + ".join(parts)


@dataclass
class RowColumn(Column):
    fmt: str = "{}"

    def value(self, run):
        return describe_row(run)


def market_columns(build_keys: tuple = ()) -> list[Column]:
    """The columns of a real-data table: what the row is, its training subset, the three
    scores with day-clustered intervals, and its training time (the frozen text encoder's
    vectors, computed once per data set and shared by every row, are not part of it)."""
    return [RowColumn("row", ""),
            *[Column(header, f"metrics.data.build.{key}", "{}") for header, key in build_keys],
            Column("train rows", "metrics.train_examples", "{}"),
            Column("epochs", "metrics.epochs_trained", "{}", trained),
            Column("test accuracy", "metrics.test_accuracy"),
            IntervalColumn("accuracy 95% CI", "metrics.test_accuracy_ci"),
            Column("test MCC", "metrics.test_mcc"), IntervalColumn("MCC 95% CI", "metrics.test_mcc_ci"),
            Column("test macro-F1", "metrics.test_f1_macro"),
            IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
            SecondsColumn("train s", "metrics.train_seconds", applies=trained)]


STOCKNET_REPORTED = [
    {"source": "Xu and Cohen 2018 (ACL), StockNet, reported", "model": "StockNet (tweets + prices, variational)",
     "data": "StockNet, the same test stock-days", "test accuracy": "0.5823", "test MCC": "0.081"},
]
STOCKEMOTIONS_REPORTED = [
    {"source": "Lee et al. 2023, StockEmotions, reported", "model": model, "data": "StockEmotions, published "
     "(random) split", "test macro-F1": f1} for model, f1 in (("DistilBERT, text only", "0.81"),
                                                              ("BERT, text only", "0.81"),
                                                              ("RoBERTa, text only", "0.80"),
                                                              ("logistic regression, text only", "0.74"))
]

TABLES = [
    TableSpec(name="phase5_ablation", phase=PHASE,
              title="Phase 5: modality ablation and fusion heads, test split "
                    "(model: the text encoder, unused by image-only rows)",
              columns=[*setup_columns(), *score_columns()], select=lambda run: not builder_of(run),
              reported=[original_row(PHASE, accuracy="test accuracy", f1_macro="test macro-F1",
                                     data="a translated, sentiment-labelled FinVis-GPT subset (not public)")]),
    TableSpec(name="phase5_stocknet", phase=PHASE,
              title="Phase 5 on StockNet: next-day movement (down/up) from tweets and the price chart, test "
                    "stock-days whole; intervals resample trading days",
              columns=market_columns(), select=lambda run: builder_of(run) == "stocknet",
              reported=STOCKNET_REPORTED, describe_model=describe_market_model),
    TableSpec(name="phase5_stockemotions", phase=PHASE,
              title="Phase 5 on StockEmotions: the poster's bearish/bullish label from the post and the price "
                    "chart, test posts whole; intervals resample days",
              columns=market_columns((("split", "split"), ("chart end", "chart_end"))),
              select=lambda run: builder_of(run) == "stockemotions", reported=STOCKEMOTIONS_REPORTED,
              describe_model=describe_market_model),
]

# The summary's rows (common/summary.py): the synthetic charts, and each real data set.
SUMMARY = (
    SummaryRow(task="synthetic charts + headlines, 3 classes (phase 5)", tables=("phase5_ablation",),
               section="Phase 5: multimodal financial sentiment (chart + text)", original=original_summary(PHASE),
               published="none: the data is made here"),
    SummaryRow(task="StockNet next-day movement, tweets + chart (phase 5)", tables=("phase5_stocknet",),
               section="Real text beside real prices: StockNet and StockEmotions", metric="test MCC",
               interval="MCC 95% CI", original="none reported",
               published="StockNet (Xu and Cohen 2018): accuracy 0.5823, MCC 0.081, the same test stock-days"),
    SummaryRow(task="StockEmotions bearish/bullish, post + chart, date split (phase 5)",
               tables=("phase5_stockemotions",), section="Real text beside real prices: StockNet and StockEmotions",
               where=(("split", "date"), ("chart end", "before")), original="none reported",
               published="Lee et al. 2023: text-only F1 0.81 (DistilBERT, BERT) on the published random split"),
)


def fusion_comparisons(data: str, metric: str = "f1_macro") -> tuple[Comparison, ...]:
    """Each fusion head against the text-only rows of one real data set, paired seed by seed on the
    same test rows, resampling trading days."""
    return tuple(Comparison(f"{data}: {head} fusion vs text only", f"{data}_{head}", f"{data}_text_only",
                            metric=metric, cluster_column="cluster") for head in ("concat", "gated", "attention"))


# The verdict on the study's fusion claim (common/claims.py) from the real-data rows.
CLAIMS = (
    ClaimVerdict(claim=4, verdict="not supported on real data; neutral recall not testable here",
                 why="on StockEmotions split by date every fusion head scores below the post alone, its chart "
                     "branch having learnt the training days' charts, and on StockNet no fusion head moves MCC "
                     "beyond its interval; fusion wins only where the chart shows the label's own day (the "
                     "leaky chart end) or by construction (the synthetic charts), and these two data sets have "
                     "no neutral class",
                 comparisons=(*fusion_comparisons("stockemotions"), *fusion_comparisons("stocknet", "mcc")),
                 tables=("phase5_stockemotions", "phase5_stocknet", "phase5_ablation")),
)
