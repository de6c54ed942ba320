"""Phase 1 experiment suite: regimes, class imbalance, agreement levels, heads, LoRA and
generic data sets, with tiny models on data the tests write."""
import csv
import json
from collections import Counter

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from common.errors import ConfigError, DataError
from phase1_financial_phrasebank.imbalance import inverse_frequency_weights, oversample
from common.text_data import load_text_file
from phase1_financial_phrasebank.data import load_phrasebank, phrasebank_splits
from common.models import load_tokenizer
from phase1_financial_phrasebank.models import build_model
from phase1_financial_phrasebank.regimes import apply_regime
from phase1_financial_phrasebank.train import main

LEVELS = ["50Agree", "66Agree", "75Agree", "AllAgree"]
LABELS = ["negative", "neutral", "positive"]


def n_params(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@pytest.fixture
def tiny_classifier(tiny_config):
    cfg = tiny_config()
    return build_model(cfg, load_tokenizer(cfg.model_name_or_path), LABELS)


def test_regimes_freeze_exactly_what_they_say(tiny_classifier):
    model = tiny_classifier
    head = n_params(model.pre_classifier) + n_params(model.classifier)
    layers = model.distilbert.transformer.layer
    total = n_params(model)

    def trainable(regime, epoch, per_epoch=1):
        apply_regime(model, regime, epoch, head_epochs=1, layers_per_epoch=per_epoch)
        return n_params(model, trainable_only=True)

    assert [trainable("head_only", e) for e in range(3)] == [head] * 3
    assert [trainable("head_then_full", e) for e in range(3)] == [head, total, total]
    assert [trainable("gradual_unfreeze", e) for e in range(4)] == [
        head, head + n_params(layers[1]), head + n_params(layers[0]) + n_params(layers[1]), total]
    assert trainable("full", 0) == total


def test_head_only_run_leaves_the_encoder_untouched(tiny_config, tiny_model_dir):
    run_dir = main(tiny_config(regime="head_only", epochs=2))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    trained = load_file(run_dir / "checkpoints" / "best" / "model.safetensors")
    original = load_file(tiny_model_dir / "model.safetensors")
    for name, tensor in original.items():
        assert torch.equal(trained[f"distilbert.{name}" if not name.startswith("distilbert.") else name], tensor), name
    model = build_model(tiny_config(), load_tokenizer(str(tiny_model_dir)), LABELS)
    assert metrics["trainable_parameters"] == n_params(model.pre_classifier) + n_params(model.classifier)
    assert [row["stage"] for row in map(json.loads, (run_dir / "history.jsonl").read_text().splitlines())] == [
        "head only", "head only"]


def test_class_weights_follow_the_inverse_frequency_formula():
    labels = [0, 0, 0, 1, 2, 2]
    assert inverse_frequency_weights(labels, 3) == pytest.approx([6 / (3 * 3), 6 / (3 * 1), 6 / (3 * 2)])
    assert inverse_frequency_weights([1, 1, 2], 3) == pytest.approx([0.0, 3 / (2 * 2), 3 / (2 * 1)])


def test_weighted_run_records_its_weights(tiny_config, phrasebank_dir):
    run_dir = main(tiny_config(class_weighting="inverse_frequency", epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    train = phrasebank_splits(load_phrasebank(str(phrasebank_dir), 42), "50Agree", LEVELS).train
    counts = Counter(e.label for e in train)
    expected = {LABELS[k]: len(train) / (3 * counts[k]) for k in range(3)}
    assert metrics["class_weights"] == pytest.approx(expected)


def test_oversampling_balances_the_training_split_only(tiny_config):
    examples, labels = list(range(10)), [0] * 6 + [1] * 3 + [2] * 1
    balanced = oversample(examples, labels, seed=0)
    assert Counter(labels[i] for i in balanced) == {0: 6, 1: 6, 2: 6} and set(balanced) == set(examples)
    plain = json.loads((main(tiny_config(run_name="plain", epochs=1)) / "metrics.json").read_text())
    over = json.loads((main(tiny_config(run_name="over", epochs=1, oversample=True)) / "metrics.json").read_text())
    counts = [sum(row) for row in plain["test_confusion_matrix"]]  # test labels are untouched ...
    assert [sum(row) for row in over["test_confusion_matrix"]] == counts
    assert over["val_n"] == plain["val_n"]
    assert over["train_examples"] > plain["train_examples"]  # ... while training grows to balance


@pytest.mark.parametrize("train_level", LEVELS)
def test_agreement_grid_never_evaluates_on_a_trained_sentence(phrasebank_dir, train_level):
    splits = phrasebank_splits(load_phrasebank(str(phrasebank_dir), 42), train_level, LEVELS)
    trained = {e.text for e in splits.train + splits.val}
    for level, examples in splits.extra_tests.items():
        assert examples and not trained & {e.text for e in examples}, level


def test_real_agreement_grid_is_leakage_free(real_data_dir):
    bank = load_phrasebank(str(real_data_dir / "financial_phrasebank"), 42)
    for train_level in LEVELS:
        splits = phrasebank_splits(bank, train_level, LEVELS)
        trained = {e.text for e in splits.train}
        assert all(not trained & {e.text for e in ex} for ex in splits.extra_tests.values())


@pytest.mark.parametrize("head", ["linear", "mean_mlp"])
def test_heads_round_trip_with_identical_logits(head, tiny_config, tmp_path):
    cfg = tiny_config(head=head)
    tokenizer = load_tokenizer(cfg.model_name_or_path)
    model = build_model(cfg, tokenizer, LABELS).eval()
    model.save_pretrained(tmp_path / "saved")
    reloaded = build_model(cfg, tokenizer, LABELS, checkpoint=tmp_path / "saved").eval()
    assert type(reloaded) is type(model)
    batch = tokenizer(["nokia net profit rose 5 percent .", "kone cut 40 jobs ."], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_lora_trains_adapters_and_head_only_and_merges_to_the_same_logits(tiny_config):
    from transformers import AutoModelForSequenceClassification, pipeline

    cfg = tiny_config(lora=True, lora_r=4, merge=True, learning_rate=1e-2, epochs=2)
    tokenizer = load_tokenizer(cfg.model_name_or_path)
    trainable = [name for name, p in build_model(cfg, tokenizer, LABELS).named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name or "modules_to_save" in name for name in trainable)
    assert any("classifier" in name for name in trainable) and any("pre_classifier" in name for name in trainable)

    run_dir = main(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 < metrics["trainable_share"] < 0.5
    adapter = build_model(cfg, tokenizer, LABELS, checkpoint=run_dir / "checkpoints" / "best").eval()
    merged = AutoModelForSequenceClassification.from_pretrained(run_dir / "checkpoints" / "merged").eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    batch = tokenizer(["nokia net profit rose 5 percent .", "kone cut 40 jobs ."], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(adapter(**batch).logits, merged(**batch).logits, rtol=1e-4, atol=1e-5)
    classifier = pipeline("text-classification", model=str(run_dir / "checkpoints" / "merged"), device="cpu")
    assert classifier("kone cut 40 jobs .")[0]["label"] in LABELS
    from huggingface_hub import ModelCard  # the merged export carries the run's model card too

    card = ModelCard.load(run_dir / "checkpoints" / "merged" / "README.md", ignore_metadata_errors=False)
    assert card.data.pipeline_tag == "text-classification" and '"lora": true' in card.text


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def aspect_rows(n=90):
    """FiQA-style headlines with an aspect column and label names taken from the data."""
    words = {"bullish": "soars on record profit", "bearish": "plunges after loss warning", "neutral": "holds meeting"}
    rows = []
    for i in range(n):
        label = list(words)[i % 3]
        rows.append({"headline": f"Nokia {words[label]} {i}", "aspect": ["Stock", "Corporate"][i % 2],
                     "sentiment": label, "split": {8: "validation", 9: "test"}.get(i % 10, "train")})
    return rows


def test_csv_with_text_pair_context_runs_end_to_end(tiny_config, tmp_path):
    path = write_csv(tmp_path / "headlines.csv", aspect_rows())
    run_dir = main(tiny_config(dataset=str(path), text_column="headline", label_column="sentiment",
                               context_columns=["aspect"], context_mode="pair", epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["test_per_class"]) == {"bearish", "bullish", "neutral"}
    assert metrics["data"]["split"] == "by the 'split' column"
    header = (run_dir / "predictions.csv").read_text().splitlines()[0]
    assert header.startswith("text,text_pair,label,prediction")
    # the README's way to serve a pair model: pipeline() with text and text_pair
    from transformers import pipeline

    predictions = pd.read_csv(run_dir / "predictions.csv")
    classify = pipeline("text-classification", model=str(run_dir / "checkpoints" / "best"), device=-1)
    served = [classify({"text": row.text, "text_pair": row.text_pair})["label"] for row in predictions.itertuples()]
    assert served == list(predictions["prediction"])


def test_jsonl_with_integer_labels_and_prepended_context(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"text": f"sentence {i}", "label": i % 3 * 5, "topic": "earnings"}) + "\n"
                            for i in range(60)))
    splits = load_text_file(path, context_columns=["topic"], context_mode="prepend")
    assert splits.label_names == ["0", "5", "10"]
    assert splits.train[0].text.startswith("earnings: sentence") and splits.train[0].pair is None
    assert [len(splits.split(s)) for s in ("train", "val", "test")] == [48, 6, 6]


@pytest.mark.parametrize("content, kwargs, match", [
    ("headline,sentiment\nup,bullish\n", {"text_column": "text", "label_column": "sentiment"},
     r"row 1: no column 'text' \(columns: headline"),
    ("", {}, "holds no rows"),
    ("text,label,split\na,pos,train\nb,neg,train\nc,pos,validation\nd,neu,test\n", {},
     "label\\(s\\) neu occur in the test split but never in the train split"),
    ("text,label,split\na,pos,train\nb,neg,holdout\n", {}, "row 2: unknown split 'holdout'"),
])
def test_generic_data_errors(content, kwargs, match, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_text_file(path, **kwargs)


@pytest.mark.parametrize("overrides, match", [
    (dict(architecture="tiny_transformer", lora=True), "trained from scratch"),
    (dict(lora=True, regime="head_only"), "lora already decides"),
    (dict(merge=True), "merge folds LoRA adapters"),
    (dict(oversample=True, class_weighting="inverse_frequency"), "choose one of oversample"),
    (dict(lora=True, lora_target_modules=["nonexistent"]), "LoRA cannot be applied"),
])
def test_invalid_combinations_are_config_errors(overrides, match, tiny_config):
    with pytest.raises(ConfigError, match=match):
        main(tiny_config(**overrides))
