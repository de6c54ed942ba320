"""Bootstrap intervals on every run, the paired comparison of two runs, and the
off-the-shelf baseline row."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from common.compare import compare_runs
from common.errors import ConfigError, DataError
from common.metrics import compute_metrics
from common.uncertainty import bootstrap_intervals, compare_predictions, macro_f1
from phase1_financial_phrasebank.train import main


def noisy(n: int, accuracy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    return truth, np.where(rng.random(n) < accuracy, truth, rng.integers(0, 3, n))


def test_vectorized_macro_f1_equals_scikit_learn():
    truth, predicted = noisy(300, 0.7, 0)
    predicted[predicted == 2] = 1  # a class of the truth never predicted scores 0, as with zero_division=0
    # class 3 neither occurs nor is predicted: left out of the average, as compute_metrics does
    expected = f1_score(truth, predicted, average="macro", zero_division=0)
    assert macro_f1(4)(truth, predicted) == pytest.approx(expected)
    assert compute_metrics(truth, predicted, ["a", "b", "c", "d"])["f1_macro"] == pytest.approx(expected)


def test_interval_holds_the_estimate_and_narrows_with_more_examples():
    small = bootstrap_intervals(*noisy(40, 0.7, 1), 3)
    large_truth, large_pred = noisy(400, 0.7, 1)
    large = bootstrap_intervals(large_truth, large_pred, 3)
    estimate = macro_f1(3)(large_truth, large_pred)
    assert large["f1_macro"][0] <= estimate <= large["f1_macro"][1]
    assert large["accuracy"][0] <= np.mean(large_truth == large_pred) <= large["accuracy"][1]
    width = {name: r["f1_macro"][1] - r["f1_macro"][0] for name, r in (("small", small), ("large", large))}
    assert width["small"] > 2 * width["large"]  # about sqrt(10) times wider
    assert bootstrap_intervals(large_truth, large_pred, 3) == large  # seeded: the same interval again


def test_paired_comparison_of_two_prediction_sets():
    truth, good = noisy(400, 0.9, 2)
    bad = np.where(np.random.default_rng(3).random(400) < 0.3, (good + 1) % 3, good)  # worse on 30% of examples
    result = compare_predictions(truth, good, bad, 3, n_resamples=2000)
    assert result["difference"] == pytest.approx(macro_f1(3)(truth, good) - macro_f1(3)(truth, bad))
    assert result["interval"][0] > 0 and result["p_value"] < 0.01
    same = compare_predictions(truth, good, good, 3)
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0] and same["p_value"] == 1.0


def test_every_run_records_intervals_and_compare_refuses_other_examples(tiny_config, capsys):
    first = main(tiny_config(run_name="a", report_to=["none"]))
    second = main(tiny_config(run_name="b", seed=7, report_to=["none"]))
    metrics = json.loads((first / "metrics.json").read_text())
    low, high = metrics["test_f1_macro_ci"]
    assert low <= metrics["test_f1_macro"] <= high and metrics["test_intervals"]["resamples"] >= 1000
    assert compare_runs(first, first)["difference"] == 0  # a run against itself
    result = compare_runs(first, second, n_resamples=500)
    expected = metrics["test_f1_macro"] - json.loads((second / "metrics.json").read_text())["test_f1_macro"]
    assert result["difference"] == pytest.approx(expected) and result["n"] == metrics["test_n"]
    other = pd.read_csv(second / "predictions.csv")
    other.loc[3, "text"] = "a sentence the first run never saw"
    other.to_csv(second / "predictions.csv", index=False)
    with pytest.raises(DataError, match="test example 4 differs"):
        compare_runs(first, second)


@pytest.fixture
def stars_classifier(tmp_path, tiny_model_dir):
    """A tiny classifier saved with its own five label names (like a 5-star review model)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    stars = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=5, id2label=dict(enumerate(stars)), label2id={s: i for i, s in enumerate(stars)})
    model.save_pretrained(tmp_path / "stars")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "stars")
    return tmp_path / "stars"


