import json
import statistics
import subprocess
import sys
from pathlib import Path

from common.records import write_json
from common.report import build_report, replace_block
from common.tables import Column, TableSpec, collect_runs
from phase1_financial_phrasebank.train import main

SPEC = TableSpec(name="t1", phase="phase1_financial_phrasebank", title="Test table",
                 columns=[Column("test accuracy", "metrics.test_accuracy"),
                          Column("level", "config.train_agreement", "{}")],
                 reported=[{"source": "Somebody 2020 (reported)", "model": "M", "data": "D", "test accuracy": "0.9"}])


def fake_run(root, name, seed, accuracy, metrics=None, phase="phase1_financial_phrasebank", **config):
    run_dir = root / phase / name
    write_json(run_dir / "config.json", {"preset": "distilbert", "argv": [],
                                         "config": {"seed": seed, "run_name": name, "train_agreement": "50Agree",
                                                    "model_name_or_path": "distilbert/distilbert-base-uncased",
                                                    **config}})
    write_json(run_dir / "env.json", {"cpu_count": 2, "started_at": "2026-11-22T10:00:00+00:00"})
    write_json(run_dir / "metrics.json", {"test_accuracy": accuracy, **(metrics or {})})


def table_rows(text, start):
    return [line for line in text.splitlines() if line.startswith(f"| {start}")]


def test_report_writes_a_row_for_a_finished_run(tiny_config, tmp_path):
    run_dir = main(tiny_config(epochs=1))
    out = tmp_path / "experiments.md"
    out.write_text("# Intro kept\n\n<!-- START TABLE t1 -->\nold\n<!-- END TABLE t1 -->\n\nOutro kept\n")
    text = build_report(run_dir.parent.parent, out, specs=[SPEC])
    accuracy = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert "# Intro kept" in text and "Outro kept" in text and "old" not in text
    row = next(line for line in text.splitlines() if line.startswith("| tiny"))
    assert f"{accuracy:.4f}" in row and "50Agree" in row and "CPU" in row and "1 (42)" in row
    assert "Reported by others, not run here" in text and "Somebody 2020 (reported)" in text


def test_seeds_are_grouped_as_mean_and_std(tmp_path):
    for seed, accuracy in [(1, 0.80), (2, 0.84), (3, 0.85)]:
        fake_run(tmp_path, f"distilbert_seed{seed}", seed, accuracy)
    fake_run(tmp_path, "other", 1, 0.5, train_agreement="AllAgree")  # a different experiment: its own row
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    values = [0.80, 0.84, 0.85]
    expected = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    [seeds] = table_rows(text, "distilbert_seed* |")
    assert expected in seeds and "3 (1, 2, 3)" in seeds
    [other] = table_rows(text, "other |")
    assert "0.5000" in other and "AllAgree" in other


def test_intervals_show_per_run_and_as_a_span_over_seeds(tmp_path):
    from common.tables import IntervalColumn

    spec = TableSpec(name="t1", phase="phase1_financial_phrasebank", title="CI",
                     columns=[IntervalColumn("macro-F1 95% CI", "metrics.test_f1_macro_ci")])
    fake_run(tmp_path, "one", 1, 0.7, {"test_f1_macro_ci": [0.7, 0.8]}, learning_rate=1e-5)
    for seed, ci in ((1, [0.6, 0.7]), (2, [0.65, 0.75])):
        fake_run(tmp_path, f"two_seed{seed}", seed, 0.7, {"test_f1_macro_ci": ci})
    text = build_report(tmp_path, tmp_path / "e.md", specs=[spec])
    assert "| [0.700, 0.800] |" in table_rows(text, "one |")[0]
    assert "| [0.600, 0.750] (span over seeds) |" in table_rows(text, "two_seed* |")[0]


def test_two_runs_of_one_preset_are_rows_named_by_run(tmp_path):
    fake_run(tmp_path, "lr_low", 1, 0.7, learning_rate=1e-5)
    fake_run(tmp_path, "lr_high", 1, 0.6, learning_rate=5e-5)
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    assert "0.7000" in table_rows(text, "lr_low |")[0] and "0.6000" in table_rows(text, "lr_high |")[0]


