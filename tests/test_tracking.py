"""Live logs (TensorBoard, MLflow, W&B offline) read back and compared with the run's own
records; model cards; the publish folder."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from common.errors import ConfigError
from common.records import read_json
from phase1_financial_phrasebank.train import main


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def test_tensorboard_events_match_history_and_metrics(tiny_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = main(tiny_config(report_to=["tensorboard"], logging_steps=1))
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    rows, metrics = history(run_dir), read_json(run_dir / "metrics.json")
    val = events.Scalars("val/f1_macro")
    assert [e.value for e in val] == pytest.approx([row["val_f1_macro"] for row in rows])
    steps = [sum(row["steps"] for row in rows[:i + 1]) for i in range(len(rows))]
    assert [e.step for e in val] == steps  # the x-axis is the optimizer step
    assert len(events.Scalars("train/loss")) == steps[-1]  # logging_steps 1: every step
    assert events.Scalars("final/test_f1_macro")[0].value == pytest.approx(metrics["test_f1_macro"])
    assert "plots/confusion_matrix" in events.Tags()["images"]
    # the CUSTOM SCALARS layout: loss and scores first, and every chart shows tags the run logged
    import re

    from tensorboard.plugins.custom_scalar import layout_pb2

    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    assert [category.title for category in layout.category] == ["1. loss and scores", "2. bookkeeping"]
    tags = events.Tags()["scalars"]
    for chart in (chart for category in layout.category for chart in category.chart):
        assert any(re.fullmatch(pattern, tag) for pattern in chart.multiline.tag for tag in tags), chart.title
    # the HPARAMS view: this run's config beside its final scores
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["learning_rate"].number_value == pytest.approx(1e-3)
    assert events.Scalars("hparam/test_f1_macro")[0].value == pytest.approx(metrics["test_f1_macro"])


def test_mlflow_run_matches_history_and_stays_in_the_output_dir(tiny_config, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    run_dir = main(tiny_config(report_to=["mlflow"], logging_steps=2))
    output = tmp_path / "runs"
    client = MlflowClient(f"sqlite:///{output / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("phase1_financial_phrasebank")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    assert run.data.params["learning_rate"] == "0.001" and run.data.params["report_to"] == '["mlflow"]'
    rows = history(run_dir)
    logged = client.get_metric_history(run.info.run_id, "val/f1_macro")
    assert [m.value for m in logged] == pytest.approx([row["val_f1_macro"] for row in rows])
    metrics = read_json(run_dir / "metrics.json")
    assert run.data.metrics["final/test_f1_macro"] == pytest.approx(metrics["test_f1_macro"])
    assert "plots/confusion_matrix.png" in [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing beside the output directory
    assert (output / "mlartifacts").is_dir()


def test_an_interrupted_run_continues_its_mlflow_run(tiny_config, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        main(tiny_config(report_to=["mlflow"]), on_epoch_end=stop_after_first)
    run_dir = main(tiny_config(report_to=["mlflow"], resume=True))
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("phase1_financial_phrasebank").experiment_id])
    assert run.info.run_id == json.loads((run_dir / "trackers.json").read_text())["mlflow"]["run_id"]
    assert run.info.status == "FINISHED"
    epochs = [m.value for m in client.get_metric_history(run.info.run_id, "epoch/epoch")]
    assert epochs == [1.0, 2.0]


def test_wandb_offline_run_lives_in_the_run_directory(tiny_config, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = main(tiny_config(report_to=["wandb"]))
    (record,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    content = record.read_bytes()  # W&B's own record file: the logged keys are in it
    for _ in range(20):  # should the service still be writing on a loaded machine
        if b"final/test_f1_macro" in content:
            break
        time.sleep(0.5)
        content = record.read_bytes()
    # logging_steps 50 is more than an epoch's steps: the loss is still logged four times an epoch
    assert b"val/f1_macro" in content and b"train/loss" in content
    assert b"final/test_f1_macro" in content


def test_a_tracker_that_is_not_installed_is_an_error_before_the_run(tiny_config, monkeypatch, tmp_path):
    from common import tracking

    monkeypatch.setitem(tracking.PACKAGES, "wandb", ("a_module_that_is_not_installed", "wandb"))
    with pytest.raises(ConfigError, match=r"report_to wandb: .* not installed; run `pip install wandb`"):
        main(tiny_config(report_to=["tensorboard", "wandb"]))
    assert not (tmp_path / "runs" / "phase1_financial_phrasebank" / "tiny").exists()
    with pytest.raises(ConfigError, match="'none' cannot be combined with mlflow"):
        tiny_config(report_to=["none", "mlflow"])


def test_sweep_trials_are_child_runs_of_the_study(tmp_path, phase2_config, monkeypatch):
    from mlflow.tracking import MlflowClient

    from common.config import config_to_dict
    from common.search_space import load_search_space
    from common.sweep import run_sweep
    from common.sweep_workers import SweepSpec
    from phase2_multilingual_sentiment.config import Phase2Config

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "grid.yaml").write_text("sampler: grid\npruner: none\nfixed: {epochs: 1}\n"
                                        "params:\n  learning_rate: [1e-3, 3e-3]\n")
    base = config_to_dict(phase2_config(languages=["english"], report_to=["mlflow", "tensorboard"]))
    base = {k: v for k, v in base.items() if k not in ("run_name", "resume", "overwrite")}
    base.update(load_search_space(tmp_path / "grid.yaml", Phase2Config).fixed)
    spec = SweepSpec("phase2_multilingual_sentiment", str(tmp_path / "grid.yaml"), base, storage=None,
                     study_name="lr")
    run_sweep(spec)
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("phase2_multilingual_sentiment").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.data.tags["sweep"] == "lr" and len(children) == 3  # two trials and the best's re-run
    assert {float(r.data.params["learning_rate"]) for r in children} == {1e-3, 3e-3}
    assert {r.info.status for r in children} == {"FINISHED"}


def test_model_card_describes_the_run_and_parses(tiny_config):
    from huggingface_hub import ModelCard

    first = main(tiny_config(seed=1, run_name="tiny_seed1", report_to=["none"]))
    second = main(tiny_config(seed=2, run_name="tiny_seed2", report_to=["none"]))
    card = ModelCard.load(second / "checkpoints" / "best" / "README.md", ignore_metadata_errors=False)
    data = card.data.to_dict()
    metrics = [read_json(run / "metrics.json") for run in (first, second)]
    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert data["metrics"] == ["accuracy", "f1"] and data["license"] == "cc-by-nc-sa-3.0"
    assert "base_model" not in data  # a local checkpoint is no hub base model
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["f1"] == pytest.approx(metrics[1]["test_f1_macro"], abs=1e-4)
    assert "This model is a stand-in, not the study's model" in card.text and "distilbert-base-uncased" in card.text
    assert "seeds 1, 2" in card.text and "±" in card.text  # the seed spread of the two runs
    assert read_json(second / "env.json")["git_commit"] in card.text
    sizes = read_json(second / "metrics.json")["data"]["sizes"]
    assert f"- examples per split: train {sizes['train']:,}; val {sizes['val']:,}" in card.text
    assert '{"' not in card.text.split("## Training config")[0]  # records in words, not JSON
    # the card's "How to use" snippet runs as written, on this checkpoint
    snippet = card.text.split("## How to use")[1].split("```python")[1].split("```")[0]
    scope = {}
    exec(snippet.replace("path/to/this/folder", str(second / "checkpoints" / "best")), scope)
    scores = scope["classify"]("Operating profit rose", top_k=None)
    assert {r["label"] for r in scores} == {"negative", "neutral", "positive"}
    assert sum(r["score"] for r in scores) == pytest.approx(1.0, abs=1e-4)


def test_publish_dry_run_holds_the_model_files_alone(tiny_config, capsys):
    from transformers import pipeline

    from common.publish import publish

    run_dir = main(tiny_config(report_to=["none"]))
    folder = publish(run_dir, "someone/tiny-phrasebank")  # HF_HUB_OFFLINE is set in the tests: a dry run
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert folder == run_dir / "publish" / "best"
    assert "HF_HUB_OFFLINE is set: a dry run" in capsys.readouterr().out
    predictions = pd.read_csv(run_dir / "predictions.csv")
    classify = pipeline("text-classification", model=str(folder), device=-1)
    assert [r["label"] for r in classify(list(predictions["text"][:5]))] == list(predictions["prediction"][:5])
    with pytest.raises(ConfigError, match="expected <user or organisation>/<name>"):
        publish(run_dir, "no-namespace")


def test_wandb_credentials_are_checked_before_a_run_starts(tmp_path):
    from common.tracking import wandb_can_log

    assert not wandb_can_log({}, tmp_path / "no_netrc")
    assert wandb_can_log({"WANDB_API_KEY": "k"}, tmp_path / "no_netrc")
    assert wandb_can_log({"WANDB_MODE": "offline"}, tmp_path / "no_netrc")
    netrc_file = tmp_path / ".netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    netrc_file.chmod(0o600)
    assert wandb_can_log({}, netrc_file)
    netrc_file.write_text("machine example.com\n  login user\n  password secret\n")
    assert not wandb_can_log({}, netrc_file)