def test_baseline_scores_a_ready_classifier_with_its_labels_mapped(stars_classifier, tiny_config, tmp_path):
    from common.baseline import run_baseline
    from common.report import build_report
    from phase1_financial_phrasebank.tables import TABLES

    cfg = tiny_config()
    keys = ["--data_dir", cfg.data_dir, "--output_dir", cfg.output_dir, "--device", "cpu", "--max_length", "32",
            "--progress", "false"]
    mapping = "1 star:negative,2 stars:negative,3 stars:neutral,4 stars:positive,5 stars:positive"
    run_dir = run_baseline("1", str(stars_classifier), mapping, keys)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["baseline"]["label_map"]["2 stars"] == "negative" and metrics["epochs_trained"] == 0
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert set(predictions["prediction"]) <= {"negative", "neutral", "positive"}
    # the data's probability of a label is the sum of the model's mapped labels' probabilities
    assert np.allclose(predictions[["prob_negative", "prob_neutral", "prob_positive"]].sum(axis=1), 1, atol=1e-3)
    text = build_report(tmp_path / "runs", tmp_path / "e.md", specs=TABLES[:1])
    assert "| baseline_stars |" in text
    with pytest.raises(ConfigError, match=r"label\(s\) '4 stars', '5 stars' map onto no label of the data"):
        run_baseline("1", str(stars_classifier), "1 star:negative,2 stars:negative,3 stars:neutral", keys,
                     run_name="unmapped")
    with pytest.raises(ConfigError, match="maps onto 'great', not a label of the data"):
        run_baseline("1", str(stars_classifier), mapping.replace("5 stars:positive", "5 stars:great"), keys,
                     run_name="bad_target")
    assert not (run_dir.parent / "unmapped").exists() and not (run_dir.parent / "bad_target").exists()


def test_mcc_is_scikit_learns_and_bootstraps_for_two_classes():
    from sklearn.metrics import matthews_corrcoef

    from common.uncertainty import bootstrap_intervals, matthews

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300)
    predictions = np.where(rng.random(300) < 0.7, truth, 1 - truth)
    assert float(matthews(truth, predictions)) == pytest.approx(matthews_corrcoef(truth, predictions))
    assert float(matthews(truth, np.ones_like(truth))) == 0.0  # undefined: 0, as scikit-learn says
    intervals = bootstrap_intervals(truth, predictions, 2)
    assert intervals["mcc"][0] < matthews_corrcoef(truth, predictions) < intervals["mcc"][1]
    assert "mcc" not in bootstrap_intervals(truth % 3, predictions % 3, 3)


def test_resampling_days_widens_the_interval_of_rows_that_move_together():
    """64 trading days of 58 stocks, each day's predictions right or wrong together (a market
    move): resampling stock-days treats 3,712 rows as independent; resampling days sees 64."""
    from common.uncertainty import bootstrap_intervals, cluster_bootstrap_intervals

    rng = np.random.default_rng(1)
    days = np.repeat(np.arange(64), 58)
    truth = rng.integers(0, 2, len(days))
    day_right = rng.random(64) < 0.55
    predictions = np.where(day_right[days], truth, 1 - truth)
    rows = bootstrap_intervals(truth, predictions, 2)
    by_day = cluster_bootstrap_intervals(truth, predictions, days, 2)
    width = {name: (iv[1] - iv[0], by_day[name][1] - by_day[name][0]) for name, iv in rows.items()
             if name in ("accuracy", "f1_macro", "mcc")}
    assert all(day_width > 4 * row_width for row_width, day_width in width.values()), width
    assert by_day["clusters"] == 64 and by_day["accuracy"][0] < np.mean(truth == predictions) < by_day["accuracy"][1]


def test_one_row_per_cluster_gives_the_rows_interval():
    from common.uncertainty import bootstrap_intervals, cluster_bootstrap_intervals

    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 2000)
    predictions = np.where(rng.random(2000) < 0.6, truth, rng.integers(0, 3, 2000))
    rows = bootstrap_intervals(truth, predictions, 3)
    singletons = cluster_bootstrap_intervals(truth, predictions, np.arange(2000), 3)
    for name in ("accuracy", "f1_macro"):
        assert singletons[name] == pytest.approx(rows[name], abs=0.01)


def test_clustered_comparison_swaps_and_resamples_whole_clusters():
    from common.uncertainty import compare_clustered

    rng = np.random.default_rng(3)
    days = np.repeat(np.arange(40), 50)
    truth = rng.integers(0, 2, len(days))
    day_a, day_b = rng.random(40) < 0.6, rng.random(40) < 0.5
    pred_a = np.where(day_a[days], truth, 1 - truth)
    pred_b = np.where(day_b[days], truth, 1 - truth)
    by_day = compare_clustered(truth, pred_a, pred_b, days, 2, metric="accuracy", n_resamples=2000)
    by_row = compare_predictions(truth, pred_a, pred_b, 2, metric="accuracy", n_resamples=2000)
    assert by_day["difference"] == pytest.approx(by_row["difference"]) and by_day["clusters"] == 40
    width = lambda r: r["interval"][1] - r["interval"][0]  # noqa: E731
    assert width(by_day) > 3 * width(by_row) and by_day["p_value"] > by_row["p_value"]
    same = compare_clustered(truth, pred_a, pred_a, days, 2, metric="mcc", n_resamples=200)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0
