"""Phase 2 results tables for experiments.md (rendered by `python -m common.report`).

The language-by-model table has one row per model and setup and one column per
language its runs evaluated (test macro-F1 on that language's rows alone); the models
trained from scratch (MiniTransformer, TinyTransformer with their own tokenizer) have a
table of their own in the same shape; the tuning table has the test re-runs of each
sweep's best trial. Runs on another data set
(`--dataset x.csv --group_column lang`) get parts of their own, with a column per group
they recorded.
"""
import math
import statistics
from pathlib import Path

from common.summary import SummaryRow
from common.tables import (BlockSpec, Column, FigureSpec, GroupColumns, IntervalColumn, SecondsColumn, TableSpec,
                           collect_runs, data_of, group_runs, markdown_rows, model_label, row_label)
from common.study_figures import original_row, original_summary
from phase2_multilingual_sentiment.config import PHASE, TWEET_DATASET, TWEET_LANGUAGES


# XLM-R base on the same UMSAB test sets, as published by the XLM-T authors (macro-F1, given
# there in percent; the leaderboard of the cardiffnlp/xlm-t repository). Shown labelled, never
# mixed with runs made here; their "All lang." is the mean over the eight languages.
_XLMT = "Barbieri et al. 2022, XLM-T leaderboard (reported)"
_MONO = dict(zip(TWEET_LANGUAGES, (63.6, 68.2, 72.0, 73.6, 36.6, 71.5, 67.1, 65.9)))
_MULTI = dict(zip(TWEET_LANGUAGES, (64.3, 68.5, 70.5, 72.8, 53.4, 68.6, 69.8, 66.0)))
REPORTED = [
    {"source": _XLMT, "model": "XLM-R base", "data": "UMSAB, their splits", "trained on": "each language alone",
     **{lang: f"{score / 100:.3f}" for lang, score in _MONO.items()}, "mean over languages": "0.648"},
    {"source": _XLMT, "model": "XLM-R base", "data": "UMSAB, their splits", "trained on": "all 8 languages",
     **{lang: f"{score / 100:.3f}" for lang, score in _MULTI.items()}, "mean over languages": "0.668"},
    original_row(PHASE, **{"trained on": "not published"}),
]


def language_columns() -> GroupColumns:
    """One column per language (group) the rows evaluated, the XLM-T languages in their order first."""
    return GroupColumns(split="test", metric="f1_macro", order=TWEET_LANGUAGES)


def setup_columns() -> list[Column]:
    return [Column("trained on", "metrics.data.train_languages", "{}"),
            Column("epochs", "metrics.epochs_trained", "{:.0f}"), Column("lr", "config.learning_rate", "{:.0e}")]


def score_columns() -> list[Column]:
    return [Column("all: test macro-F1", "metrics.test_f1_macro"),
            IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
            Column("mean over languages", "metrics.test_f1_macro_group_mean"),
            SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]


class EmbeddingsColumn(Column):
    """Whether the pretrained input embeddings trained (`freeze_embeddings`), in words."""

    def value(self, run):
        if self.applies and not self.applies(run):
            return None
        return "frozen" if run.value(self.key) else "trained"


def is_sweep_rerun(run) -> bool:
    return run.path.name.startswith("sweep_")


def on_train_subset(run) -> bool:
    """A run on a drawn subset of the training tweets (`max_train_samples`): the tables of what
    pretraining buys, where every row trains on the same subset, hold these."""
    return bool(run.config.get("max_train_samples"))


def from_scratch(run) -> bool:
    """A small encoder trained from scratch (its own table: another kind of model than XLM-R)."""
    return (run.config.get("architecture") or "pretrained") != "pretrained"


