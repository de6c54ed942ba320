"""End-to-end phase 1 runs with tiny models on the synthetic PhraseBank, into tmp_path."""
import json

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from common import fit as fit_module
from common.config import parse_config
from common.records import read_jsonl
from phase1_financial_phrasebank import train as train_module
from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config
from phase1_financial_phrasebank.train import main

TIMING_KEYS = {"train_seconds", "seconds_per_epoch"}


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def load_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("preset", ["distilbert", "mini", "tiny"])
def test_preset_smoke_run_writes_the_run_directory(preset, tiny_model_dir, phrasebank_dir, tmp_path):
    cfg, provenance = parse_config(Phase1Config, [
        "--preset", preset, "--model_name_or_path", str(tiny_model_dir), "--data_dir", str(phrasebank_dir),
        "--output_dir", str(tmp_path), "--device", "cpu", "--epochs", "2", "--max_length", "32",
        "--progress", "false"], PRESET_DIR)
    run_dir = main(cfg, provenance)
    # the model given on the command line names the run before the preset (not the preset's model)
    assert run_dir == tmp_path / "phase1_financial_phrasebank" / f"{tiny_model_dir.name}_{preset}_seed42"
    for name in ("config.json", "env.json", "history.jsonl", "metrics.json", "predictions.csv", "misclassified.csv",
                 "confusion_matrix.png", "learning_curves.png", "checkpoints/best/config.json",
                 "checkpoints/last/training_state.pt"):
        assert (run_dir / name).exists(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preset"] == preset and config["config"]["epochs"] == 2 and "--preset" in config["argv"]
    env = json.loads((run_dir / "env.json").read_text())
    assert env["device"] == "cpu" and "torch" in env["packages"]
    history = read_jsonl(run_dir / "history.jsonl")
    assert [row["epoch"] for row in history] == [1, 2]

    metrics = load_metrics(run_dir)
    for key in ("test_accuracy", "test_f1_macro", "val_accuracy", "val_f1_macro", "test_per_class",
                "test_confusion_matrix", "train_seconds", "test_allagree_f1_macro", "parameters"):
        assert key in metrics, key
    # the reported test metrics are exactly those of the saved predictions
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert metrics["test_accuracy"] == pytest.approx(accuracy_score(predictions["label"], predictions["prediction"]))
    assert metrics["test_f1_macro"] == pytest.approx(
        f1_score(predictions["label"], predictions["prediction"], average="macro", zero_division=0,
                 labels=["negative", "neutral", "positive"]))
    assert sum(map(sum, metrics["test_confusion_matrix"])) == len(predictions)
    errors = pd.read_csv(run_dir / "misclassified.csv")
    assert len(errors) == (~predictions["correct"]).sum()
    assert list(errors["confidence"]) == sorted(errors["confidence"], reverse=True)
    assert set(metrics["test_sets"]) == {"50Agree", "66Agree", "75Agree", "AllAgree"}
    assert "before_test_f1_macro" in metrics and metrics["trainable_parameters"] == metrics["parameters"]


def test_tiny_model_learns_the_synthetic_task(tiny_config):
    metrics = load_metrics(main(tiny_config(architecture="tiny_transformer", epochs=6, learning_rate=3e-3)))
    assert metrics["test_accuracy"] > 0.9  # the templates are separable; the majority class is about 0.5


def test_tiny_model_learns_on_a_tokenizer_trained_on_the_train_split(tiny_config):
    """The same model on a byte-level BPE of the train split (train_tokenizer): it learns, reads
    no unknown token, and its checkpoint serves through pipeline() with that tokenizer."""
    from transformers import pipeline

    run_dir = main(tiny_config(architecture="tiny_transformer", train_tokenizer=True, tokenizer_vocab_size=400,
                               epochs=6, learning_rate=3e-3))
    metrics = load_metrics(run_dir)
    assert metrics["test_accuracy"] > 0.9
    assert metrics["data"]["tokens"]["test"]["unknown_token_rate"] == 0.0
    assert metrics["data"]["tokenizer"]["trained_on_texts"] == metrics["train_examples"]
    classifier = pipeline("text-classification", model=str(run_dir / "checkpoints" / "best"), device="cpu")
    predictions = pd.read_csv(run_dir / "predictions.csv")
    lengths = pd.Series([len(ids) for ids in classifier.tokenizer(list(predictions["text"]))["input_ids"]])
    longest = predictions[lengths > 32]  # texts longer than the run's max_length
    assert len(longest) > 0
    served = classifier(list(longest["text"]), truncation=True)  # cut where the run cut them
    assert [out["label"] for out in served] == list(longest["prediction"])
    too_long = classifier.tokenizer(list(longest["text"])[:1], return_tensors="pt")
    with pytest.raises(ValueError, match="more than the 32 positions this model has"):
        classifier.model(**too_long)


def test_pipeline_loads_best_checkpoint(tiny_config):
    from transformers import pipeline

    run_dir = main(tiny_config(epochs=1))
    classifier = pipeline("text-classification", model=str(run_dir / "checkpoints" / "best"), device="cpu")
    outputs = classifier(["Nokia net profit rose 12 percent in the quarter .", "Kone cut 40 jobs after sales fell ."])
    assert {out["label"] for out in outputs} <= {"negative", "neutral", "positive"}


def test_same_seed_gives_identical_results(tiny_config):
    first = main(tiny_config(run_name="a", architecture="tiny_transformer"))
    second = main(tiny_config(run_name="b", architecture="tiny_transformer"))
    other_seed = main(tiny_config(run_name="c", architecture="tiny_transformer", seed=7))
    assert history_without_timing(first) == history_without_timing(second)
    assert history_without_timing(first) != history_without_timing(other_seed)
    assert without_timing(load_metrics(first)) == without_timing(load_metrics(second))
    assert (first / "predictions.csv").read_text() == (second / "predictions.csv").read_text()


def history_without_timing(run_dir) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("epoch_seconds", "samples_per_second", "tokens_per_second")}
            for row in read_jsonl(run_dir / "history.jsonl")]


