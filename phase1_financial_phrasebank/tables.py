"""Phase 1 results tables for experiments.md (rendered by `python -m common.report`).

Each table takes the runs of named presets, so a table row is one command of the phase
README (runs made without a preset appear in the main table). Runs on another data set
(`--dataset my.csv`) get parts of their own, without the agreement-level columns.
"""
from common.report import Column, GroupColumns, IntervalColumn, TableSpec, model_label
from phase1_financial_phrasebank.config import PHASE

LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")
STUDY_DATA = "financial_phrasebank"  # the `dataset` key of the study's runs
TRAIN_LEVEL = Column("train level", "config.train_agreement", "{}", study_only=True)

# Numbers published by others on Financial PhraseBank; shown labelled, never mixed with ours.
# Their split differs from ours (Araci 2019: 20% test set drawn from all data).
REPORTED = [
    {"source": "Araci 2019, FinBERT paper (reported)", "model": "FinBERT (BERT-base, further pretrained)",
     "data": "50Agree (all data), own split", "test accuracy": "0.86", "test macro-F1": "0.84 (F1 as reported)"},
]


def describe_model(run) -> str:
    """The pretrained checkpoint, or the architecture trained from scratch and its tokenizer."""
    architecture = run.config.get("architecture") or "pretrained"
    if architecture == "pretrained":
        return model_label(run.config.get("model_name_or_path"))
    tokenizer = run.config.get("tokenizer_name_or_path") or run.config.get("model_name_or_path")
    return f"{architecture} from scratch (tokenizer {model_label(tokenizer)})"


def phase1_table(**spec) -> TableSpec:
    """A phase 1 table: on Financial PhraseBank, models named as `describe_model` says."""
    return TableSpec(phase=PHASE, study_data=STUDY_DATA, describe_model=describe_model, **spec)


def presets(*names: str):
    return lambda run: run.config.get("preset") in names


def columns(*extra: Column) -> list[Column]:
    """Before/after scores and cost, after the table's own columns."""
    return [*extra, Column("before: test macro-F1", "metrics.before_test_f1_macro"),
            Column("test accuracy", "metrics.test_accuracy"), Column("test macro-F1", "metrics.test_f1_macro"),
            IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
            Column("negative recall", "metrics.test_recall_negative"),
            Column("trainable params", "metrics.trainable_parameters", "{:,.0f}"),
            Column("train s/epoch", "metrics.seconds_per_epoch", "{:.1f}")]


TABLES = [
    phase1_table(name="phase1_main", title="Phase 1: models, test split of the training level",
                 select=presets("distilbert", "mini", "tiny", None),
                 columns=columns(TRAIN_LEVEL, Column("architecture", "config.architecture", "{}"),
                                 Column("max len", "config.max_length", "{}"),
                                 Column("epochs", "metrics.epochs_trained", "{:.0f}"),
                                 GroupColumns(header="test {group}")),
                 reported=REPORTED),
    phase1_table(name="phase1_regimes", title="Phase 1: training regimes and LoRA",
                 select=presets("regime_full", "regime_head_only", "regime_head_then_full", "regime_gradual_unfreeze",
                                "lora"),
                 columns=columns(Column("regime", "config.regime", "{}"), Column("head", "config.head", "{}"),
                                 Column("LoRA", "config.lora", "{}"),
                                 Column("trainable share", "metrics.trainable_share", "{:.2%}"))),
    phase1_table(name="phase1_imbalance",
                 title="Phase 1: class imbalance (negative is the rarest class)",
                 select=presets("regime_full", "weighted_loss", "oversampled"),
                 columns=columns(Column("class weighting", "config.class_weighting", "{}"),
                                 Column("oversample", "config.oversample", "{}"),
                                 Column("neutral recall", "metrics.test_recall_neutral"),
                                 Column("positive recall", "metrics.test_recall_positive"))),
    phase1_table(name="phase1_heads", title="Phase 1: classification heads",
                 select=presets("regime_full", "mean_mlp_head"),
                 columns=columns(Column("head", "config.head", "{}"))),
    phase1_table(name="phase1_scratch",
                 title="Phase 1: the study's small models trained from scratch (bert-base-uncased WordPiece "
                       "vocabulary), test macro-F1 on the test split of each agreement level",
                 select=lambda run: (run.config.get("architecture") or "pretrained") != "pretrained", other_data=False,
                 columns=[Column("architecture", "config.architecture", "{}"), TRAIN_LEVEL,
                          Column("class weighting", "config.class_weighting", "{}"),
                          Column("epochs", "metrics.epochs_trained", "{:.0f}"),
                          Column("test accuracy", "metrics.test_accuracy"),
                          Column("test macro-F1", "metrics.test_f1_macro"),
                          IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
                          Column("negative recall", "metrics.test_recall_negative"),
                          *[Column(f"test {level}", f"metrics.test_{level.lower()}_f1_macro") for level in LEVELS],
                          Column("trainable params", "metrics.trainable_parameters", "{:,.0f}"),
                          Column("train s/epoch", "metrics.seconds_per_epoch", "{:.1f}")]),
    phase1_table(name="phase1_agreement",
                 title="Phase 1: test macro-F1 on the test split of each agreement level (rows: training level; "
                       "one split shared by all levels, so no test sentence was trained on)",
                 select=presets("agree_50", "agree_66", "agree_75", "agree_all", "distilbert", None),
                 other_data=False,
                 columns=[TRAIN_LEVEL]
                 + [Column(f"test {level}", f"metrics.test_{level.lower()}_f1_macro") for level in LEVELS]),
]