def test_runs_on_other_data_have_their_own_part_away_from_published_numbers(tmp_path):
    spec = TableSpec(name="t1", phase="phase1_financial_phrasebank", title="Main", study_data="financial_phrasebank",
                     columns=[Column("test accuracy", "metrics.test_accuracy"),
                              Column("level", "config.train_agreement", "{}", study_only=True)],
                     reported=SPEC.reported)
    three = {"labels": ["negative", "neutral", "positive"]}
    fake_run(tmp_path, "study", 1, 0.8, three, dataset="financial_phrasebank")
    fake_run(tmp_path, "aspects", 1, 0.55, {**three, "data": {"source": "/data/own/aspects.csv"}},
             dataset="aspects.csv")
    fake_run(tmp_path, "many", 1, 0.4, {"labels": [f"disease {i}" for i in range(24)],
                                         "data": {"source": "/data/own/symptoms.csv"}}, dataset="symptoms.csv")
    text = build_report(tmp_path, tmp_path / "e.md", specs=[spec])
    parts = text.split("**Main**")[1:]
    assert len(parts) == 3
    study, aspects, many = parts
    assert "data: `financial_phrasebank`, 3 labels: negative, neutral, positive" in study
    assert "| study |" in study and "level" in study and "Reported by others" in study
    assert "data: `own/aspects.csv`, 3 labels" in aspects and "| aspects |" in aspects
    assert "level" not in aspects and "50Agree" not in aspects and "Reported by others" not in aspects
    assert "data: `own/symptoms.csv`, 24 labels (" in many and "| many |" in many and "| study |" not in many


def test_group_columns_come_from_the_groups_the_runs_recorded(tmp_path):
    from phase2_multilingual_sentiment.tables import TABLES

    groups = {"test": {"en": {"f1_macro": 0.8}, "ko": {"f1_macro": 0.3}}}
    fake_run(tmp_path, "translated", 1, 0.6, {"groups": groups, "data": {"source": "/d/translated.csv"}},
             phase="phase2_multilingual_sentiment", dataset="translated.csv")
    fake_run(tmp_path, "tweets", 1, 0.6, {"groups": {"test": {"french": {"f1_macro": 0.5}}}},
             phase="phase2_multilingual_sentiment")
    text = build_report(tmp_path, tmp_path / "e.md", specs=TABLES[:1])
    study, custom = text.split("Reported by others")[0], text.split("Reported by others")[1]
    assert "| french |" in study and "| en |" not in study
    header = next(line for line in custom.splitlines() if line.startswith("| run |"))
    assert "| en | ko |" in header and "french" not in header
    assert "| 0.8000 | 0.3000 |" in table_rows(custom, "translated |")[0]


def test_debug_runs_are_marked(tmp_path):
    fake_run(tmp_path, "dbg", 1, 0.4, max_train_samples=10)
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    assert "(subset: max_train_samples=10)" in text


def test_unfinished_runs_are_ignored(tmp_path):
    fake_run(tmp_path, "done", 1, 0.8)
    (tmp_path / "phase1_financial_phrasebank" / "running").mkdir()
    (tmp_path / "phase1_financial_phrasebank" / "running" / "config.json").write_text("{}")
    assert [run.path.name for run in collect_runs(tmp_path)] == ["done"]


def test_missing_markers_are_appended_and_benchmarks_go_to_their_own_file(tmp_path):
    write_json(tmp_path / "benchmarks" / "speed.json", {"title": "Speed", "setup": {"device": "CPU"},
                                                        "rows": [{"pipeline": "a", "s/epoch": 1.5}]})
    out = tmp_path / "e.md"
    text = build_report(tmp_path, out, specs=[SPEC])
    assert "<!-- START TABLE t1 -->" in text and "_no finished runs yet_" in text
    assert "benchmark:speed" not in text
    benchmarks = (tmp_path / "benchmarks.md").read_text()
    assert "<!-- START TABLE benchmark:speed -->" in benchmarks and "| a | 1.5 |" in benchmarks
    assert replace_block(text, "t1", "new") .count("<!-- START TABLE t1 -->") == 1