def test_resumed_run_equals_uninterrupted_run(tiny_config, monkeypatch):
    # a model that keeps improving, so that the best epoch is not simply the first one
    learning = dict(architecture="tiny_transformer", learning_rate=3e-3, epochs=3)
    whole = main(tiny_config(run_name="whole", **learning))
    reference = load_metrics(whole)
    assert reference["best_epoch"] > 1

    real_save = fit_module.save_checkpoint

    def save_then_crash(directory, *args, **kwargs):
        real_save(directory, *args, **kwargs)
        if directory.name == "last":  # simulate a kill right after epoch 1 was checkpointed
            raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        main(tiny_config(run_name="split", **learning))
    monkeypatch.setattr(fit_module, "save_checkpoint", real_save)
    run_dir = main(tiny_config(run_name="split", resume=True, **learning))
    assert [row["epoch"] for row in read_jsonl(run_dir / "history.jsonl")] == [1, 2, 3]
    # same losses at every epoch: same batches, dropout masks, optimizer and schedule state
    assert history_without_timing(run_dir) == history_without_timing(whole)
    assert without_timing(load_metrics(run_dir)) == without_timing(reference)


def test_existing_run_directory_is_not_overwritten(tiny_config):
    main(tiny_config(epochs=1))
    from common.errors import ConfigError
    with pytest.raises(ConfigError, match="already exists; pass --resume"):
        main(tiny_config(epochs=1))


@pytest.mark.parametrize("extra, message", [
    (["--data_dir", "/no/such/dir"], "error: data directory /no/such/dir does not exist; expected"),
    (["--device", "cuda:3"], "error: device 'cuda:3'"),
    (["--bogus", "1"], "error: unknown config key 'bogus'"),
    (["--model_name_or_path", "/no/such/model"], "error: could not load a tokenizer from '/no/such/model'"),
])
def test_cli_bad_input_exits_with_a_clear_message(extra, message, capsys, phrasebank_dir, tmp_path):
    argv = ["--data_dir", str(phrasebank_dir), "--output_dir", str(tmp_path), "--device", "cpu",
            "--progress", "false"] + extra
    with pytest.raises(SystemExit) as info:
        train_module.run_cli(main, Phase1Config, PRESET_DIR, argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_compiled_training_learns_what_eager_training_learns(tiny_config):
    from phase1_financial_phrasebank.train import main

    eager = main(tiny_config(run_name="eager", epochs=1))
    compiled = main(tiny_config(run_name="compiled", epochs=1, torch_compile=True))
    first, second = load_metrics(eager), load_metrics(compiled)
    assert second["test_accuracy"] == pytest.approx(first["test_accuracy"], abs=0.02)
    losses = [read_jsonl(run / "history.jsonl")[0]["train_loss"] for run in (eager, compiled)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)  # the same steps, up to the compiled kernels' rounding
