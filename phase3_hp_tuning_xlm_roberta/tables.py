"""Phase 3 results for experiments.md (rendered by `python -m common.report`).

- `phase3_confirmation`: the best and the default configuration of each study, re-run
  over several seeds and scored on the test split (mean ± std over seeds).
- `phase3_trials_<study>`: a study's trials table (from its trials.csv), with its plots
  copied next to experiments.md, one block per file in studies/ (`phase3_trials`: any other).
- `phase3_optimizers`: each optimizer at the learning rate its study chose, over seeds, on a
  drawn subset of the training tweets: test macro-F1 per language, its spread over seeds and
  the worst language's score.
- `phase3_claims`: the evidence on the original study's optimizer claims from those runs:
  paired comparisons seed by seed (`common.compare`) and the spread and worst language of each.
"""
from __future__ import annotations

import functools
import statistics
from pathlib import Path
from typing import Optional

import pandas as pd
import yaml

from common.summary import SummaryRow
from common.claims import ClaimVerdict, Comparison
from common.offline_models import describe_stand_in
from common.records import read_json
from common.tables import (BlockSpec, Column, GroupColumns, IntervalColumn, TableSpec, WorstGroupColumn, collect_runs,
                           markdown_rows, model_label, publish_figure)
from common.study_figures import original_row, original_summary
from phase2_multilingual_sentiment.config import TWEET_DATASET, TWEET_LANGUAGES
from phase3_hp_tuning_xlm_roberta.config import PHASE, STUDY_DIR


def is_confirmation(run) -> bool:
    return run.config.get("rerun") in ("best", "default")


def on_train_subset(run) -> bool:
    """A phase 3 run of its own (not a study's re-run) on a drawn subset of the training tweets."""
    return not is_confirmation(run) and bool(run.config.get("max_train_samples"))


