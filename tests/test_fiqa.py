"""FiQA 2018 Task 1 in phase 1: the lenient reader of the challenge's files, the split grouped
by sentence, the classification and score-regression runs, and the span measures; on
files the tests write in the challenge's layout, and on the real files under DATA_DIR."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import DataError
from common.metrics import compute_metrics
from common.records import read_json
from phase1_financial_phrasebank.fiqa.span_metrics import exact_match, span_metrics, token_f1
from common.uncertainty import macro_f1
from phase1_financial_phrasebank.config import Phase1Config
from phase1_financial_phrasebank.fiqa.data import (aspect_at, fiqa_splits, parse_list, read_fiqa,
                                                   sentiment_class)
from phase1_financial_phrasebank.synthetic import synthetic_fiqa, write_fiqa
from phase1_financial_phrasebank.train import main


@pytest.fixture(scope="module")
def fiqa_dir(tmp_path_factory) -> Path:
    return write_fiqa(tmp_path_factory.mktemp("fiqa"), synthetic_fiqa())


@pytest.fixture(scope="module")
def real_fiqa(real_data_dir) -> Path:
    return real_data_dir / "fiqa_2018"


def split_sentences(splits) -> dict[str, set[str]]:
    return {name: {e.split_group for e in splits.split(name)} for name in ("train", "val", "test")}


@pytest.mark.parametrize("text, expected", [
    ("['Corporate/Appointment']", ["Corporate/Appointment"]),
    ("['hires Aviva's David Hillier for multi-asset team']", ["hires Aviva's David Hillier for multi-asset team"]),
    ("['Market/Volatility]", ["Market/Volatility"]),
    ("['tumbles as profit falls in 'challenging year'']", ["tumbles as profit falls in 'challenging year'"]),
    ("['first part', 'second part']", ["first part", "second part"]),
    ("[]", []),
])
def test_list_fields_are_read_leniently(text, expected):
    assert parse_list(text) == expected


def test_aspect_levels_and_the_neutral_band():
    path = "Stock/Price Action/Bullish/Bull Position"
    assert [aspect_at(path, level) for level in ("1", "2", "full")] == ["Stock", "Stock/Price Action", path]
    assert [sentiment_class(s, -0.1, 0.1) for s in (-0.5, -0.1, 0.0, 0.1, 0.11)] == [
        "negative", "neutral", "neutral", "neutral", "positive"]


def test_the_real_files_are_read_whole(real_fiqa):
    """Counts of the data README: 436 + 675 sentences, 1173 entries, 131 aspect paths, 28 at
    two levels, four at level 1; 57 headlines with several targets; scores 399 < 0, 14 = 0, 760 > 0."""
    entries, info = read_fiqa(real_fiqa)
    assert info["entries"] == len(entries) == 1173 and info["sentences"] == 1111
    assert info["files"]["task1_headline_ABSA_train.json"] == {"sentences": 436, "entries": 498}
    assert info["files"]["task1_post_ABSA_train.json"] == {"sentences": 675, "entries": 675}
    assert len({e.aspect for e in entries}) == 131 == info["aspect_paths"]["as_written"]
    assert info["aspect_paths"]["distinct"] == 130
    assert len({aspect_at(e.aspect, "2") for e in entries}) == 28
    assert {aspect_at(e.aspect, "1") for e in entries} == {"Corporate", "Stock", "Market", "Economy"}
    per_sentence = Counter(e.id for e in entries if e.source == "headline")
    assert sum(count > 1 for count in per_sentence.values()) == 57
    scores = np.array([e.score for e in entries])
    assert ((scores < 0).sum(), (scores == 0).sum(), (scores > 0).sum()) == (399, 14, 760)
    assert info["lenient_fields"] == 57  # 54 headline snippets, 3 post aspects
    hires = next(e for e in entries if e.id == "headline:22")
    assert hires.snippets == ("hires Aviva's David Hillier for multi-asset team",)


def test_no_sentence_is_in_two_splits_and_every_task_shares_the_split(real_fiqa):
    sentiment = fiqa_splits(str(real_fiqa), "sentiment", [], "1", -0.1, 0.1, split_seed=42)
    aspects = fiqa_splits(str(real_fiqa), "aspect", ["target"], "full", -0.1, 0.1, split_seed=42)
    groups = split_sentences(sentiment)
    assert not (groups["train"] & groups["val"] or groups["train"] & groups["test"] or groups["val"] & groups["test"])
    assert sum(len(g) for g in groups.values()) == 1111
    assert split_sentences(aspects) == groups  # same test sentences for every task and label level
    assert sum(sentiment.info["sizes"].values()) == 1173
    texts = {name: {e.text for e in sentiment.split(name)} for name in ("train", "test")}
    assert not texts["train"] & texts["test"]
    assert split_sentences(fiqa_splits(str(real_fiqa), "sentiment", [], "1", -0.1, 0.1, split_seed=7)) != groups
    unseen = aspects.info["unseen_labels"]["test"]
    assert unseen["examples"] > 0  # rare paths: some occur in test alone
    # 131 path strings, of which "Corporate/M&A/" (with a trailing slash) is "Corporate/M&A"
    assert len(aspects.label_names) == 130 and "Corporate/M&A" in aspects.label_names


def test_a_headline_with_two_targets_stays_in_one_split(fiqa_dir):
    splits = fiqa_splits(str(fiqa_dir), "sentiment", ["target"], "1", -0.1, 0.1, split_seed=42)
    where = {}
    for name in ("train", "val", "test"):
        for example in splits.split(name):
            where.setdefault(example.split_group, set()).add(name)
    assert all(len(names) == 1 for names in where.values())
    doubles = [group for group, count in Counter(e.split_group for e in splits.train + splits.val + splits.test).items()
               if count == 2]
    assert doubles  # the synthetic files have sentences with two targets, and each kept both in one split
    pairs = {e.pair for e in splits.train}
    assert pairs <= {"Nokia", "Elcoteq", "Fiskars", "Kone", "Outokumpu", "Stora", "Wartsila", "Orion", "Sampo", "Neste"}


@pytest.mark.parametrize("change, message", [
    (lambda v: v["info"][0].update(sentiment_score="strong"), "id 1001, entry 1: sentiment_score 'strong' is not"),
    (lambda v: v["info"][0].update(target=""), "id 1001, entry 1: no target"),
    (lambda v: v["info"][0].update(sentiment_score="1.7"), "id 1001, entry 1: sentiment_score 1.7 is outside"),
    (lambda v: v["info"][0].update(aspects="[]"), "id 1001, entry 1: no aspect"),
    (lambda v: v.update(sentence=" "), "id 1001: no sentence"),
])
def test_an_unreadable_entry_names_the_file_and_the_id(tmp_path, change, message):
    files = synthetic_fiqa(n=40)
    change(files["task1_headline_ABSA_train.json"]["1001"])
    write_fiqa(tmp_path, files)
    with pytest.raises(DataError, match=f"task1_headline_ABSA_train.json, {message}"):
        read_fiqa(tmp_path)


def test_missing_files_and_no_data_dir_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="lacks task1_headline_ABSA_train.json, task1_post_ABSA_train.json"):
        read_fiqa(tmp_path)
    with pytest.raises(DataError, match="needs --data_dir with the challenge's files"):
        fiqa_splits(None, "sentiment", [], "1", -0.1, 0.1, 42)
    with pytest.raises(DataError, match="cannot take the aspect as its context"):
        fiqa_splits(str(tmp_path), "aspect", ["aspect"], "1", -0.1, 0.1, 42)


def fiqa_config(tmp_path, fiqa_dir, tiny_model_dir, **overrides) -> Phase1Config:
    values = dict(model_name_or_path=str(tiny_model_dir), data_dir=str(fiqa_dir), dataset="fiqa_2018",
                  output_dir=str(tmp_path / "runs"), device="cpu", epochs=2, batch_size=16, max_length=32,
                  learning_rate=1e-3, progress=False, report_to=["none"])
    values.update(overrides)
    return Phase1Config(**values)


def test_sentiment_with_aspect_context_and_aspect_classification_runs(tmp_path, fiqa_dir, tiny_model_dir):
    run = main(fiqa_config(tmp_path, fiqa_dir, tiny_model_dir, run_name="sentiment", fiqa_task="sentiment",
                           context_columns=["aspect"], context_mode="pair"))
    metrics = read_json(run / "metrics.json")
    assert metrics["labels"] == ["negative", "neutral", "positive"]
    assert metrics["data"]["task"] == "sentiment" and metrics["data"]["context"] == ["aspect"]
    assert metrics["test_f1_micro"] == pytest.approx(metrics["test_accuracy"])
    assert "before_test_f1_macro" in metrics and sum(metrics["data"]["sizes"].values()) == 212
    assert "text_pair" in pd.read_csv(run / "predictions.csv").columns
    run = main(fiqa_config(tmp_path, fiqa_dir, tiny_model_dir, run_name="aspects", fiqa_task="aspect",
                           fiqa_aspect_level="full"))
    metrics = read_json(run / "metrics.json")
    assert len(metrics["labels"]) == 6 and "unseen_labels" in metrics["data"]


def test_the_score_regression_reports_mse_and_r2(tmp_path, fiqa_dir, tiny_model_dir):
    run = main(fiqa_config(tmp_path, fiqa_dir, tiny_model_dir, run_name="score", fiqa_task="sentiment_score",
                           epochs=3))
    metrics = read_json(run / "metrics.json")
    gold = pd.read_csv(run / "predictions.csv")
    assert list(gold.columns[-3:]) == ["score", "prediction", "error"] and len(gold) == metrics["test_n"]
    mse = float(np.mean((gold["prediction"] - gold["score"]) ** 2))
    assert metrics["test_mse"] == pytest.approx(mse, abs=1e-3)  # predictions.csv rounds to 4 places
    assert metrics["test_r2_ci"][0] <= metrics["test_r2"] <= metrics["test_r2_ci"][1]
    assert {"before_test_mse", "before_test_r2", "val_r2"} <= set(metrics)
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert {"val_mse", "val_r2"} <= set(history[0]) and "val_f1_macro" not in history[0]
    assert (run / "predicted_scores.png").exists()


def test_a_constant_regression_is_a_warning():
    from common.diagnostics import diagnose

    metrics = {"test_prediction_std": 0.001, "test_gold_std": 0.4}
    assert any("predicts (nearly) a constant" in w for w in diagnose(metrics, ["sentiment_score"]))


def test_macro_f1_averages_over_the_classes_that_occur():
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]  # classes 2..9 neither occur nor are predicted
    metrics = compute_metrics(y_true, y_pred, [f"c{i}" for i in range(10)])
    both = (2 / 3 + 0.8) / 2  # F1 of class 0 (p 1, r 0.5) and class 1 (p 2/3, r 1)
    assert metrics["f1_macro"] == pytest.approx(both)
    assert float(macro_f1(10)(np.array(y_true), np.array(y_pred))) == pytest.approx(both)
    assert metrics["f1_micro"] == pytest.approx(0.75) == metrics["accuracy"]


def test_span_measures_equal_hand_computed_values():
    assert exact_match("  Royal  MAIL ", "royal mail") == 1.0
    assert exact_match("Royal Mail plc", "Royal Mail") == 0.0
    assert token_f1("Royal Mail plc", "Royal Mail") == pytest.approx(0.8)  # p 2/3, r 1
    assert token_f1("Aviva", "Royal Mail") == 0.0 and token_f1("", "") == 1.0
    scores = span_metrics(["Royal Mail plc", "AAPL", ""], ["Royal Mail", "$AAPL", "Shire"],
                          ["Royal Mail plc to cut jobs", "Long $AAPL", "Shire up"])
    assert scores["exact_match"] == pytest.approx(0.0)
    assert scores["token_f1"] == pytest.approx(0.8 / 3)
    assert scores["in_sentence"] == pytest.approx(2 / 3) and scores["empty"] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A tiny BERT (it can be a decoder, unlike DistilBERT) with the synthetic data's words.
    Without dropout: with it, a warm start this small often stays on the plateau where the
    decoder writes the commonest company whatever the sentence (at 600 sentences every seed
    tried leaves it without dropout; with dropout 0.1, or at 200 sentences, some stay on it)."""
    from common.random_encoders import write_tiny_bert
    from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, vocabulary

    words = vocabulary(synthetic_phrasebank()) | set("which company or asset is this text about ? aspect : was not "
                                                     "mentioned".split())
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), words, architecture="bert", dropout=0.0)


