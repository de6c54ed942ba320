"""Phase 1 results tables for experiments.md (rendered by `python -m common.report`).

Each table takes the runs of named presets, so a table row is one command of the phase
README (runs made without a preset appear in the main table). Runs on another data set
(`--dataset my.csv`) get parts of their own, without the agreement-level columns.
"""
from dataclasses import dataclass

from common.summary import SummaryRow
from common.claims import ClaimVerdict
from common.study_figures import fiqa_row, original_row, original_summary
from common.tables import Column, GroupColumns, IntervalColumn, SecondsColumn, TableSpec
from phase1_financial_phrasebank.config import PHASE

LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")
STUDY_DATA = "financial_phrasebank"  # the `dataset` key of the study's runs
TRAIN_LEVEL = Column("train level", "config.train_agreement", "{}", study_only=True)

# Numbers published by others on Financial PhraseBank; shown labelled, never mixed with ours.
# Their split differs from ours (Araci 2019: 20% test set drawn from all data).
REPORTED = [
    {"source": "Araci 2019, FinBERT paper (reported)", "model": "FinBERT (BERT-base, further pretrained)",
     "data": "50Agree (all data), own split", "test accuracy": "0.86", "test macro-F1": "0.84 (F1 as reported)"},
    original_row(PHASE, accuracy="test accuracy", f1_macro="test macro-F1"),
]


def phase1_table(**spec) -> TableSpec:
    """A phase 1 table on Financial PhraseBank (models named by `common.report.describe_model`)."""
    return TableSpec(phase=PHASE, study_data=STUDY_DATA, **spec)


def presets(*names: str):
    return lambda run: run.config.get("preset") in names


# The test scores every Financial PhraseBank table shows (negative is the rarest class).
SCORES = [Column("test accuracy", "metrics.test_accuracy"), Column("test macro-F1", "metrics.test_f1_macro"),
          IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
          Column("negative recall", "metrics.test_recall_negative")]


def columns(*extra: Column) -> list[Column]:
    """Before/after scores and cost, after the table's own columns."""
    return [*extra, Column("before: test macro-F1", "metrics.before_test_f1_macro"), *SCORES,
            Column("trainable params", "metrics.trainable_parameters", "{:,.0f}"),
            SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]


# FinGPT v3 README (Llama-2 13B with LoRA in 8-bit; its own split of Financial PhraseBank, weighted
# and macro F1): what decoder LLMs reach at their size, beside ours at 135M parameters.
LLM_REPORTED = [
    {"source": "FinGPT v3 README (reported, own split)", "model": "FinGPT v3.3: Llama-2 13B, LoRA, 8-bit",
     "mode": "instruction, fine-tuned", "test macro-F1": "0.877 (weighted F1 0.882)"},
    {"source": "FinGPT v3 README (reported, own split)", "model": "FinBERT", "mode": "classifier, fine-tuned",
     "test macro-F1": "0.867 (weighted F1 0.880)"},
    {"source": "FinGPT v3 README (reported, own split)", "model": "GPT-4", "mode": "zero-shot prompt",
     "test macro-F1": "0.827 (weighted F1 0.833)"},
    {"source": "FinGPT v3 README (reported, own split)", "model": "Llama-2 7B chat", "mode": "zero-shot prompt",
     "test macro-F1": "0.517 (weighted F1 0.390)"},
]
LLM_PRESETS = ("smollm2_lora_head", "smollm2_lora_instruction", "smollm2_full", "llama3_8b_qlora_instruction",
               "qwen2_7b_qlora_head")
LLM_SUBSET_RUNS = "llm_subset_"  # the encoder runs on the LLM rows' training subset are named so


def llm_mode(run) -> str:
    """How a decoder LLM (or the encoder beside it) made its predictions."""
    config, metrics = run.config, run.metrics
    if (metrics.get("baseline") or {}).get("kind", "").startswith("prompting"):
        return f"prompt, {config.get('few_shot', 0)}-shot, no training"
    if config.get("llm_format") == "instruction":
        head = "answer likelihood"
    else:  # the model's own head reads an encoder's first token, a decoder's last real one
        head = "mean-pooling + MLP head" if config.get("head") == "mean_mlp" else "the model's own head"
    return f"{head}, {'LoRA' if config.get('lora') else 'full fine-tuning'}"


@dataclass
class ModeColumn(Column):
    fmt: str = "{}"

    def value(self, run):
        return llm_mode(run)


