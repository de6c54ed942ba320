"""Phase 2: the XLM-T layout, language setups, per-language metrics, end-to-end runs."""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from common.config import parse_config
from common.errors import ConfigError, DataError
from phase2_multilingual_sentiment.config import PRESET_DIR, TWEET_LANGUAGES, Phase2Config
from phase2_multilingual_sentiment.data import load_splits, load_tweet_files
from phase2_multilingual_sentiment.train import main
from phase2_multilingual_sentiment.synthetic import SIZES, WORDS

LANGS = list(WORDS)


def test_reads_the_original_layout(tweets_dir):
    parts = load_tweet_files(tweets_dir, LANGS)
    for split, size in SIZES.items():
        assert Counter(e.group for e in parts[split]) == {lang: size for lang in LANGS}
    first = (tweets_dir / "french" / "train_text.txt").read_text(encoding="utf-8").split("\n")[0]
    labels = (tweets_dir / "french" / "train_labels.txt").read_text().split("\n")
    french = [e for e in parts["train"] if e.group == "french"]
    assert french[0].text == first and [e.label for e in french] == [int(y) for y in labels]


def test_language_subset_and_zero_shot_setup(tweets_dir):
    base = dict(data_dir=str(tweets_dir), languages=["english", "german"])
    subset = load_splits(Phase2Config(**base))
    for split in ("train", "val", "test"):
        assert {e.group for e in subset.split(split)} == {"english", "german"}
    zero_shot = load_splits(Phase2Config(data_dir=str(tweets_dir), languages=LANGS, train_languages=["english"]))
    assert {e.group for e in zero_shot.train} == {e.group for e in zero_shot.val} == {"english"}
    assert len(zero_shot.train) == SIZES["train"]
    assert Counter(e.group for e in zero_shot.test) == {lang: SIZES["test"] for lang in LANGS}
    assert zero_shot.info["sizes"]["test"] == {lang: SIZES["test"] for lang in LANGS}


def replace_line(path, index, text):
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[index] = text
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("mutate, error, match", [
    (lambda d: replace_line(d / "english" / "val_labels.txt", 2, "3"), DataError, "line 3: unknown label '3'"),
    (lambda d: (d / "english" / "val_labels.txt").write_text("0\n1\n"), DataError, "has 15 lines but .* has 2"),
    (lambda d: (d / "english" / "test_text.txt").unlink(), DataError, "test_text.txt does not exist"),
    (lambda d: replace_line(d / "english" / "train_text.txt", 1, "  "), DataError, "line 2: empty text"),
])
def test_bad_files_are_clear_errors(tmp_path, mutate, error, match):
    from phase2_multilingual_sentiment.synthetic import write_tweets

    directory = write_tweets(tmp_path / "tweets")
    mutate(directory)
    with pytest.raises(error, match=match):
        load_splits(Phase2Config(data_dir=str(directory), languages=["english"]))


def test_unknown_language_is_a_clear_error(tweets_dir):
    with pytest.raises(ConfigError, match="unknown language.*'klingon'.*arabic, english"):
        load_splits(Phase2Config(data_dir=str(tweets_dir), languages=["klingon"]))
    with pytest.raises(DataError, match="no folder for language 'spanish' \\(found: english, french, german\\)"):
        load_splits(Phase2Config(data_dir=str(tweets_dir), languages=["spanish"]))