def test_phase2_tables_show_languages_and_sweep_reruns(tmp_path):
    from phase2_multilingual_sentiment.tables import TABLES

    def phase2_run(name, provenance, groups):
        run_dir = tmp_path / "phase2_multilingual_sentiment" / name
        config = {"seed": 42, "run_name": name, "learning_rate": 5e-5,
                  "model_name_or_path": "FacebookAI/xlm-roberta-base"}
        write_json(run_dir / "config.json", {**provenance, "config": config})
        write_json(run_dir / "metrics.json", {"data": {"train_languages": ["english"]},
                                              "groups": {"test": {k: {"f1_macro": v} for k, v in groups.items()}}})

    phase2_run("zero_shot_seed42", {"preset": "zero_shot"}, {"english": 0.71, "arabic": 0.33})
    phase2_run("french_seed42", {"preset": "per_language"}, {"french": 0.6})
    phase2_run("sweep_grid_best_seed42", {"sweep": "grid"}, {"english": 0.75})
    text = build_report(tmp_path, tmp_path / "e.md", specs=TABLES)
    header = next(line for line in text.splitlines() if line.startswith("| run |"))
    assert "| arabic | english | french |" in header  # the XLM-T order, languages evaluated only
    zero_shot = next(line for line in text.splitlines() if line.startswith("| zero_shot"))
    assert "| english |" in zero_shot and "| 0.3300 | 0.7100 | – |" in zero_shot  # french not evaluated
    rerun = next(line for line in text.splitlines() if line.startswith("| sweep_grid_best"))
    assert "| grid |" in rerun and "0.7500" in rerun and "sweep_grid" not in zero_shot


def test_phase2_language_figure_is_drawn(tmp_path):
    from phase2_multilingual_sentiment.tables import FIGURES

    run_dir = tmp_path / "phase2_multilingual_sentiment" / "zs"
    write_json(run_dir / "config.json", {"preset": "zero_shot", "config": {"seed": 1, "model_name_or_path": "m"}})
    write_json(run_dir / "metrics.json", {"groups": {"test": {"english": {"f1_macro": 0.7},
                                                              "french": {"f1_macro": 0.5}}}})
    out = tmp_path / "docs" / "e.md"
    text = build_report(tmp_path, out, specs=[], figures=FIGURES)
    assert "![Phase 2: test macro-F1 per language (XLM-T tweets)](figures/phase2_languages.png)" in text
    assert (tmp_path / "docs" / "figures" / "phase2_languages.png").stat().st_size > 0


def test_the_command_line_renders_every_phase_table(tmp_path):
    """`python -m common.report` as a user runs it (the module is then `__main__`)."""
    groups = {"test": {"en": {"f1_macro": 0.8}, "ko": {"f1_macro": 0.3}}}
    fake_run(tmp_path, "translated", 1, 0.6, {"groups": groups, "labels": ["a", "b"]},
             phase="phase2_multilingual_sentiment", dataset="translated.csv")
    result = subprocess.run([sys.executable, "-m", "common.report", "--runs", str(tmp_path),
                             "--out", str(tmp_path / "e.md")], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "e.md").read_text()
    assert "data: `translated.csv`, 2 labels: a, b" in text and "| 0.8000 | 0.3000 |" in text


def test_only_rewrites_the_named_blocks_and_refuses_unknown_names(tmp_path):
    import pytest

    from common.errors import DataError

    fake_run(tmp_path, "one", 1, 0.7)
    out = tmp_path / "experiments.md"
    out.write_text("<!-- START TABLE t1 -->\nold t1\n<!-- END TABLE t1 -->\n"
                   "<!-- START TABLE t2 -->\nold t2\n<!-- END TABLE t2 -->\n")
    other = TableSpec(name="t2", phase="phase1_financial_phrasebank", title="Other", columns=[])
    text = build_report(tmp_path, out, specs=[SPEC, other], figures=[], only=["t1"])
    assert "old t1" not in text and "| one |" in text and "old t2" in text
    with pytest.raises(DataError, match="no block named t3"):
        build_report(tmp_path, out, specs=[SPEC, other], figures=[], only=["t3"])