@pytest.fixture(scope="module")
def copy_fiqa_dir(tmp_path_factory) -> Path:
    """600 synthetic sentences, ten companies: enough for the tiny model to learn to copy."""
    return write_fiqa(tmp_path_factory.mktemp("fiqa_copy"), synthetic_fiqa(600))


def target_config(tmp_path, fiqa_dir, model_dir, **overrides):
    from phase1_financial_phrasebank.fiqa.target_config import TargetConfig

    values = dict(model_name_or_path=str(model_dir), data_dir=str(fiqa_dir), output_dir=str(tmp_path / "runs"),
                  device="cpu", epochs=6, batch_size=16, max_length=48, learning_rate=1e-2, progress=False,
                  report_to=["none"])
    values.update(overrides)
    return TargetConfig(**values)


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory, copy_fiqa_dir, tiny_bert_dir) -> Path:
    """A LoRA run of an encoder-decoder warm-started from the tiny BERT, merged at the end."""
    from phase1_financial_phrasebank.fiqa.train_targets import main as train_targets

    tmp_path = tmp_path_factory.mktemp("copy")
    return train_targets(target_config(tmp_path, copy_fiqa_dir, tiny_bert_dir, run_name="copy", encoder_decoder=True,
                                       lora=True, merge=True, epochs=8))