TABLES = [
    TableSpec(name="phase2_languages", phase=PHASE,
              title="Phase 2: test macro-F1 per language (rows: model and setup; '–': language not evaluated)",
              select=lambda run: not is_sweep_rerun(run) and not from_scratch(run) and not on_train_subset(run),
              columns=[*setup_columns(), language_columns(), *score_columns()], reported=REPORTED,
              study_data=TWEET_DATASET),
    TableSpec(name="phase2_scratch", phase=PHASE,
              title="Phase 2: small encoders trained from scratch on the tweets, with a byte-level BPE tokenizer "
                    "trained on their train split; test macro-F1 per language",
              select=lambda run: not is_sweep_rerun(run) and from_scratch(run) and not on_train_subset(run),
              columns=[*setup_columns(), Column("vocabulary", "metrics.data.tokenizer.vocab_size", "{:,.0f}"),
                       Column("parameters", "metrics.trainable_parameters", "{:,.0f}"), language_columns(),
                       *score_columns()], reported=REPORTED, study_data=TWEET_DATASET),
    TableSpec(name="phase2_pretraining", phase=PHASE,
              title="Phase 2: what multilingual pretraining buys per language: a multilingual encoder, an English "
                    "one and a small encoder from scratch, each trained on the same drawn subset of the training "
                    "tweets (all eight languages, or English alone: zero-shot), tested on every language's whole "
                    "test split",
              select=lambda run: not is_sweep_rerun(run) and on_train_subset(run),
              columns=[*setup_columns(), Column("train tweets", "metrics.train_examples", "{:,.0f}"),
                       EmbeddingsColumn("embeddings", "config.freeze_embeddings",
                                        applies=lambda run: not from_scratch(run)),
                       language_columns(), *score_columns()], reported=REPORTED, study_data=TWEET_DATASET),
    TableSpec(name="phase2_tuning", phase=PHASE,
              title="Phase 2: best trial of each sweep, re-run with the test split",
              select=is_sweep_rerun,
              columns=[Column("sweep", "config.sweep", "{}"), Column("batch", "config.batch_size", "{}"),
                       *setup_columns(), Column("val macro-F1", "metrics.val_f1_macro"),
                       language_columns(), *score_columns()], study_data=TWEET_DATASET),
]


def on_tweets(run) -> bool:
    return data_of(run, TWEET_DATASET) == TWEET_DATASET


def short_model(run) -> str:
    """A bar's model in a few words: the small architecture, the offline stand-in's name, or
    the checkpoint's."""
    if from_scratch(run):
        return f"{run.config.get('architecture')} from scratch"
    stand_in = run.metrics.get("stand_in")
    return stand_in["model"] if stand_in else model_label(run.config.get("model_name_or_path"))


def draw_language_bars(groups, path, title) -> bool:
    """One bar per row (model and setup, mean over seeds) in each language's group."""
    scores = {}
    for members in groups:
        per_language = {}
        for column in language_columns().expand(members):
            values = [v for v in (column.value(run) for run in members) if v is not None]
            if values:
                per_language[column.group] = {"f1_macro": statistics.mean(values)}
        if per_language:
            scores[f"{short_model(members[0])}: {row_label(members)}"] = per_language
    if scores:
        from common.plots import plot_group_scores  # matplotlib: only when a figure is drawn

        plot_group_scores(scores, path, title=title)
    return bool(scores)


FIGURES = [
    FigureSpec(name="phase2_languages", phase=PHASE, title="Phase 2: test macro-F1 per language (XLM-T tweets)",
               draw=draw_language_bars,
               select=lambda run: on_tweets(run) and not is_sweep_rerun(run) and not on_train_subset(run)),
    FigureSpec(name="phase2_pretraining", phase=PHASE,
               title="Phase 2: test macro-F1 per language, every model on the same training subset",
               draw=draw_language_bars,
               select=lambda run: on_tweets(run) and not is_sweep_rerun(run) and on_train_subset(run)),
]


def language_means(members) -> dict[str, list[float]]:
    """Each language's test macro-F1 over a row's seeds, and their mean over languages."""
    values: dict[str, list[float]] = {}
    for run in members:
        groups = (run.metrics.get("groups") or {}).get("test") or {}
        for language, scores in groups.items():
            values.setdefault(language, []).append(scores["f1_macro"])
        if groups:
            values.setdefault("mean over languages", []).append(statistics.mean(s["f1_macro"] for s in groups.values()))
    return values


def gap_cell(multilingual: list[float], zero_shot: list[float]) -> str:
    """Mean of the multilingual runs minus mean of the zero-shot runs, ± the standard error of
    that difference over seeds (Welch: each setup's own spread)."""
    if not multilingual or not zero_shot:
        return "–"
    gap = statistics.mean(multilingual) - statistics.mean(zero_shot)
    spread = [statistics.variance(v) / len(v) for v in (multilingual, zero_shot) if len(v) > 1]
    return f"{gap:+.3f}" + (f" ± {math.sqrt(sum(spread)):.3f}" if len(spread) == 2 else "")


