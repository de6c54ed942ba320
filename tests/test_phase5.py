"""Phase 5: the synthetic chart generator, manifest validation, the fusion heads, a smoke
run with a tiny DistilBERT and a ResNet-18 at 32 px, and prediction from the saved model."""
from __future__ import annotations

import shutil
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from common.errors import ConfigError, DataError
from phase5_multimodal_financial_sentiment.config import Phase5Config
from phase5_multimodal_financial_sentiment.data import load_splits
from phase5_multimodal_financial_sentiment.make_synthetic import CLEAR, COMPANIES, make_dataset, vocabulary
from phase5_multimodal_financial_sentiment.models import MultimodalClassifier, MultimodalConfig, load_image_weights
from common.random_encoders import write_tiny_bert

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def charts(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("charts"), n=60, seed=0, size=48).parent


@pytest.fixture(scope="module")
def tiny_text_encoder(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), vocabulary())


def config(charts: Path, encoder: Path, tmp_path: Path, **overrides) -> Phase5Config:
    values = dict(model_name_or_path=str(encoder), data_dir=str(charts), output_dir=str(tmp_path / "runs"),
                  run_name="tiny", device="cpu", epochs=2, batch_size=16, eval_batch_size=32, image_model="resnet18",
                  image_weights="none", image_size=32, max_length=24, learning_rate=1e-3, progress=False)
    values.update(overrides)
    return Phase5Config(**values)


def test_generator_is_deterministic_balanced_and_mixes_informative_modalities(tmp_path, charts):
    again = make_dataset(tmp_path / "again", n=60, seed=0, size=48)
    other = make_dataset(tmp_path / "other", n=60, seed=1, size=48)
    first = pd.read_csv(charts / "manifest.csv")
    assert first.equals(pd.read_csv(again))
    assert not first.equals(pd.read_csv(other))
    for image in first["image"][:5]:
        assert np.array_equal(np.asarray(Image.open(charts / image)), np.asarray(Image.open(again.parent / image)))
    assert Counter(first["label"]) == {"negative": 20, "neutral": 20, "positive": 20}
    assert Counter(first["split"]) == {"train": 48, "validation": 6, "test": 6}
    informative = first["informative"]
    assert set(informative) == {"text", "image", "both"}
    shows_label = first["chart_trend"] == first["label"]
    assert shows_label[informative != "text"].all()  # the chart carries the label where it is meant to
    clear = {t.format(c=c) for templates in CLEAR.values() for t in templates for c in COMPANIES}
    assert first["text"][informative != "image"].isin(clear).all()
    assert not first["text"][informative == "image"].isin(clear).any()


