"""Phase 3 results for experiments.md (rendered by `python -m common.report`).

- `phase3_confirmation`: the best and the default configuration of each study, re-run
  over several seeds and scored on the test split (mean ± std over seeds).
- `phase3_trials`: every study's trials table (from its trials.csv), with its plots
  copied next to experiments.md.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.records import read_json
from common.report import BlockSpec, Column, IntervalColumn, TableSpec, model_label, publish_figure
from phase3_hp_tuning_xlm_roberta.plots import PLOTS
from phase2_multilingual_sentiment.config import TWEET_DATASET
from phase3_hp_tuning_xlm_roberta.config import PHASE


def is_confirmation(run) -> bool:
    return run.config.get("rerun") in ("best", "default")


def format_trials(frame: pd.DataFrame, metric: str) -> str:
    params = [c for c in frame.columns if c.startswith("param_")]
    headers = ["trial", "state", *[c.removeprefix("param_") for c in params], metric, "epochs", "s", "worker / device"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for _, row in frame.sort_values(metric, ascending=False, na_position="last").iterrows():
        values = [f"{row[p]:.3g}" if isinstance(row[p], float) else str(row[p]) for p in params]
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


def render_trials(runs_root: Path, out: Path) -> str:
    """Each study: its trials table (best first), its confirmation verdict, its plots."""
    parts = []
    for directory in sorted((Path(runs_root) / PHASE).glob("sweep_*/")):
        if not (directory / "trials.csv").exists() or not (directory / "study_report.json").exists():
            continue
        report = read_json(directory / "study_report.json")
        frame = pd.read_csv(directory / "trials.csv")
        base = read_json(directory / "best_preset.json") if (directory / "best_preset.json").exists() else {}
        model = model_label(base.get("model_name_or_path", "?"))
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
    return "\n".join(parts).strip() or "_no finished study yet_"


TABLES = [
    TableSpec(name="phase3_confirmation", phase=PHASE,
              title="Phase 3: best vs default configuration of each study, test split, over seeds",
              select=is_confirmation, study_data=TWEET_DATASET,
              columns=[Column("study", "config.sweep", "{}"), Column("configuration", "config.rerun", "{}"),
                       Column("optimizer", "config.optimizer", "{}"), Column("lr", "config.learning_rate", "{:.0e}"),
                       Column("schedule", "config.lr_scheduler", "{}"), Column("warmup", "config.warmup_ratio", "{}"),
                       Column("weight decay", "config.weight_decay", "{}"), Column("batch", "config.batch_size", "{}"),
                       Column("epochs", "config.epochs", "{}"), Column("val macro-F1", "metrics.val_f1_macro"),
                       Column("test macro-F1", "metrics.test_f1_macro"),
                       IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"),
                       Column("test accuracy", "metrics.test_accuracy")]),
]
BLOCKS = [BlockSpec(name="phase3_trials", render=render_trials)]
