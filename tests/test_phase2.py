"""Phase 2: the XLM-T layout, language setups, per-language metrics, end-to-end runs."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

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


# --- a small encoder from scratch on a tokenizer trained on the train split -------------------

ARABIC = {0: ["سيء", "فظيع", "أكره"], 1: ["اليوم", "اجتماع", "تقرير"], 2: ["رائع", "أحب", "سعيد"]}
ARABIC_FILLER = ["كانت", "المباراة", "هذه"]


def write_two_scripts(path, seed: int = 0, per_language: int = 150):
    """English and Arabic tweets in one CSV with a language column (80/10/10 split by the loader)."""
    import random

    from phase2_multilingual_sentiment.synthetic import FILLER, WORDS

    rng, rows = random.Random(seed), []
    for language, words, filler in (("english", WORDS["english"], FILLER["english"]),
                                    ("arabic", ARABIC, ARABIC_FILLER)):
        for i in range(per_language):
            label = i % 3
            text = " ".join(rng.sample(filler, 2) + [rng.choice(words[label]), str(rng.randint(0, 99_999)), "!"])
            rows.append({"text": text, "label": ["negative", "neutral", "positive"][label], "lang": language})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_tokenizer_trained_on_the_train_split_reads_every_script(phase2_config, tmp_path):
    """The English-only WordPiece vocabulary reads the Arabic rows as unknown tokens; a
    byte-level BPE trained on the train split has no unknown token, and a TinyTransformer
    trained from scratch on it learns both languages."""
    data = write_two_scripts(tmp_path / "two_scripts.csv")
    common = dict(dataset=str(data), data_dir=None, group_column="lang", languages=[], epochs=8, max_length=24)
    pretrained = json.loads((main(phase2_config(run_name="wordpiece", epochs=1, **{
        k: v for k, v in common.items() if k != "epochs"})) / "metrics.json").read_text())
    unknown = {language: pretrained["data"]["tokens"]["test"]["groups"][language]["unknown_token_rate"]
               for language in ("arabic", "english")}
    # 1 of 7 English tokens is unknown (the number: its WordPiece vocabulary has single digits
    # only); 4 of 7 Arabic ones (the number and every Arabic word).
    assert unknown["english"] < 0.2 < 0.5 < unknown["arabic"], unknown
    run_dir = main(phase2_config(run_name="bpe", architecture="tiny_transformer", train_tokenizer=True,
                                 tokenizer_vocab_size=300, **common))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for language in ("arabic", "english"):
        assert metrics["data"]["tokens"]["test"]["groups"][language]["unknown_token_rate"] == 0.0
        assert metrics[f"test_{language}_f1_macro"] > 0.8
    assert metrics["before_test_f1_macro"] < 0.5
    record = metrics["data"]["tokenizer"]
    assert record["kind"] == "byte-level BPE" and record["trained_on_texts"] == metrics["train_examples"]
    config = json.loads((run_dir / "checkpoints" / "best" / "config.json").read_text())
    assert config["model_type"] == "phase1_small_transformer" and config["vocab_size"] == record["vocab_size"]
    assert "byte-level BPE tokenizer trained on the run's train split" in (
        run_dir / "checkpoints" / "best" / "README.md").read_text()


def test_zero_shot_trains_its_tokenizer_on_english_alone(phase2_config):
    """No target-language text is read, not even by the tokenizer: its vocabulary is the
    English train split's, so the French and German sentiment words are not in it whole."""
    from transformers import AutoTokenizer

    run_dir = main(phase2_config(run_name="zs_bpe", architecture="tiny_transformer", train_tokenizer=True,
                                 tokenizer_vocab_size=2000, train_languages=["english"], epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["tokenizer"]["trained_on_texts"] == SIZES["train"]
    vocabulary = AutoTokenizer.from_pretrained(run_dir / "checkpoints" / "best").get_vocab()
    assert "Ġgreat" in vocabulary and "Ġschrecklich" not in vocabulary and "Ġhorrible" not in vocabulary


@pytest.mark.parametrize("overrides, match", [
    (dict(train_tokenizer=True), "only a model trained from scratch"),
    (dict(train_tokenizer=True, architecture="tiny_transformer", tokenizer_name_or_path="x"),
     "choose one of train_tokenizer and tokenizer_name_or_path"),
])
def test_a_trained_tokenizer_needs_a_model_from_scratch(phase2_config, overrides, match):
    with pytest.raises(ConfigError, match=match):
        main(phase2_config(**overrides))


def test_a_resumed_run_keeps_its_trained_tokenizer(phase2_config, monkeypatch):
    """Killed after epoch 1 and resumed: the checkpoint's tokenizer is read, none is trained anew."""
    from transformers import AutoTokenizer

    import common.fit as fit_module
    import common.scratch as small

    real_save, real_train, trained = fit_module.save_checkpoint, small.train_byte_level_bpe, []

    def save_then_crash(directory, *args, **kwargs):
        real_save(directory, *args, **kwargs)
        if directory.name == "last":
            raise KeyboardInterrupt

    def counted_training(*args, **kwargs):
        trained.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(small, "train_byte_level_bpe", counted_training)
    cfg = dict(run_name="resume_bpe", architecture="tiny_transformer", train_tokenizer=True, tokenizer_vocab_size=300,
               epochs=2)
    monkeypatch.setattr(fit_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        main(phase2_config(**cfg))
    monkeypatch.setattr(fit_module, "save_checkpoint", real_save)
    run_dir = phase2_config(**cfg).output_dir
    first = AutoTokenizer.from_pretrained(next(Path(run_dir).rglob("checkpoints/last"))).get_vocab()
    run_dir = main(phase2_config(resume=True, **cfg))
    assert trained == [1]  # the first start trained it; the resumed run read it
    assert AutoTokenizer.from_pretrained(run_dir / "checkpoints" / "best").get_vocab() == first
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 2


def test_presets_train_the_small_models_on_their_own_tokenizer():
    for name, architecture in (("tiny_bpe", "tiny_transformer"), ("mini_bpe", "mini_transformer")):
        cfg, _ = parse_config(Phase2Config, ["--preset", f"{name},zero_shot"], PRESET_DIR)
        assert cfg.architecture == architecture and cfg.train_tokenizer and cfg.train_languages == ["english"]