def render_transfer_gap(runs_root: Path, out: Path) -> str:
    """Per model of the subset table: how much lower each language scores when the model saw
    English alone (zero-shot) than when it trained on every language, same subset, same settings."""
    runs = [run for run in collect_runs(runs_root) if on_tweets(run) and on_train_subset(run)
            and not is_sweep_rerun(run)]
    rows_by_model: dict[str, dict[str, list]] = {}
    for members in group_runs(PHASE, lambda run: True, runs):
        config = members[0].config
        setup = "zero_shot" if config.get("train_languages") == ["english"] else "multilingual" \
            if not config.get("train_languages") and not config.get("languages") else None
        if setup is None:
            continue
        model = TABLES[0].describe_model(members[0])
        if not from_scratch(members[0]) and config.get("freeze_embeddings"):
            model += ", embeddings frozen"
        rows_by_model.setdefault(model, {})[setup] = members
    languages = [lang for lang in TWEET_LANGUAGES if any(
        lang in language_means(m) for setups in rows_by_model.values() for m in setups.values())]
    headers = ["model", "seeds (multilingual / zero-shot)", *languages, "mean over languages"]
    rows = []
    for model, setups in sorted(rows_by_model.items()):
        if set(setups) != {"multilingual", "zero_shot"}:
            continue
        multi, zero = language_means(setups["multilingual"]), language_means(setups["zero_shot"])
        rows.append([model, f"{len(setups['multilingual'])} / {len(setups['zero_shot'])}",
                     *(gap_cell(multi.get(k, []), zero.get(k, [])) for k in [*languages, "mean over languages"])])
    if not rows:
        return "_Transfer gap: no model has both a multilingual and a zero-shot row on the training subset yet_"
    return "\n".join(["**Phase 2: the transfer gap, test macro-F1 trained on all eight languages minus trained on "
                      "English alone (zero-shot), per language; ± the standard error over seeds** (runs made here, "
                      "the rows of the table above)", "", *markdown_rows(headers, rows)])


# The subset table's designed comparisons, seed by seed on the same test tweets: run names
# (without `_seed<N>`) of the phase 2 README's commands.
PAIRED = (("multilingual encoder vs English encoder, all eight languages", "sub400_e5_multilingual",
           "sub400_minilm_multilingual"),
          ("multilingual encoder vs English encoder, zero-shot from English", "sub400_e5_zero_shot",
           "sub400_minilm_zero_shot"),
          ("e5 with its embeddings trained vs frozen", "sub400_e5full_multilingual", "sub400_e5_multilingual"))


def render_paired(runs_root: Path, out: Path) -> str:
    """`common.compare` of each PAIRED comparison for every seed both runs have: the difference
    of test macro-F1, its paired bootstrap interval and the permutation test's p-value."""
    from common.compare import PAIRED_HEADERS, compare_seeds, paired_row

    root = Path(runs_root) / PHASE
    rows = [paired_row(title, result) for title, stem_a, stem_b in PAIRED
            for result in compare_seeds(root, stem_a, stem_b)]
    if not rows:
        return "_Paired comparisons: no pair of subset runs with predictions yet_"
    return "\n".join(["**Phase 2: the subset table's comparisons, paired on the same test tweets, seed by seed** "
                      "(`python -m common.compare A B`: test macro-F1 of A and B, A - B, its 95% paired bootstrap "
                      "interval and the paired permutation test's p-value; runs made here)", "",
                      *markdown_rows(PAIRED_HEADERS, rows)])


BLOCKS = [BlockSpec(name="phase2_transfer_gap", render=render_transfer_gap),
          BlockSpec(name="phase2_paired", render=render_paired)]

# The summary's rows (common/summary.py): trained on all eight languages, and on English alone.
SUMMARY = (
    SummaryRow(task="multilingual tweet sentiment, 8 languages (phase 2)", tables=("phase2_pretraining",),
               section="Phase 2: multilingual tweet sentiment", metric="all: test macro-F1",
               where=(("trained on", ", ".join(TWEET_LANGUAGES)),), original=original_summary(PHASE),
               published="XLM-T (Barbieri et al. 2022): XLM-R base trained on all 8 languages, macro-F1 0.668 "
                         "(mean over languages), their splits"),
    SummaryRow(task="zero-shot transfer from English (phase 2)", tables=("phase2_pretraining",),
               section="Phase 2: multilingual tweet sentiment", metric="all: test macro-F1",
               where=(("trained on", "english"),), original="none reported",
               published="XLM-T: XLM-R base trained on English alone, per language on their leaderboard"),
)