def format_trials(frame: pd.DataFrame, metric: str) -> str:
    params = [c for c in frame.columns if c.startswith("param_")]
    headers = ["trial", "state", *[c.removeprefix("param_") for c in params], metric, "epochs", "s", "worker / device"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for _, row in frame.sort_values(metric, ascending=False, na_position="last").iterrows():
        values = ["–" if pd.isna(row[p]) else f"{row[p]:.3g}" if isinstance(row[p], float) else str(row[p])
                  for p in params]
        score = "–" if pd.isna(row[metric]) else f"{row[metric]:.4f}"
        lines.append("| " + " | ".join([str(row["number"]), row["state"], *values, score,
                                        str(row["epochs_reported"]), f"{row['duration_seconds']:.0f}",
                                        f"{row['worker']} / {row['device']}"]) + " |")
    return "\n".join(lines)


def describe_confirmation(comparison: dict, seeds) -> str:
    """Best vs default over seeds in words: the difference, its standard error, Welch's p, and
    what the two criteria (two standard errors; p < 0.05) say, apart when they disagree."""
    p_value = comparison["welch_p_value"]
    beyond_noise = comparison["gain_exceeds_two_standard_errors"]
    significant = p_value is not None and p_value < 0.05
    if p_value is None:
        verdict = f"the gain is {'' if beyond_noise else 'not '}larger than two standard errors (no p-value)"
    elif beyond_noise == significant:
        verdict = ("both criteria call the gain real (more than two standard errors, p < 0.05)" if significant else
                   "both criteria call it seed noise (less than two standard errors, p >= 0.05)")
    else:
        verdict = (f"the criteria disagree: the gain is {'more' if beyond_noise else 'less'} than two standard "
                   f"errors, but p {'>=' if beyond_noise else '<'} 0.05 (Welch's test has few degrees of freedom "
                   "with so few seeds); more seeds would decide")
    return (f"Best vs default on the test split over seeds {seeds}: difference {comparison['difference']:+.4f} "
            f"macro-F1, standard error {comparison['standard_error']:.4f}, Welch p = "
            f"{'–' if p_value is None else f'{p_value:.3f}'}: {verdict}.")


def study_names() -> list[str]:
    """The study name of each file in studies/ (its `study_name`, else the file's name)."""
    names = []
    for path in sorted(STUDY_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names.append(str(raw.get("study_name") or path.stem))
    return names


def study_model(directory: Path, base: dict) -> str:
    """The study's model as the tables name it: an offline stand-in by what it is (its trials'
    metrics.json say), else the checkpoint's name."""
    for metrics in sorted(directory.glob("trials/*/metrics.json")):
        stand_in = read_json(metrics).get("stand_in")
        if stand_in:
            return describe_stand_in(stand_in)
    return model_label(base.get("model_name_or_path", "?"))


def render_trials(runs_root: Path, out: Path, study: Optional[str] = None) -> str:
    """Each study (`study` alone; without it, the studies that no file in studies/ names): its
    trials table (best first), its confirmation verdict, its plots."""
    parts, declared = [], study_names()
    for directory in sorted((Path(runs_root) / PHASE).glob("sweep_*/")):
        if not (directory / "trials.csv").exists() or not (directory / "study_report.json").exists():
            continue
        name = directory.name.removeprefix("sweep_")
        if (study is not None and name != study) or (study is None and name in declared):
            continue
        from phase3_hp_tuning_xlm_roberta.plots import PLOTS  # matplotlib: only when a study is rendered

        report = read_json(directory / "study_report.json")
        frame = pd.read_csv(directory / "trials.csv")
        base = read_json(directory / "best_preset.json") if (directory / "best_preset.json").exists() else {}
        model = study_model(directory, base)
        parts.append(f"**Study `{report['study']}`** ({report['space']}; model {model}, "
                     f"languages {', '.join(base.get('languages') or ['all'])}; objective {report['metric']}, "
                     "validation split; runs made here)")
        parts += ["", format_trials(frame, report["metric"]), ""]
        comparison = report.get("confirmation", {}).get("comparison")
        if comparison:
            parts += [describe_confirmation(comparison, report["confirmation"]["best"]["seeds"]), ""]
        for name in PLOTS:
            if (directory / name).exists():
                parts.append(publish_figure(directory / name, out, f"{PHASE}_{report['study']}_{name}",
                                            f"{report['study']}: {name.removesuffix('.png')}"))
        parts.append("")
    return "\n".join(parts).strip() or f"_{'study ' + study if study else 'other studies'}: no finished study yet_"


TABLES = [
    TableSpec(name="phase3_confirmation", phase=PHASE,
              title="Phase 3: best vs default configuration of each study, test split, over seeds",
              select=is_confirmation, study_data=TWEET_DATASET,
              columns=[Column("study", "config.sweep", "{}"), Column("configuration", "config.rerun", "{}"),
                       Column("optimizer", "config.optimizer", "{}"), Column("lr", "config.learning_rate", "{:.0e}"),
                       Column("schedule", "config.lr_scheduler", "{}"),
                       Column("warmup", "config.warmup_ratio", "{:.3g}"),
                       Column("weight decay", "config.weight_decay", "{:.3g}"),
                       Column("batch", "config.batch_size", "{}"),
                       Column("epochs", "config.epochs", "{}"), Column("val macro-F1", "metrics.val_f1_macro"),
                       Column("test macro-F1", "metrics.test_f1_macro"),
                       IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
                       Column("test accuracy", "metrics.test_accuracy")]),
    TableSpec(name="phase3_optimizers", phase=PHASE,
              title="Phase 3: each optimizer at the learning rate its study chose, trained on the same drawn subset "
                    "of the training tweets (all eight languages), test macro-F1 per language over seeds",
              select=on_train_subset, study_data=TWEET_DATASET,
              # The study's headline phase 2 figure is its XLM-R trained with Adafactor: what claim 2 rests on.
              reported=[original_row("phase2_multilingual_sentiment", optimizer="Adafactor (schedule not published)",
                                     **{"train tweets": "not published"})],
              columns=[Column("optimizer", "config.optimizer", "{}"), Column("lr", "config.learning_rate", "{:.0e}"),
                       Column("schedule", "config.lr_scheduler", "{}"),
                       Column("warmup", "config.warmup_ratio", "{:.3g}"),
                       Column("train tweets", "metrics.train_examples", "{:,.0f}"),
                       Column("epochs", "config.epochs", "{}"),
                       GroupColumns(split="test", metric="f1_macro", order=TWEET_LANGUAGES),
                       WorstGroupColumn("worst language", "", "{}", name=True),
                       WorstGroupColumn("worst-language macro-F1", ""),
                       Column("all: test macro-F1", "metrics.test_f1_macro"),
                       IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci")]),
]

# The optimizer comparison's rows: run names without `_seed<N>` (the phase 3 README's commands).
OPTIMIZER_ROWS = {"e5_small_adamw": "AdamW, linear decay, warmup 0.1",
                  "e5_small_adafactor": "Adafactor, linear decay, warmup 0.1",
                  "e5_small_adafactor_constant": "Adafactor, constant rate, no warmup",
                  "e5_small_adafactor_relative": "Adafactor, relative step (its own schedule)"}
# Which comparison speaks to which of the original study's claims (common/study_figures.py).
CLAIM_PAIRS = (("1: AdamW vs Adafactor (both with decay and warmup)", "e5_small_adamw", "e5_small_adafactor"),
               ("1: AdamW vs Adafactor's relative step", "e5_small_adamw", "e5_small_adafactor_relative"),
               ("2: Adafactor with decay and warmup vs without", "e5_small_adafactor", "e5_small_adafactor_constant"),
               ("2: Adafactor with decay and warmup vs its relative step", "e5_small_adafactor",
                "e5_small_adafactor_relative"))


def seed_summary(values: list[float]) -> str:
    """mean ± sample std (the spread over seeds), and the range."""
    if len(values) < 2:
        return f"{values[0]:.4f} (one seed)" if values else "–"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (range {max(values) - min(values):.4f})"


def render_claims(runs_root: Path, out: Path) -> str:
    """Per optimizer row: its seeds' test macro-F1 and worst-language macro-F1 (mean ± std over
    seeds: the spread is the robustness the study's claim 2 speaks of); then each claim's
    comparison, paired on the same test tweets seed by seed (`common.compare`)."""
    from common.compare import PAIRED_HEADERS, compare_seeds, paired_row

    worst, worst_name = WorstGroupColumn("", ""), WorstGroupColumn("", "", name=True)
    runs = [run for run in collect_runs(Path(runs_root)) if run.phase == PHASE]
    rows = []
    for stem, label in OPTIMIZER_ROWS.items():
        members = sorted((run for run in runs if run.path.name.rsplit("_seed", 1)[0] == stem),
                         key=lambda run: run.path.name)
        if members:
            rows.append([label, f"`{stem}_seed*`", ", ".join(str(run.config.get("seed")) for run in members),
                         seed_summary([run.metrics["test_f1_macro"] for run in members]),
                         seed_summary([worst.value(run) for run in members]),
                         ", ".join(sorted({worst_name.value(run) for run in members}))])
    pairs = [paired_row(title, result) for title, stem_a, stem_b in CLAIM_PAIRS
             for result in compare_seeds(Path(runs_root) / PHASE, stem_a, stem_b)]
    if not rows:
        return "_The optimizer claims: no run of the optimizer comparison yet_"
    return "\n".join([
        "**Phase 3: the original study's optimizer claims, evidence** (runs made here, the rows of the table "
        "above; mean ± std over seeds, the std being the spread over seeds)", "",
        *markdown_rows(["optimizer", "runs", "seeds", "test macro-F1", "worst-language macro-F1",
                        "worst language"], rows), "",
        "Paired on the same test tweets, seed by seed (`python -m common.compare A B`: A - B in test macro-F1, "
        "its 95% paired bootstrap interval, the paired permutation test's p-value):", "",
        *(markdown_rows(PAIRED_HEADERS, pairs) if pairs else ["_no pair with predictions yet_"])])


# One block per study file (`phase3_trials_<study>`), so that a machine holding one study's runs rewrites
# its block alone (`python -m common.report --only ...`); `phase3_trials` holds any other study.
BLOCKS = [*(BlockSpec(name=f"phase3_trials_{name}", render=functools.partial(render_trials, study=name))
            for name in study_names()),
          BlockSpec(name="phase3_trials", render=render_trials), BlockSpec(name="phase3_claims", render=render_claims)]

# The summary's row (common/summary.py): the optimizer comparison on the drawn subset.
SUMMARY = (
    SummaryRow(task="XLM-R tuning: optimizers on a small multilingual subset (phase 3)",
               tables=("phase3_optimizers",), section="Phase 3: hyperparameter studies",
               metric="all: test macro-F1",
               original="none of its own (it tuned phase 2's model: " + original_summary(
                   "phase2_multilingual_sentiment") + ")",
               published="none on a subset this small"),
)


def optimizer_comparisons(*titles: str) -> tuple[Comparison, ...]:
    """The CLAIM_PAIRS whose titles start with one of `titles` ("1:", "2:"), as claim comparisons."""
    return tuple(Comparison(title.split(": ", 1)[1], stem_a, stem_b) for title, stem_a, stem_b in CLAIM_PAIRS
                 if title.startswith(titles))


# The verdicts on the original study's optimizer claims (common/claims.py), from the runs of
# the optimizer comparison; the evidence is computed from them each time the report runs.
CLAIMS = (
    ClaimVerdict(claim=1, verdict="supported for the optimizer",
                 why="on a hundred tweets per language the choice decides between a model and none: Adafactor's "
                     "relative step collapses to one class on every seed, while AdamW and Adafactor with decay "
                     "both train; between those two, each at its best rate, the difference is not established "
                     "(one seed of three shows none)",
                 comparisons=optimizer_comparisons("1:"), tables=("phase3_optimizers",)),
    ClaimVerdict(claim=2, verdict="supported for the decay within Adafactor; not established against AdamW",
                 why="removing the decay and the warmup from Adafactor at the same rate costs macro-F1 on every "
                     "seed and lowers the worst language, and the warmup study finds the decay, not the warmup, "
                     "doing the work; against AdamW with the same schedule the smaller spread over seeds is "
                     "within chance with three seeds",
                 comparisons=optimizer_comparisons("2:"),
                 tables=("phase3_optimizers", "phase3_trials_e5_warmup_weight_decay_small_data")),
)