def test_a_tiny_seq2seq_lora_run_learns_to_copy_the_target(copy_run):
    """Before training the model writes no target right; after 8 epochs it copies the company
    from the sentence for half the test entries or more (0.52-0.89 over six seeds tried), far
    above the best guess that ignores the sentence (always the commonest training target,
    here 0.08)."""
    metrics = read_json(copy_run / "metrics.json")
    frame = pd.read_csv(copy_run / "predictions.csv", keep_default_na=False)
    config = json.loads((copy_run / "config.json").read_text())["config"]
    from phase1_financial_phrasebank.fiqa.data import target_splits

    train_targets = Counter(e.target for e in target_splits(config["data_dir"], [], "1", 42).split("train"))
    chance = float((frame["target"] == train_targets.most_common(1)[0][0]).mean())
    assert metrics["before_test_exact_match"] == 0.0
    assert metrics["test_exact_match"] >= max(0.4, 4 * chance), (metrics["test_exact_match"], chance)
    assert metrics["val_exact_match"] >= 0.4
    assert metrics["test_in_sentence"] >= metrics["test_exact_match"]
    assert metrics["test_token_f1"] >= metrics["test_exact_match"]
    assert 0 < metrics["trainable_share"] < 0.5  # adapters, and the warm start's new cross-attention and LM head
    low, high = metrics["test_exact_match_ci"]
    assert low <= metrics["test_exact_match"] <= high
    assert list(frame.columns) == ["text", "target", "predicted_target", "exact_match", "token_f1", "in_sentence"]
    assert frame["exact_match"].mean() == pytest.approx(metrics["test_exact_match"])
    assert "pipeline_tag: text2text-generation" in (copy_run / "checkpoints" / "best" / "README.md").read_text()