def test_any_csv_with_a_language_column(tmp_path):
    rows = [{"text": f"t{i}", "label": ["bad", "good"][i % 2], "lang": ["de", "fr"][i // 4 % 2],
             "split": ["train", "train", "validation", "test"][i // 8 % 4]} for i in range(64)]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    cfg = Phase2Config(data_dir=str(tmp_path), dataset="reviews.csv", group_column="lang", train_languages=["de"])
    splits = load_splits(cfg)
    assert splits.label_names == ["bad", "good"]
    assert {e.group for e in splits.train} == {"de"} and {e.group for e in splits.test} == {"de", "fr"}
    with pytest.raises(ConfigError, match="set group_column"):
        load_splits(Phase2Config(data_dir=str(tmp_path), dataset="reviews.csv"))


def test_presets_compose(tmp_path):
    cfg, provenance = parse_config(Phase2Config, ["--preset", "mbert,zero_shot"], PRESET_DIR)
    assert cfg.model_name_or_path == "google-bert/bert-base-multilingual-cased" and cfg.train_languages == ["english"]
    assert cfg.run_name == "mbert+zero_shot_seed42"
    with pytest.raises(ConfigError, match="unknown preset 'mbrt'"):
        parse_config(Phase2Config, ["--preset", "mbrt,zero_shot"], PRESET_DIR)


def test_zero_shot_run_reports_every_language(phase2_config):
    run_dir = main(phase2_config(train_languages=["english"], epochs=3))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["groups"]["val"]) == {"english"}
    assert set(metrics["groups"]["test"]) == set(LANGS)
    assert metrics["data"]["train_languages"] == ["english"] and metrics["train_examples"] == SIZES["train"]
    # per-language metrics equal scikit-learn's on that language's rows of predictions.csv
    predictions = pd.read_csv(run_dir / "predictions.csv")
    for lang, rows in predictions.groupby("group"):
        assert metrics[f"test_{lang}_f1_macro"] == pytest.approx(
            f1_score(rows["label"], rows["prediction"], average="macro", labels=["negative", "neutral", "positive"],
                     zero_division=0))
        assert metrics[f"test_{lang}_accuracy"] == pytest.approx(accuracy_score(rows["label"], rows["prediction"]))
        assert metrics["groups"]["test"][lang]["n"] == len(rows) == SIZES["test"]
    assert metrics["test_f1_macro_group_mean"] == pytest.approx(
        sum(metrics[f"test_{lang}_f1_macro"] for lang in LANGS) / len(LANGS))
    assert (run_dir / "group_scores.png").stat().st_size > 0


def test_multilingual_run_learns(phase2_config):
    metrics = json.loads((main(phase2_config(epochs=8, learning_rate=3e-3)) / "metrics.json").read_text())
    assert metrics["before_test_f1_macro"] < 0.4  # an untrained head; chance is about 0.33
    assert metrics["test_f1_macro"] > 0.8  # each language's sentiment words are in the vocabulary


def test_trial_config_never_scores_the_test_split(phase2_config):
    run_dir = main(phase2_config(evaluate_test=False, epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "val_f1_macro" in metrics and not [k for k in metrics if k.startswith(("test_", "before_test"))]
    assert not (run_dir / "predictions.csv").exists()


# --- the real XLM-T data, through DATA_DIR ---------------------------------------------------

def test_real_tweet_counts(real_data_dir):
    parts = load_tweet_files(real_data_dir / "tweet_sentiment_multilingual", TWEET_LANGUAGES)
    for split, size in {"train": 1839, "val": 324, "test": 870}.items():
        assert Counter(e.group for e in parts[split]) == {lang: size for lang in TWEET_LANGUAGES}
        assert {e.label for e in parts[split]} == {0, 1, 2}


def test_mean_pooling_head_in_phase2_round_trips(phase2_config):
    """Phase 1's mean-pooling head in another text phase: trained, saved, and served by pipeline()."""
    from transformers import pipeline

    run_dir = main(phase2_config(head="mean_mlp", head_hidden_size=16, epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "checkpoints" / "best" / "config.json").read_text())
    assert config["model_type"] == "mean_pooling_classifier" and metrics["head"] == "new head"
    predictions = pd.read_csv(run_dir / "predictions.csv")
    classify = pipeline("text-classification", model=str(run_dir / "checkpoints" / "best"), device=-1)
    served = [row["label"] for row in classify(list(predictions["text"][:8]))]
    assert served == list(predictions["prediction"][:8])