def write_manifest(directory: Path, rows: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(directory / "manifest.csv", index=False)
    return directory


@pytest.mark.parametrize("problem, message", [
    ("missing", r"row 2: image file .*nowhere.png does not exist"),
    ("unreadable", r"row 2: image .*broken.png cannot be read"),
    ("escaping", r"row 2: image path '../outside.png' leaves the manifest's folder"),
    ("label", r"row 2: unknown label 'bullish' \(known: negative, neutral, positive\)"),
    ("empty_split", r"the test split is empty"),
    ("split_name", r"row 2: unknown split 'holdout'"),
])
def test_manifest_errors_name_the_row(tmp_path, charts, problem, message):
    directory = tmp_path / "data"
    (directory / "images").mkdir(parents=True)
    shutil.copyfile(charts / "images" / "000000.png", directory / "images" / "ok.png")
    (directory / "images" / "broken.png").write_bytes(b"not a png at all")
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    rows = [{"text": f"row {i}", "image": "images/ok.png", "label": LABELS[i // 3],
             "split": ["train", "validation", "test"][i % 3]} for i in range(9)]
    bad = {"missing": {"image": "images/nowhere.png"}, "unreadable": {"image": "images/broken.png"},
           "escaping": {"image": "../outside.png"}, "label": {"label": "bullish"}, "split_name": {"split": "holdout"},
           "empty_split": {}}[problem]
    rows[1].update(bad)
    if problem == "empty_split":
        for row in rows:
            row["split"] = "train" if row["split"] == "test" else row["split"]
    write_manifest(directory, rows)
    with pytest.raises(DataError, match=message):
        load_splits(Phase5Config(data_dir=str(directory)))


def tiny_model(encoder: Path, modality: str = "fusion", fusion: str = "concat", **flags) -> MultimodalClassifier:
    from transformers import AutoModel

    from phase5_multimodal_financial_sentiment.models import ImageEncoder

    text = AutoModel.from_pretrained(encoder) if modality != "image" else None
    cfg = MultimodalConfig(text_config=text.config.to_dict() if text else None, image_model="resnet18",
                           modality=modality, fusion=fusion, fusion_hidden_size=16, num_labels=3, **flags)
    return MultimodalClassifier(cfg, text, ImageEncoder("resnet18") if modality != "text" else None)


def tiny_batch(batch: int = 4) -> dict:
    ids = torch.randint(5, 40, (batch, 9))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": torch.randn(batch, 3, 32, 32)}


def grads_of(module) -> list:
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize("fusion", ["concat", "gated", "attention"])
def test_fusion_heads_shape_and_gradients_reach_both_encoders(tiny_text_encoder, fusion):
    model = tiny_model(tiny_text_encoder, fusion=fusion)
    logits = model(**tiny_batch()).logits
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert all(g is not None and g.abs().sum() > 0 for g in grads_of(model.text_encoder.transformer))
    assert any(g is not None and g.abs().sum() > 0 for g in grads_of(model.image_encoder))
    assert all(g is not None for g in grads_of(model.image_encoder))


@pytest.mark.parametrize("frozen", ["freeze_text", "freeze_image"])
def test_a_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode(tiny_text_encoder, frozen):
    model = tiny_model(tiny_text_encoder, fusion="gated", **{frozen: True}).train()
    model(**tiny_batch()).logits.sum().backward()
    frozen_encoder, trained = ((model.text_encoder, model.image_encoder) if frozen == "freeze_text"
                               else (model.image_encoder, model.text_encoder))
    assert all(g is None for g in grads_of(frozen_encoder)) and not frozen_encoder.training
    assert any(g is not None for g in grads_of(trained)) and trained.training
    assert all(g is not None for g in grads_of(model.head))


@pytest.mark.parametrize("modality", ["text", "image"])
def test_single_modality_models_leave_the_other_encoder_out(tiny_text_encoder, modality):
    model = tiny_model(tiny_text_encoder, modality=modality)
    assert (model.text_encoder is None) == (modality == "image")
    assert (model.image_encoder is None) == (modality == "text")
    batch = tiny_batch()
    batch.pop("pixel_values" if modality == "text" else "input_ids")
    if modality == "image":
        batch.pop("attention_mask")
    assert model(**batch).logits.shape == (4, 3)


def test_imagenet_weights_required_but_unavailable_is_a_clear_error(monkeypatch):
    from torchvision.models import ResNet18_Weights

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    with pytest.raises(ConfigError, match="could not load ImageNet weights .* --image_weights none"):
        load_image_weights("resnet18", "imagenet")
    assert load_image_weights("resnet18", "auto") is None  # auto: random init, said aloud


@pytest.fixture(scope="module")
def fused_run(charts, tiny_text_encoder, tmp_path_factory) -> Path:
    from phase5_multimodal_financial_sentiment.train import main

    return main(config(charts, tiny_text_encoder, tmp_path_factory.mktemp("fused"), fusion="attention",
                       group_column="informative"))


def test_smoke_run_writes_its_run_directory(fused_run):
    import json

    metrics = json.loads((fused_run / "metrics.json").read_text())
    for key in ("test_accuracy", "test_f1_macro", "test_recall_neutral", "val_f1_macro", "train_seconds"):
        assert key in metrics
    assert set(metrics["groups"]["test"]) <= {"text", "image", "both"}
    assert metrics["image_weights"] == "none" and metrics["data"]["sizes"] == {"train": 48, "val": 6, "test": 6}
    for name in ("predictions.csv", "misclassified.csv", "confusion_matrix.png", "learning_curves.png",
                 "history.jsonl", "checkpoints/best/config.json", "checkpoints/best/model.safetensors"):
        assert (fused_run / name).exists(), name
    predictions = pd.read_csv(fused_run / "predictions.csv")
    assert len(predictions) == 6 and predictions["image"].str.endswith(".png").all()


def test_predict_reloads_the_model_and_reproduces_test_predictions(fused_run, charts, tmp_path):
    from tests.phase5_helpers import predict_test_split

    predicted = predict_test_split(fused_run / "checkpoints" / "best", charts / "manifest.csv",
                                   tmp_path / "predicted.csv")
    saved = pd.read_csv(fused_run / "predictions.csv")
    assert predicted["prediction"].tolist() == saved["prediction"].tolist()
    for column in [c for c in saved.columns if c.startswith("prob_")]:
        assert np.allclose(predicted[column], saved[column], atol=2e-4), column


def test_cached_images_are_the_images_decoded_per_item(charts):
    from phase5_multimodal_financial_sentiment.data import ManifestDataset, ImageTransform, read_manifest

    examples, _ = read_manifest(charts / "manifest.csv", LABELS)
    transform = ImageTransform(40)
    cached = ManifestDataset(examples[:12], transform=transform, cache_images=True, progress=False)
    decoded = ManifestDataset(examples[:12], transform=transform, cache_images=False)
    assert cached.images is not None and cached.images.dtype == torch.uint8 and decoded.images is None
    for index in range(12):
        assert torch.equal(cached[index]["pixel_values"], decoded[index]["pixel_values"])
        assert cached[index]["pixel_values"].shape == (3, 40, 40)


def test_an_image_cache_larger_than_half_the_free_memory_is_an_error():
    from phase5_multimodal_financial_sentiment.data import check_cache_fits

    assert check_cache_fits(10, 32, available=10 * 3 * 32 * 32 * 2) == 10 * 3 * 32 * 32
    assert check_cache_fits(10, 32, available=None) == 10 * 3 * 32 * 32  # unknown memory: no check
    with pytest.raises(ConfigError, match="cache_images false"):
        check_cache_fits(10_000, 224, available=2**30)


def test_text_and_image_ablations_run_through_the_same_code(charts, tiny_text_encoder, tmp_path):
    from phase5_multimodal_financial_sentiment.train import main

    import json

    for modality in ("text", "image"):
        clusters = "informative" if modality == "image" else None  # test intervals resample these clusters
        run = main(config(charts, tiny_text_encoder, tmp_path, modality=modality, run_name=modality, epochs=1,
                          cluster_column=clusters))
        intervals = json.loads((run / "metrics.json").read_text())["test_intervals"]
        assert ("clusters" in intervals) == (clusters is not None)
        saved = MultimodalClassifier.from_pretrained(run / "checkpoints" / "best")
        assert saved.config.modality == modality


def test_cli_rejects_meaningless_combinations(charts):
    from common.config import parse_config
    from phase5_multimodal_financial_sentiment.config import PRESET_DIR

    with pytest.raises(ConfigError, match="learns nothing"):  # when the config is built, before any data is read
        parse_config(Phase5Config, ["--preset", "image_only", "--freeze_image", "--image_weights", "none"], PRESET_DIR)
    # a frozen text encoder under a trained head: the frozen-feature rows (text_features.py)
    assert parse_config(Phase5Config, ["--preset", "text_only", "--freeze_text"], PRESET_DIR)[0].freeze_text
    with pytest.raises(ConfigError, match="fusion"):
        parse_config(Phase5Config, ["--fusion", "sum"], PRESET_DIR)


def test_building_the_model_keeps_the_pretrained_and_initial_weights(tiny_text_encoder):
    """PreTrainedModel.post_init must not re-initialise the encoders it is handed."""
    from transformers import AutoModel

    from phase5_multimodal_financial_sentiment.models import ImageEncoder

    text = AutoModel.from_pretrained(tiny_text_encoder)
    image = ImageEncoder("resnet18")
    before = {**{f"t.{k}": v.clone() for k, v in text.state_dict().items()},
              **{f"i.{k}": v.clone() for k, v in image.state_dict().items()}}
    cfg = MultimodalConfig(text_config=text.config.to_dict(), image_model="resnet18", num_labels=3)
    model = MultimodalClassifier(cfg, text, image)
    after = {**{f"t.{k}": v for k, v in model.text_encoder.state_dict().items()},
             **{f"i.{k}": v for k, v in model.image_encoder.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_report_renders_the_ablation_table(fused_run, tmp_path):
    import json

    from common.report import build_report

    text = build_report(fused_run.parent.parent, tmp_path / "experiments.md")
    metrics = json.loads((fused_run / "metrics.json").read_text())
    row = next(line for line in text.splitlines() if line.startswith("| tiny"))
    assert "| fusion | attention | resnet18 | none | 32 |" in row
    assert f"{metrics['test_recall_neutral']:.4f}" in row and f"{metrics['test_f1_macro']:.4f}" in row