def test_the_merged_seq2seq_export_loads_alone_and_writes_the_same_targets(copy_run):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    merged = copy_run / "checkpoints" / "merged"
    model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(merged), AutoTokenizer.from_pretrained(merged)
    frame = pd.read_csv(copy_run / "predictions.csv", keep_default_na=False).head(8)
    config = json.loads((copy_run / "config.json").read_text())["config"]
    inputs = tokenizer([config["prompt"] + f"Text: {text}" for text in frame["text"]], padding=True,
                       return_tensors="pt")
    written = tokenizer.batch_decode(model.generate(**inputs, max_new_tokens=16, num_beams=1, do_sample=False),
                                     skip_special_tokens=True)
    assert [w.strip() for w in written] == list(frame["predicted_target"])


def test_greedy_decoding_repeats_the_run_and_beam_search_decodes_too(copy_run, copy_fiqa_dir, tiny_bert_dir,
                                                                      tmp_path):
    import torch

    from phase1_financial_phrasebank.fiqa.data import target_splits
    from phase1_financial_phrasebank.fiqa.target_evaluation import TargetEvaluator
    from phase1_financial_phrasebank.fiqa.target_models import build_target_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    greedy = pd.read_csv(copy_run / "predictions.csv", keep_default_na=False)
    for beams in (1, 3):
        cfg = target_config(tmp_path, copy_fiqa_dir, tiny_bert_dir, encoder_decoder=True, lora=True, num_beams=beams)
        model = build_target_model(cfg, tokenizer, checkpoint=copy_run / "checkpoints" / "best")
        evaluator = TargetEvaluator(target_splits(str(copy_fiqa_dir), [], "1", 42), tokenizer, cfg, torch.device("cpu"),
                                    None, model)
        metrics, predicted = evaluator.run(model, "test")
        assert metrics["n"] == len(predicted) == len(greedy) and all(isinstance(p, str) for p in predicted)
        if beams == 1:  # the reloaded best checkpoint writes what the run wrote
            assert predicted == list(greedy["predicted_target"])


