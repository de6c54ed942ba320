"""Phase 1 results tables for experiments.md (rendered by `python -m common.report`)."""
from common.report import Column, TableSpec

PHASE = "phase1_financial_phrasebank"

# Numbers published by others on Financial PhraseBank; shown labelled, never mixed with ours.
# Their split differs from ours (Araci 2019: 20% test set drawn from all data).
REPORTED = [
    {"source": "Araci 2019, FinBERT paper (reported)", "model": "FinBERT (BERT-base, further pretrained)",
     "data": "50Agree (all data), own split", "test accuracy": "0.86", "test macro-F1": "0.84 (F1 as reported)"},
]

TABLES = [
    TableSpec(
        name="phase1_main", phase=PHASE, title="Phase 1: Financial PhraseBank, test split of the training level",
        columns=[Column("train level", "config.train_agreement", "{}"),
                 Column("architecture", "config.architecture", "{}"),
                 Column("max len", "config.max_length", "{}"),
                 Column("test accuracy", "metrics.test_accuracy"),
                 Column("test macro-F1", "metrics.test_f1_macro"),
                 Column("test weighted-F1", "metrics.test_f1_weighted"),
                 Column("negative recall", "metrics.test_recall_negative"),
                 Column("val macro-F1", "metrics.val_f1_macro"),
                 Column("epochs", "metrics.epochs_trained", "{:.0f}"),
                 Column("train s/epoch", "metrics.seconds_per_epoch", "{:.1f}"),
                 Column("parameters", "metrics.parameters", "{:,.0f}")],
        reported=REPORTED),
    TableSpec(
        name="phase1_agreement", phase=PHASE,
        title="Phase 1: test macro-F1 on the test split of each agreement level (one shared split)",
        columns=[Column("train level", "config.train_agreement", "{}")]
        + [Column(f"test {level}", f"metrics.test_{level.lower()}_f1_macro")
           for level in ("50Agree", "66Agree", "75Agree", "AllAgree")]),
]
