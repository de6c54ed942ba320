"""Phase 4 results for experiments.md (rendered by `python -m common.report`).

- `phase4_classification`: test scores of each trained model, how often its texts were
  longer than max_length, and what its long_inputs strategy kept of them; runs on the
  medical abstracts first, then one part per other data set (`--dataset`), titled with
  its label count.
- `phase4_long_inputs`: the same columns for the comparison of long-input strategies and
  lengths, the runs named `long_*` (left out of the table above: they are a study of
  their own, with its own protocol; see experiments.md for their commands).
- `phase4_faithfulness`: for each run that `explain` has covered, the faithfulness of
  every method and of the random reference (mean ± std over the explained examples),
  the explainers' checks and seconds per example, and the mean deletion/insertion curves.
"""
from __future__ import annotations

from pathlib import Path

from common.summary import SummaryRow
from common.claims import ClaimVerdict
from common.records import read_json
from common.study_figures import original_row, original_summary
from common.tables import (BlockSpec, Column, GroupColumns, IntervalColumn, SecondsColumn, TableSpec, describe_device,
                           model_label, publish_figure)
from phase4_medical_text_xai.faithfulness import HIGHER_IS_BETTER, METRICS
from phase4_medical_text_xai.html_report import METHOD_TITLES
from phase4_medical_text_xai.config import MEDICAL_DATASET, PHASE


def faithfulness_table(result: dict) -> list[str]:
    headers = ["method", *[f"{m.replace('_', ' ')} {'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in METRICS],
               "s / example"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for method, entry in result["summary"].items():
        cells = [f"{entry[m]['mean']:.3f} ± {entry[m]['std']:.3f}" for m in METRICS]
        lines.append("| " + " | ".join([METHOD_TITLES.get(method, method), *cells,
                                        f"{result['seconds_per_example'][method]:.2f}"]) + " |")
    return lines


def describe_ig_steps(result: dict) -> str:
    """IG's integration: fixed steps, or steps doubled from a start until the completeness
    gap is within the tolerance (explanations made before that option had fixed steps)."""
    tolerance = result.get("ig_tolerance", 0)
    if not tolerance:
        return f"IG {result['ig_steps']} steps"
    return f"IG from {result['ig_steps']} steps, doubled until |δ| ≤ {tolerance:g} x |f(x) - f(baseline)|"


def render_faithfulness(runs_root: Path, out: Path) -> str:
    parts = []
    for path in sorted((Path(runs_root) / PHASE).glob("*/explanations/faithfulness.json")):
        result = read_json(path)
        run_dir = path.parent.parent
        env = read_json(run_dir / "env.json") if (run_dir / "env.json").exists() else {}
        checks = result.get("checks", {})
        parts += [f"**Faithfulness of the explanations of run `{result['run']}`** (runs made here: model "
                  f"{model_label(result['model'])}, trained on {describe_device(env)}; {result['n']} test "
                  f"examples explained on {result['device']}, {result['created_at'][:10]}; the predicted class "
                  f"is explained; tokens masked with `{result['replacement']}`; {describe_ig_steps(result)})", "",
                  *faithfulness_table(result), ""]
        notes = []
        if "ig_abs_delta_max" in checks:
            notes.append(f"IG convergence delta: mean |δ| {checks['ig_abs_delta_mean']:.3g}, "
                         f"max {checks['ig_abs_delta_max']:.3g}" + (
                             f"; {checks['ig_steps_mean']:.1f} steps per example on average, "
                             f"{checks['ig_outside_tolerance']} example(s) outside the tolerance"
                             if "ig_steps_mean" in checks else ""))
        if "lrp_conservation_error_max" in checks:
            notes.append(f"LRP: tokens + biases = logit within a relative {checks['lrp_conservation_error_max']:.1e}"
                         f"; on average the tokens carry {checks['lrp_token_share_mean']:.0%} of the logit")
        if notes:
            parts += ["Checks: " + "; ".join(notes) + ".", ""]
        if (path.parent / "faithfulness.png").exists():
            parts.append(publish_figure(path.parent / "faithfulness.png", out,
                                        f"{PHASE}_{result['run']}_faithfulness.png",
                                        f"{result['run']}: deletion and insertion curves"))
            parts.append("")
    return "\n".join(parts).strip() or "_no explained run yet_"


def in_long_inputs_study(run) -> bool:
    return str(run.config.get("run_name") or run.path.name).startswith("long_")


COLUMNS = [Column("split", "metrics.data.split", "{}"), Column("max length", "config.max_length", "{}"),
           Column("truncated (test)", "metrics.data.truncated.test", "{:.1%}"),
           Column("long inputs", "metrics.data.long_inputs.strategy", "{}"),
           Column("abstracts cut (test)", "metrics.data.long_inputs.test.texts_cut", "{:.1%}"),
           Column("windows / abstract", "metrics.data.long_inputs.test.windows_per_text", "{:.2f}"),
           Column("lr", "config.learning_rate", "{:.0e}"), Column("epochs", "metrics.epochs_trained", "{}"),
           Column("test accuracy", "metrics.test_accuracy"), Column("test macro-F1", "metrics.test_f1_macro"),
           IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci"), GroupColumns(header="test {group}"),
           SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")]
TABLES = [
    TableSpec(name="phase4_classification", phase=PHASE, title="Phase 4: text classification, test split",
              study_data=MEDICAL_DATASET, columns=COLUMNS, select=lambda run: not in_long_inputs_study(run),
              reported=[original_row(PHASE, accuracy="test accuracy", f1_macro="test macro-F1",
                                     data="medical text: its data and split not published")]),
    TableSpec(name="phase4_long_inputs", phase=PHASE, title="Phase 4: long abstracts, head vs head + tail vs "
              "windows, at 256 and 512 tokens, test split", study_data=MEDICAL_DATASET, columns=COLUMNS,
              select=in_long_inputs_study),
]
BLOCKS = [BlockSpec(name="phase4_faithfulness", render=render_faithfulness)]

# The summary's row (common/summary.py) and the verdict on the study's explanation claim.
SUMMARY = (
    SummaryRow(task="medical abstracts, 5 conditions (phase 4)", tables=("phase4_classification",),
               section="Phase 4: medical abstracts, classification and explanations",
               original=original_summary(PHASE),
               published="none quoted: the rows re-split the published test file (Schopf et al. 2022 report "
                         "supervised baselines on the published split)"),
)
CLAIMS = (
    ClaimVerdict(claim=3, verdict="supported in the narrow sense of faithfulness; not testable here as a clinical "
                                  "claim",
                 why="deleting the tokens that attention rollout, Integrated Gradients or LRP rank first moves the "
                     "prediction far more than deleting random ones, for every method, so the explanations follow "
                     "the model; whether they support a clinician's decision needs clinicians, one model and one "
                     "seed were explained",
                 tables=("phase4_faithfulness",)),
)