def is_llm_row(run) -> bool:
    return (run.config.get("preset") in LLM_PRESETS or run.config.get("llm_format") == "instruction"
            or (run.config.get("run_name") or "").startswith(LLM_SUBSET_RUNS))


FIQA = "fiqa_2018"  # the `dataset` key of the FiQA runs


@dataclass
class ContextColumn(Column):
    """What went beside the sentence: the context columns, or none."""

    fmt: str = "{}"

    def value(self, run):
        return super().value(run) or ["none"]


@dataclass
class CountColumn(Column):
    """How many items a list in the run's records has (e.g. the label names)."""

    fmt: str = "{:.0f}"

    def value(self, run):
        items = super().value(run)
        return len(items) if isinstance(items, list) else None


def fiqa_table(**spec) -> TableSpec:
    """A table of FiQA 2018 runs, by preset."""
    return TableSpec(phase=PHASE, study_data=FIQA, other_data=False, **spec)


CONTEXT = ContextColumn("context", "config.context_columns")
LORA = Column("LoRA", "config.lora", "{}")
COST = [Column("trainable share", "metrics.trainable_share", "{:.2%}"),
        SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]

FIQA_TABLES = [
    fiqa_table(name="phase1_fiqa_sentiment",
               title="Phase 1, FiQA 2018: sentiment (negative < -0.1 <= neutral <= 0.1 < positive), with and "
                     "without the aspect or target beside the sentence, LoRA vs full",
               select=lambda run: presets("fiqa_sentiment", "fiqa_sentiment_aspect", "fiqa_sentiment_target",
                                          "fiqa_sentiment_target_aspect", "fiqa_sentiment_aspect_lora",
                                          "fiqa_sentiment_smollm2_lora_head",
                                          "fiqa_sentiment_smollm2_lora_instruction")(run)
               or (run.config.get("fiqa_task") == "sentiment" and "prompt" in llm_mode(run)),
               columns=[CONTEXT, LORA, ModeColumn("mode", "config.llm_format"),
                        Column("before: test macro-F1", "metrics.before_test_f1_macro"),
                        Column("test accuracy (= micro-F1)", "metrics.test_accuracy"),
                        Column("test macro-F1", "metrics.test_f1_macro"),
                        IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
                        Column("neutral recall", "metrics.test_recall_neutral"), *COST],
               reported=[fiqa_row("sentiment", "test accuracy (= micro-F1)")]),
    fiqa_table(name="phase1_fiqa_aspects",
               title="Phase 1, FiQA 2018: aspect classification at label level 1, 2 and the full path",
               select=presets("fiqa_aspect_level1", "fiqa_aspect_level2", "fiqa_aspect_full",
                              "fiqa_aspect_level2_lora"),
               columns=[Column("level", "config.fiqa_aspect_level", "{}"), CountColumn("classes", "metrics.labels"),
                        Column("test examples of unseen labels", "metrics.data.unseen_labels.test.examples", "{:.0f}"),
                        LORA, Column("before: test macro-F1", "metrics.before_test_f1_macro"),
                        Column("test micro-F1 (= accuracy)", "metrics.test_f1_micro"),
                        Column("test macro-F1", "metrics.test_f1_macro"),
                        IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"), *COST],
               reported=[fiqa_row("aspects", "test micro-F1 (= accuracy)")]),
    fiqa_table(name="phase1_fiqa_score",
               title="Phase 1, FiQA 2018: the sentiment score itself (regression; the challenge's MSE and R²)",
               select=presets("fiqa_score", "fiqa_score_aspect"),
               columns=[CONTEXT, Column("before: test R²", "metrics.before_test_r2"),
                        Column("test MSE", "metrics.test_mse"), Column("test R²", "metrics.test_r2"),
                        IntervalColumn("R² 95% CI", "metrics.test_r2_ci"),
                        Column("test Pearson r", "metrics.test_pearson"), *COST]),
    fiqa_table(name="phase1_fiqa_targets",
               title="Phase 1, FiQA 2018: target extraction (seq2seq writes the target; the span tagger cuts it "
                     "from the sentence), exact match and token F1 per (sentence, target) entry",
               select=lambda run: run.config.get("extractor") is not None,
               columns=[Column("extractor", "config.extractor", "{}"),
                        Column("warm-started encoder-decoder", "config.encoder_decoder", "{}"),
                        ContextColumn("context", "config.context_columns"), LORA,
                        Column("beams", "config.num_beams", "{:.0f}"),
                        Column("before: test exact match", "metrics.before_test_exact_match"),
                        Column("test exact match", "metrics.test_exact_match"),
                        IntervalColumn("exact match 95% CI", "metrics.test_exact_match_ci"),
                        Column("test token F1", "metrics.test_token_f1"),
                        Column("in sentence", "metrics.test_in_sentence"), *COST],
               reported=[fiqa_row("targets", "test exact match", extractor="seq2seq")]),
]

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
                          Column("epochs", "metrics.epochs_trained", "{:.0f}"), *SCORES,
                          *[Column(f"test {level}", f"metrics.test_{level.lower()}_f1_macro") for level in LEVELS],
                          Column("trainable params", "metrics.trainable_parameters", "{:,.0f}"),
                          SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]),
    phase1_table(name="phase1_agreement",
                 title="Phase 1: test macro-F1 on the test split of each agreement level (rows: training level; "
                       "one split shared by all levels, so no test sentence was trained on)",
                 select=presets("agree_50", "agree_66", "agree_75", "agree_all", "distilbert", None),
                 other_data=False,
                 columns=[TRAIN_LEVEL]
                 + [Column(f"test {level}", f"metrics.test_{level.lower()}_f1_macro") for level in LEVELS]),
    phase1_table(name="phase1_llm",
                 title="Phase 1: a decoder LLM (SmolLM2-135M-Instruct) prompted, with a LoRA head, LoRA on its "
                       "answers and fully fine-tuned, beside an encoder fine-tuned on the same training subset "
                       "(runs named llm_subset_*). Every trained row: the same 600 training examples, drawn "
                       "stratified by label (max_train_samples 600, split_seed 42); validation and test splits "
                       "whole; one CPU thread per run (the threads column)",
                 select=is_llm_row, other_data=False,
                 columns=[ModeColumn("mode", "config.llm_format"),
                          Column("train examples", "metrics.train_examples", "{:,.0f}"), *SCORES,
                          Column("trainable share", "metrics.trainable_share", "{:.2%}"),
                          SecondsColumn("train s/epoch", "metrics.seconds_per_epoch",
                                        applies=lambda run: bool(run.metrics.get("train_examples"))),
                          Column("peak RSS MiB", "metrics.memory.peak_rss_mib", "{:,.0f}"),
                          Column("threads", "env.torch_threads", "{:.0f}")],
                 reported=LLM_REPORTED),
    *FIQA_TABLES,
]

