"""Data-parallel training for real: torch.distributed with the gloo backend on the CPU, 2
ranks started by `torchrun --standalone` (a free port of its own) from the tests, against
one process with the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from common.batching import ShardedBatchSampler, ShardedEvalSampler
from common.errors import ConfigError
from common.records import read_json, read_jsonl
from phase1_financial_phrasebank.config import Phase1Config
from phase1_financial_phrasebank.train import main as phase1_main

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "tests" / "ddp_job.py"
TIMING = ("epoch_seconds", "samples_per_second", "tokens_per_second")


def torchrun(tmp_path: Path, jobs: list[dict], ranks: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    spec = tmp_path / f"jobs_{len(list(tmp_path.glob('jobs_*.json')))}.json"
    spec.write_text(json.dumps(jobs))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                           "--monitor_interval=0.5", str(JOB), str(spec)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_ran(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


@pytest.fixture(scope="module")
def still_model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny DistilBERT without dropout: one process and two ranks then compute the same gradients."""
    import shutil

    directory = tmp_path_factory.mktemp("still") / "model"
    shutil.copytree(tiny_model_dir, directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def config_values(tmp_path, model_dir, phrasebank_dir, **overrides) -> dict:
    values = dict(model_name_or_path=str(model_dir), data_dir=str(phrasebank_dir), output_dir=str(tmp_path / "runs"),
                  device="cpu", epochs=1, batch_size=8, eval_batch_size=16, max_length=32, learning_rate=2e-3,
                  progress=False, report_to=["none"], head_dropout=0.0)
    values.update(overrides)
    return values


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoints" / "last" / "model.safetensors")


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def test_global_batches_are_split_over_ranks_and_padded_evenly(monkeypatch):
    from common import batching
    from common.distributed import World

    order = list(range(11))
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(batching, "world", lambda rank=rank: World(rank, 2, rank))
        shares.append(list(ShardedBatchSampler(order, batch_size=2)))
    # global batches of 4: [0..3], [4..7], [8, 9, 10] + example 0 to split evenly
    assert shares == [[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [10, 0]]]
    monkeypatch.setattr(batching, "world", lambda: World(1, 3, 1))
    assert list(ShardedEvalSampler(range(7))) == [1, 4]


@pytest.mark.parametrize("accumulation", [1, 2])
def test_two_ranks_reach_the_weights_of_one_process_with_twice_the_batch(tmp_path, still_model_dir, phrasebank_dir,
                                                                          accumulation):
    """(a) Per-device batch 4 on 2 ranks = batch 8 in one process, after 6 optimizer steps,
    with and without accumulation; and through a gradual-unfreezing regime whose stages
    change which parameters train (the DDP wrapper must follow them)."""
    common = dict(max_steps=6, grad_accum_steps=accumulation, evaluate_test=False)
    regime = dict(regime="gradual_unfreeze", head_epochs=1, unfreeze_layers_per_epoch=1, epochs=3, max_steps=3,
                  grad_accum_steps=accumulation, evaluate_test=False)
    jobs = [{"kind": "phase1", "config": config_values(tmp_path, still_model_dir, phrasebank_dir, run_name=name,
                                                       batch_size=4, **extra)}
            for name, extra in (("ddp", common), ("ddp_regime", regime))]
    check_ran(torchrun(tmp_path, jobs))
    phase = tmp_path / "runs" / "phase1_financial_phrasebank"
    for name, extra in (("one", common), ("one_regime", regime)):
        phase1_main(Phase1Config(**config_values(tmp_path, still_model_dir, phrasebank_dir, run_name=name,
                                                 batch_size=8, **extra)))
    for ddp, one in (("ddp", "one"), ("ddp_regime", "one_regime")):
        ddp_weights, one_weights = weights(phase / ddp), weights(phase / one)
        assert ddp_weights.keys() == one_weights.keys()
        for key in one_weights:
            torch.testing.assert_close(ddp_weights[key], one_weights[key], rtol=1e-4, atol=1e-5, msg=key)
        ddp_history, one_history = read_jsonl(phase / ddp / "history.jsonl"), read_jsonl(phase / one / "history.jsonl")
        assert [row["stage"] for row in ddp_history] == [row["stage"] for row in one_history]
        for a, b in zip(ddp_history, one_history):
            assert a["examples"] == b["examples"] and a["steps"] == b["steps"]
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
            assert a["val_f1_macro"] == pytest.approx(b["val_f1_macro"], abs=1e-6)
    stages = [row["stage"] for row in read_jsonl(phase / "ddp_regime" / "history.jsonl")]
    assert stages == ["head only", "head + top 1 of 2 layers", "head + top 2 of 2 layers"]
    metrics = read_json(phase / "ddp" / "metrics.json")
    assert (metrics["world_size"], metrics["per_device_batch_size"], metrics["global_batch_size"]) == (
        2, 4, 8 * accumulation)
    assert read_json(phase / "ddp" / "env.json")["distributed"] == {"world_size": 2, "backend": "gloo", "nodes": 1}


def test_evaluation_gathers_every_example_once_in_order(tmp_path, tiny_model_dir):
    """(b) 2 ranks evaluate 7, 40 and 101 examples: each comes back once, in dataset order."""
    report = tmp_path / "eval.json"
    check_ran(torchrun(tmp_path, [{"kind": "eval_order", "sizes": [7, 40, 101], "tokenizer": str(tiny_model_dir),
                                   "report": str(report)}]))
    results = json.loads(report.read_text())
    for n in (7, 40, 101):
        assert results[str(n)]["first_tokens"] == list(range(n))
        assert results[str(n)]["labels"] == [i % 3 for i in range(n)]
        assert results[str(n)]["this_rank"] == (n + 1) // 2  # rank 0's share: no example counted twice


def test_only_rank_zero_writes_and_a_killed_job_resumes_exactly(tmp_path, tiny_model_dir, phrasebank_dir):
    """(c) rank 1 writes nothing under the runs directory, in a phase 1 and a phase 5 run;
    (d) a 2-rank run killed after epoch 1 and resumed equals an uninterrupted one (dropout on:
    each rank's RNG state is saved and restored)."""
    from phase5_multimodal_financial_sentiment.make_synthetic import make_dataset, vocabulary
    from common.random_encoders import write_tiny_bert

    charts = make_dataset(tmp_path / "charts", n=40, seed=0, size=32).parent
    encoder = write_tiny_bert(tmp_path / "chart_encoder", vocabulary())
    learning = dict(epochs=3, learning_rate=3e-3, head_dropout=0.1)
    phase5 = dict(model_name_or_path=str(encoder), data_dir=str(charts), output_dir=str(tmp_path / "runs"),
                  run_name="charts", device="cpu", epochs=1, batch_size=8, eval_batch_size=16, image_model="resnet18",
                  image_weights="none", image_size=32, max_length=24, learning_rate=1e-3, progress=False,
                  report_to=["none"])
    audit = {"audit": str(tmp_path / "audit"), "watch": str(tmp_path / "runs")}
    check_ran(torchrun(tmp_path, [
        {"kind": "phase1", "config": config_values(tmp_path, tiny_model_dir, phrasebank_dir, run_name="whole",
                                                   report_to=["tensorboard"], **learning), **audit},
        {"kind": "phase5", "config": phase5}]))
    written = {r: json.loads((tmp_path / "audit" / f"rank{r}.json").read_text()) for r in (0, 1)}
    assert written[1] == [] and any("metrics.json" in line for line in written[0])

    split = config_values(tmp_path, tiny_model_dir, phrasebank_dir, run_name="split", **learning)
    killed = torchrun(tmp_path, [{"kind": "phase1", "config": split, "crash_after_epoch": 1}])
    assert killed.returncode != 0
    with pytest.raises(ConfigError, match="made by 2 process"):  # the data order depends on the world size
        phase1_main(Phase1Config(**{**split, "resume": True}))
    check_ran(torchrun(tmp_path, [{"kind": "phase1", "config": {**split, "resume": True}}]))
    phase = tmp_path / "runs" / "phase1_financial_phrasebank"
    assert [row["epoch"] for row in read_jsonl(phase / "split" / "history.jsonl")] == [1, 2, 3]
    assert without_timing(read_jsonl(phase / "split" / "history.jsonl")) == without_timing(
        read_jsonl(phase / "whole" / "history.jsonl"))
    whole, split = read_json(phase / "whole" / "metrics.json"), read_json(phase / "split" / "metrics.json")
    for key in ("val_f1_macro", "test_accuracy", "test_f1_macro", "test_confusion_matrix", "best_epoch"):
        assert split[key] == whole[key], key
    assert (phase / "split" / "predictions.csv").read_text() == (phase / "whole" / "predictions.csv").read_text()
    assert list((phase / "whole").glob("events.out.tfevents.*")) or list((phase / "whole").rglob("events.out.*"))
    charts_run = tmp_path / "runs" / "phase5_multimodal_financial_sentiment" / "charts"
    assert read_json(charts_run / "metrics.json")["world_size"] == 2
    assert (charts_run / "checkpoints" / "best").is_dir()


def test_a_failing_rank_ends_the_job_with_its_message(tmp_path, tiny_model_dir, phrasebank_dir):
    """(e) rank 1 raises in its first epoch while rank 0 waits in a collective: the job ends
    non-zero within a bounded time, naming the error; and a decision of rank 0 (a sweep's
    pruner raising in on_epoch_end) reaches rank 1, which leaves with RankStopped."""
    started = time.monotonic()
    failed = torchrun(tmp_path, [{"kind": "phase1", "fail_on_rank": 1, "config": config_values(
        tmp_path, tiny_model_dir, phrasebank_dir, run_name="fails")}], timeout=240)
    assert failed.returncode != 0
    assert "injected failure on rank 1" in failed.stdout + failed.stderr
    assert time.monotonic() - started < 120
    report = tmp_path / "prune" / "report"
    report.parent.mkdir()
    check_ran(torchrun(tmp_path, [{"kind": "prune", "report": str(report), "config": config_values(
        tmp_path, tiny_model_dir, phrasebank_dir, run_name="pruned", epochs=2)}]))
    assert (report.parent / "rank0.txt").read_text() == "Pruned: pruned after epoch 1"
    assert (report.parent / "rank1.txt").read_text() == ("RankStopped: rank 0 ended the run: "
                                                         "Pruned: pruned after epoch 1")
    history = read_jsonl(tmp_path / "runs" / "phase1_financial_phrasebank" / "pruned" / "history.jsonl")
    assert len(history) == 1


def test_a_gpu_named_for_every_rank_is_refused(monkeypatch):
    from common.distributed import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match="every rank takes the GPU of its LOCAL_RANK"):
        init_distributed("cuda:0")


def test_a_sweep_under_torchrun_is_refused(monkeypatch, tmp_path):
    from common.sweep import run_sweep
    from common.sweep_workers import SweepSpec

    monkeypatch.setenv("WORLD_SIZE", "2")
    spec = SweepSpec("phase2_multilingual_sentiment", str(tmp_path / "grid.yaml"), {}, None, "grid",
                     main_ref="tests.sweep_helpers:logged_main")
    with pytest.raises(ConfigError, match="a sweep does not run under torchrun"):
        run_sweep(spec)


def test_a_checkpoint_missing_on_this_machine_is_an_error_not_a_fresh_model(tmp_path, monkeypatch):
    from common import run_lifecycle
    from common.distributed import World

    monkeypatch.setattr(run_lifecycle, "world", lambda: World(1, 2, 1))
    with pytest.raises(ConfigError, match="no checkpoint at .*filesystem every machine mounts"):
        run_lifecycle.require_checkpoint(None, tmp_path / "checkpoints" / "best")
