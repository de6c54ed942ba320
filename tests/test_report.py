import json
import statistics

from common.records import write_json
from common.report import Column, TableSpec, build_report, collect_runs, replace_block
from phase1_financial_phrasebank.train import main

SPEC = TableSpec(name="t1", phase="phase1_financial_phrasebank", title="Test table",
                 columns=[Column("test accuracy", "metrics.test_accuracy"), Column("level", "config.train_agreement", "{}")],
                 reported=[{"source": "Somebody 2020 (reported)", "model": "M", "data": "D", "test accuracy": "0.9"}])


def fake_run(root, name, seed, accuracy, **config):
    run_dir = root / "phase1_financial_phrasebank" / name
    write_json(run_dir / "config.json", {"preset": "distilbert", "argv": [],
                                         "config": {"seed": seed, "run_name": name, "train_agreement": "50Agree",
                                                    "model_name_or_path": "distilbert/distilbert-base-uncased", **config}})
    write_json(run_dir / "env.json", {"cpu_count": 2, "started_at": "2026-11-22T10:00:00+00:00"})
    write_json(run_dir / "metrics.json", {"test_accuracy": accuracy})


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
        fake_run(tmp_path, f"s{seed}", seed, accuracy)
    fake_run(tmp_path, "other", 1, 0.5, train_agreement="AllAgree")  # a different experiment: its own row
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    values = [0.80, 0.84, 0.85]
    expected = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    rows = [line for line in text.splitlines() if line.startswith("| distilbert")]
    assert len(rows) == 2
    assert any(expected in row and "3 (1, 2, 3)" in row for row in rows)
    assert any("0.5000" in row and "AllAgree" in row for row in rows)


def test_debug_runs_are_marked(tmp_path):
    fake_run(tmp_path, "dbg", 1, 0.4, max_train_samples=10)
    text = build_report(tmp_path, tmp_path / "e.md", specs=[SPEC])
    assert "(debug subset: max_train_samples=10)" in text


def test_unfinished_runs_are_ignored(tmp_path):
    fake_run(tmp_path, "done", 1, 0.8)
    (tmp_path / "phase1_financial_phrasebank" / "running").mkdir()
    (tmp_path / "phase1_financial_phrasebank" / "running" / "config.json").write_text("{}")
    assert [run.path.name for run in collect_runs(tmp_path)] == ["done"]


def test_missing_markers_are_appended_and_benchmarks_rendered(tmp_path):
    write_json(tmp_path / "benchmarks" / "speed.json", {"title": "Speed", "setup": {"device": "CPU"},
                                                        "rows": [{"pipeline": "a", "s/epoch": 1.5}]})
    out = tmp_path / "e.md"
    text = build_report(tmp_path, out, specs=[SPEC])
    assert "<!-- START TABLE t1 -->" in text and "_no finished runs yet_" in text
    assert "<!-- START TABLE benchmark:speed -->" in text and "| a | 1.5 |" in text
    assert replace_block(text, "t1", "new") .count("<!-- START TABLE t1 -->") == 1


def test_phase2_tables_show_languages_and_sweep_reruns(tmp_path):
    from phase2_multilingual_sentiment.tables import TABLES

    def phase2_run(name, provenance, **metrics):
        run_dir = tmp_path / "phase2_multilingual_sentiment" / name
        write_json(run_dir / "config.json", {**provenance, "config": {"seed": 42, "run_name": name, "learning_rate": 5e-5,
                                                                      "model_name_or_path": "FacebookAI/xlm-roberta-base"}})
        write_json(run_dir / "metrics.json", {"data": {"train_languages": ["english"]}, **metrics})

    phase2_run("zs", {"preset": "zero_shot"}, test_english_f1_macro=0.71, test_arabic_f1_macro=0.33)
    phase2_run("sweep_grid_best_seed42", {"sweep": "grid"}, test_english_f1_macro=0.75)
    text = build_report(tmp_path, tmp_path / "e.md", specs=TABLES)
    zero_shot = next(line for line in text.splitlines() if line.startswith("| zero_shot"))
    assert "| english |" in zero_shot and "0.3300" in zero_shot and "0.7100" in zero_shot
    assert "| – |" in zero_shot  # languages not evaluated
    rerun = next(line for line in text.splitlines() if line.startswith("| sweep_grid_best"))
    assert "| grid |" in rerun and "0.7500" in rerun and "sweep_grid" not in zero_shot


def test_phase2_language_figure_is_drawn(tmp_path):
    from phase2_multilingual_sentiment.tables import FIGURES

    run_dir = tmp_path / "phase2_multilingual_sentiment" / "zs"
    write_json(run_dir / "config.json", {"preset": "zero_shot", "config": {"seed": 1, "model_name_or_path": "m"}})
    write_json(run_dir / "metrics.json", {"test_english_f1_macro": 0.7, "test_french_f1_macro": 0.5})
    out = tmp_path / "docs" / "e.md"
    text = build_report(tmp_path, out, specs=[], figures=FIGURES)
    assert "![Phase 2: test macro-F1 per language](figures/phase2_languages.png)" in text
    assert (tmp_path / "docs" / "figures" / "phase2_languages.png").stat().st_size > 0