def test_phase2_transfer_gap_is_multilingual_minus_zero_shot_per_language(tmp_path):
    from phase2_multilingual_sentiment.tables import render_transfer_gap

    phase = "phase2_multilingual_sentiment"
    scores = {"multilingual": {42: (0.60, 0.50), 43: (0.62, 0.54)}, "zero_shot": {42: (0.58, 0.30), 43: (0.60, 0.34)}}
    for setup, by_seed in scores.items():
        train = ["english"] if setup == "zero_shot" else []
        for seed, (english, arabic) in by_seed.items():
            fake_run(tmp_path, f"m_{setup}_seed{seed}", seed, 0.5,
                     {"groups": {"test": {"english": {"f1_macro": english}, "arabic": {"f1_macro": arabic}}}},
                     phase=phase, preset=setup, train_languages=train, languages=[], max_train_samples=400,
                     model_name_or_path="/models/e5", dataset="tweet_sentiment_multilingual")
    text = render_transfer_gap(tmp_path, tmp_path / "experiments.md")
    row = next(line for line in text.splitlines() if line.startswith("| models/e5"))
    # arabic: mean(0.50, 0.54) - mean(0.30, 0.34) = +0.200, SE sqrt(0.0008/2 + 0.0008/2) = 0.028
    assert "| +0.200 ± 0.028 | +0.020 ± 0.014 |" in row and "| 2 / 2 |" in row


def test_seconds_keep_three_significant_figures_and_an_empty_table_is_one_line(tmp_path):
    from common.tables import SecondsColumn
    from common.report import render_table

    column = SecondsColumn("train s/epoch", "metrics.seconds_per_epoch")
    assert [column.format([v]) for v in (0.5123, 50.24, 141.55, 1234.4)] == ["0.512", "50.2", "142", "1,234"]
    assert column.format([100.0, 120.0]) == "110 ± 14.1" and column.format([None]) == "–"
    empty = TableSpec(name="e", phase="phase1_financial_phrasebank", title="**Empty**", columns=[column],
                      study_data="financial_phrasebank")
    assert render_table(empty, []).splitlines()[0].endswith(": _no finished runs yet_")
    assert "|" not in render_table(empty, [])


def test_phase2_paired_comparisons_are_common_compares_seed_by_seed(tmp_path):
    import pandas as pd

    from common.compare import compare_runs
    from phase2_multilingual_sentiment.tables import render_paired

    root = tmp_path / "phase2_multilingual_sentiment"
    labels = ["negative", "neutral", "positive"] * 20
    for name, hits in (("sub400_e5_multilingual_seed42", 50), ("sub400_minilm_multilingual_seed42", 35),
                       ("sub400_e5_zero_shot_seed42", 40)):  # the last has no partner: no row
        predictions = [label if i < hits else "neutral" for i, label in enumerate(labels)]
        (root / name).mkdir(parents=True)
        pd.DataFrame({"text": [f"t{i}" for i in range(60)], "label": labels, "prediction": predictions}).to_csv(
            root / name / "predictions.csv", index=False)
    text = render_paired(tmp_path, tmp_path / "experiments.md")
    expected = compare_runs(root / "sub400_e5_multilingual_seed42", root / "sub400_minilm_multilingual_seed42")
    rows = [line for line in text.splitlines() if line.startswith("| multilingual")]
    assert len(rows) == 1 and f"| 42 | {expected['a']:.4f} | {expected['b']:.4f} | {expected['difference']:+.4f} |" \
        in rows[0] and "zero-shot" not in text.split("\n\n", 1)[1]


def test_summary_takes_the_best_row_of_its_tables_and_says_where_none_ran(tmp_path):
    """The summary reads each declared row's tables as the report just rebuilt them: the
    highest score of the competing rows, its run, model, device and seeds; a table without
    runs makes the row say so."""
    from common.summary import SummaryRow, render_summary

    for seed, accuracy in [(1, 0.80), (2, 0.84)]:
        fake_run(tmp_path, f"good_seed{seed}", seed, accuracy)
    fake_run(tmp_path, "better_elsewhere", 1, 0.95, train_agreement="AllAgree")
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    rows = [SummaryRow(task="the task", tables=("t1",), section="Phase 1: Financial PhraseBank",
                       metric="test accuracy", interval=None, where=(("level", "50Agree"),), original="0.5 reported",
                       published="0.9 by Somebody"),
            SummaryRow(task="no runs", tables=("absent",), section="Elsewhere")]
    summary = render_summary(rows, text)
    [line] = table_rows(summary, "the task")
    assert "`good_seed*` (table `t1`)" in line and "test accuracy 0.8200 ± 0.0283" in line  # not the AllAgree run
    assert "seeds 2 (1, 2)" in line and "[Phase 1: Financial PhraseBank](#phase-1-financial-phrasebank)" in line
    assert "_no finished run yet_" in table_rows(summary, "no runs")[0]