def test_the_span_tagger_labels_and_cuts_spans_from_the_sentence(tmp_path, fiqa_dir, tiny_model_dir):
    from transformers import AutoTokenizer

    from phase1_financial_phrasebank.fiqa.data import TargetExample
    from phase1_financial_phrasebank.fiqa.target_evaluation import IGNORE, decode_span, encode_spans
    from phase1_financial_phrasebank.fiqa.train_targets import main as train_targets

    cfg = target_config(tmp_path, fiqa_dir, tiny_model_dir, extractor="span_tagger", lora=False, epochs=3,
                        learning_rate=3e-3, run_name="tagger")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    example = TargetExample("kone net profit rose 5 percent .", "net profit")
    dataset = encode_spans(cfg, tokenizer, [example])
    tags = [label for label in dataset.labels[0] if label != IGNORE]
    assert tags == [0, 1, 2, 0, 0, 0, 0]  # O B I O O O O: [CLS]/[SEP] are not scored
    probs = np.eye(3)[[0, 0, 1, 2, 0, 0, 0, 0, 0]]  # over [CLS] kone net profit rose 5 percent . [SEP]
    assert decode_span(probs, dataset.offsets[0], example.text) == "net profit"
    metrics = read_json(train_targets(cfg) / "metrics.json")
    assert metrics["extractor"] == "span_tagger" and "before_test_token_f1" in metrics
    assert metrics["test_in_sentence"] == pytest.approx(1 - metrics["test_empty"])  # it can only cut the sentence


TARGET_PRESETS = Path(__file__).parent.parent / "phase1_financial_phrasebank" / "fiqa" / "presets_targets"


@pytest.mark.parametrize("preset", sorted(p.stem for p in TARGET_PRESETS.glob("*.json")))
def test_every_target_preset_parses(preset):
    from common.config import parse_config
    from phase1_financial_phrasebank.fiqa.target_config import PRESET_DIR, TargetConfig

    cfg, _ = parse_config(TargetConfig, ["--preset", preset], PRESET_DIR)  # its combinations checked when built
    assert cfg.run_name == f"{preset}_seed42" and cfg.dataset == "fiqa_2018"