# The summary's rows (common/summary.py): the Financial PhraseBank models on the study's
# training level, and each FiQA task.
FPB_TABLES = ("phase1_main", "phase1_regimes", "phase1_imbalance", "phase1_heads", "phase1_scratch")
SUMMARY = (
    SummaryRow(task="Financial PhraseBank, 3 classes (phase 1)", tables=FPB_TABLES,
               section="Phase 1: Financial PhraseBank", where=(("train level", "50Agree"),),
               original=original_summary(PHASE),
               published="FinBERT (Araci 2019): accuracy 0.86, F1 0.84 on all 50Agree data, its own split"),
    SummaryRow(task="FiQA 2018 Task 1 sentiment, 3 classes (phase 1)", tables=("phase1_fiqa_sentiment",),
               section="Phase 1: FiQA 2018 Task 1", original="none reported",
               published="FiQA LoRA study: distilBERT micro-F1 0.5934 (0.6467 with the aspect); micro-averaged, "
                         "chosen on its test split"),
    SummaryRow(task="FiQA 2018 Task 1 aspects (phase 1)", tables=("phase1_fiqa_aspects",),
               section="Phase 1: FiQA 2018 Task 1", original="none reported",
               published="FiQA LoRA study: distilBERT micro-F1 0.4134 (0.6734 with levels merged); micro-averaged, "
                         "chosen on its test split"),
    SummaryRow(task="FiQA 2018 Task 1 targets (phase 1)", tables=("phase1_fiqa_targets",),
               section="Phase 1: FiQA 2018 Task 1", metric="test exact match", interval="exact match 95% CI",
               original="none reported", published="FiQA LoRA study: flan-t5 0.821 (generated targets)"),
)
# Claim 1 ("model depth and optimizer choice matter a lot on small data sets"), its depth half:
# the study's own two small models, trained from scratch on the same sentences.
CLAIMS = (
    ClaimVerdict(claim=1, verdict="not supported for depth",
                 why="the study's MiniTransformer and the shallower, smaller TinyTransformer reach the same test "
                     "macro-F1 within their spread over seeds at every agreement level, so depth buys nothing "
                     "measurable at this data size",
                 tables=("phase1_scratch",)),
)