def write_predictions(run_dir, labels, predictions, days):
    import pandas as pd

    pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "cluster": days, "label": labels,
                  "prediction": predictions}).to_csv(run_dir / "predictions.csv", index=False)
    write_json(run_dir / "metrics.json", {"labels": ["down", "up"]})


def test_claims_show_each_verdict_with_evidence_computed_from_the_runs(tmp_path):
    from common.claims import ClaimVerdict, Comparison, render_claims
    from common.compare import compare_runs

    labels = ["up", "down"] * 20
    days = [f"d{i // 4}" for i in range(40)]
    root = tmp_path / "phase5_multimodal_financial_sentiment"
    for name, predictions in (("fused_seed1", labels[:30] + ["up"] * 10), ("text_seed1", ["up"] * 40)):
        (root / name).mkdir(parents=True)
        write_predictions(root / name, labels, predictions, days)
    verdict = ClaimVerdict(claim=4, verdict="supported here", why="because",
                           comparisons=(Comparison("fusion vs text", "fused", "text", cluster_column="cluster"),
                                        Comparison("absent pair", "nothing", "text")),
                           tables=("phase5_stocknet",))
    text = render_claims([(root.name, verdict)], tmp_path)
    expected = compare_runs(root / "fused_seed1", root / "text_seed1", cluster_column="cluster")
    [line] = table_rows(text, "4. fusing")
    assert "**supported here**" in line and "because" in line and "table `phase5_stocknet`" in line
    assert f"seed 1: {expected['difference']:+.3f} [{expected['interval'][0]:+.3f}" in line
    assert "over trading days" in line and "_no pair of finished runs `nothing_seed*`" in line
    assert "**not testable here**" in table_rows(text, "1. model depth")[0]  # no verdict declared for claim 1


def test_prose_may_quote_only_scores_a_generated_table_holds(tmp_path):
    """A score typed into the prose is caught once a rebuild of the tables no longer holds it."""
    from common.report import unbacked_scores

    fake_run(tmp_path, "run", 1, 0.8123)
    out = tmp_path / "e.md"
    build_report(tmp_path, out, specs=[SPEC])
    out.write_text(out.read_text() + "\nThe run scores 0.8123, far above 0.7777 (made up).\n")
    assert unbacked_scores(out.read_text()) == ["0.7777"]
    fake_run(tmp_path, "run", 1, 0.8456)  # the run is made again and scores otherwise
    text = build_report(tmp_path, out, specs=[SPEC])
    assert unbacked_scores(text) == ["0.8123", "0.7777"]


def test_the_committed_results_quote_no_score_their_tables_lack():
    from common import REPO_ROOT
    from common.report import unbacked_scores

    texts = [(REPO_ROOT / name).read_text(encoding="utf-8") for name in ("experiments.md", "benchmarks.md")]
    assert unbacked_scores(*texts) == []


def test_the_readme_layout_names_every_module_of_common():
    import re

    from common import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("phase1_.../")]
    modules = sorted(path.stem for path in (REPO_ROOT / "common").glob("*.py") if path.stem != "__init__")
    assert [m for m in modules if not re.search(rf"\b{m}\b", layout)] == []


def test_reported_rows_are_refreshed_without_the_runs(tmp_path):
    """A machine without a table's runs renders its reported part anew and keeps the rows of
    runs as the block holds them; a block without a reported part gets one after its table."""
    import dataclasses

    fake_run(tmp_path / "here", "run", 1, 0.8123)
    out = tmp_path / "e.md"
    bare = dataclasses.replace(SPEC, reported=[])
    build_report(tmp_path / "here", out, specs=[bare])
    assert "Reported by others" not in out.read_text()
    newer = dataclasses.replace(SPEC, reported=[{"source": "Newer 2026 (reported)", "test accuracy": "0.95"}])
    fake_run(tmp_path / "elsewhere", "other", 1, 0.5)  # the machine that refreshes lacks the table's run
    text = build_report(tmp_path / "elsewhere", out, specs=[newer], only=[], reported_only=["t1"])
    assert "0.8123" in text and "| other" not in text  # the runs part as it was
    assert text.count("Reported by others, not run here:") == 1 and "Newer 2026 (reported)" in text
    text = build_report(tmp_path / "elsewhere", out, specs=[SPEC], only=[], reported_only=["t1"])
    assert "Somebody 2020 (reported)" in text and "Newer 2026" not in text and "0.8123" in text
