"""The Optuna sweep runner: search-space files, grids, workers sharing a study, resuming."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from common.errors import ConfigError
from common.search_space import load_search_space
from common.sweep_workers import SweepSpec, enqueue_missing, open_study, run_worker
from common.sweep import run_sweep, sweep_cli
from phase2_multilingual_sentiment.config import Phase2Config
from tests.sweep_helpers import LOG

PHASE = "phase2_multilingual_sentiment"
GRID = """
sampler: grid
pruner: none
fixed: {epochs: 2}
params:
  learning_rate: [1e-3, 3e-3]
  batch_size: [8, 16]
"""


@pytest.fixture
def sweep_spec(tmp_path, phase2_config, monkeypatch):
    """A factory of sweep specs over a 4-point grid of tiny phase 2 runs."""
    monkeypatch.setenv(LOG, str(tmp_path / "calls.jsonl"))
    (tmp_path / "grid.yaml").write_text(GRID)

    def make(main="tests.sweep_helpers:logged_main", heartbeat_seconds=60, storage=None) -> SweepSpec:
        from common.config import config_to_dict

        base = config_to_dict(phase2_config(languages=["english", "french"]))
        base = {k: v for k, v in base.items() if k not in ("run_name", "resume", "overwrite")}
        base.update(load_search_space(tmp_path / "grid.yaml", Phase2Config).fixed)  # as the command line does
        return SweepSpec(PHASE, str(tmp_path / "grid.yaml"), base, storage=storage, study_name="grid",
                         heartbeat_seconds=heartbeat_seconds, main_ref=main)

    return make


def calls(tmp_path) -> list[dict]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trials_table(tmp_path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "runs" / PHASE / "sweep_grid" / "trials.csv")


def test_grid_sweep_writes_trials_and_reruns_the_best_on_test(tmp_path, sweep_spec):
    summary = run_sweep(sweep_spec())
    table = trials_table(tmp_path)
    assert list(table["state"]) == ["COMPLETE"] * 4
    points = set(zip(table["param_learning_rate"], table["param_batch_size"]))
    assert points == {(1e-3, 8), (1e-3, 16), (3e-3, 8), (3e-3, 16)}
    for run_dir in table["run_dir"]:  # trials: validation only, and no checkpoints left behind
        metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
        assert "test_f1_macro" not in metrics and not (Path(run_dir) / "checkpoints").exists()
    best = table.loc[table["val_f1_macro"].idxmax()]
    assert summary["best"]["value"] == pytest.approx(best["val_f1_macro"])
    (final,) = summary["final_runs"]
    final_metrics = json.loads((Path(final) / "metrics.json").read_text())
    assert "test_f1_macro" in final_metrics and "test_english_f1_macro" in final_metrics
    # the re-run repeats the best trial (same seed and config), so its validation score is the same
    assert final_metrics["val_f1_macro"] == pytest.approx(summary["best"]["value"])
    assert len(calls(tmp_path)) == 5


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage(request, tmp_path):
    """A study storage every worker shares: the default SQLite file in the sweep directory,
    Optuna's journal file (as on a shared filesystem), a fresh database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return None
    if request.param == "journal":
        return f"journal://{tmp_path / 'shared' / 'study.log'}"
    return request.getfixturevalue("postgres_database")


def times(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "calls.times").read_text().splitlines()]


def check_one_process_per_directory(tmp_path) -> None:
    """No two processes ever trained in one trial directory at the same time."""
    spans = sorted(times(tmp_path), key=lambda span: (span["run_name"], span["start"]))
    for before, after in zip(spans, spans[1:]):
        if before["run_name"] == after["run_name"]:
            assert before["end"] <= after["start"], (before, after)


def test_three_worker_processes_run_every_point_once(tmp_path, sweep_spec, storage):
    run_sweep(sweep_spec(storage=storage), workers=3, rerun=False)
    table = trials_table(tmp_path)
    assert sorted(table["key"]) == ["g000", "g001", "g002", "g003"] and set(table["state"]) == {"COMPLETE"}
    assert sorted(call["run_name"] for call in calls(tmp_path)) == [f"sweep_grid/trials/g00{i}" for i in range(4)]
    assert table["run_dir"].is_unique
    check_one_process_per_directory(tmp_path)


def test_a_point_enqueued_twice_runs_once(tmp_path, sweep_spec):
    spec = sweep_spec()
    _, _, space = spec.load()
    study = open_study(spec, space)
    for index, point in enumerate(space.grid_points()):  # as if two workers had started at the same moment
        study.enqueue_trial(point, user_attrs={"grid_point": index})
        study.enqueue_trial(point, user_attrs={"grid_point": index})
    run_worker(spec)
    assert sorted(call["run_name"] for call in calls(tmp_path)) == [f"sweep_grid/trials/g00{i}" for i in range(4)]
    skipped = [t for t in study.get_trials() if "skip_reason" in t.user_attrs]
    assert len(skipped) == 4 and all(t.state.name == "PRUNED" for t in skipped)


def test_interrupted_sweep_resumes_with_only_the_rest(tmp_path, sweep_spec):
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep_spec(main="tests.sweep_helpers:interrupted_third_main"))
    first = calls(tmp_path)
    assert len(first) == 3
    run_sweep(sweep_spec())
    second = calls(tmp_path)[3:]
    # the interrupted trial resumes from its checkpoint; the last point starts; nothing reruns
    assert sorted(second[:2], key=lambda call: call["run_name"]) == [
        {"run_name": first[2]["run_name"], "resume": True}, {"run_name": "sweep_grid/trials/g003", "resume": False}]
    assert second[2]["run_name"] == "sweep_grid_best_seed42" and len(second) == 3
    table = trials_table(tmp_path)
    assert sorted(table.loc[table["state"] == "COMPLETE", "key"]) == ["g000", "g001", "g002", "g003"]
    assert list(table.loc[table["state"] == "FAIL", "key"]) == ["g002"]
    resumed = Path(table.loc[(table["key"] == "g002") & (table["state"] == "COMPLETE"), "run_dir"].item())
    assert (resumed / "env_resumed.json").exists()
    assert [json.loads(line)["epoch"] for line in (resumed / "history.jsonl").read_text().splitlines()] == [1, 2]


def test_a_killed_workers_trial_runs_again(tmp_path, sweep_spec):
    spec = sweep_spec(heartbeat_seconds=1)
    _, _, space = spec.load()
    study = open_study(spec, space)
    enqueue_missing(study, space)
    orphan = study.ask()  # claimed by a worker that then died without a word
    study._storage.record_heartbeat(orphan._trial_id)
    time.sleep(3.5)  # past the grace period of 3 heartbeats
    run_worker(spec)
    assert study.trials[orphan.number].state.name == "FAIL"
    assert sorted(call["run_name"] for call in calls(tmp_path)) == [f"sweep_grid/trials/g00{i}" for i in range(4)]


def test_a_worker_killed_mid_trial_does_not_fail_the_sweep(tmp_path, sweep_spec, storage, capsys):
    spec = sweep_spec(main="tests.sweep_helpers:killed_once_main", heartbeat_seconds=1, storage=storage)
    summary = run_sweep(spec, workers=3)
    assert "1 sweep worker(s) were killed (signals [9])" in capsys.readouterr().out
    runs = [call["run_name"] for call in calls(tmp_path)]
    assert runs.count("sweep_grid/trials/g001") == 2  # killed once, retried once
    assert sorted(set(runs) - {"sweep_grid_best_seed42"}) == [f"sweep_grid/trials/g00{i}" for i in range(4)]
    table = trials_table(tmp_path)
    assert sorted(table["state"]) == ["COMPLETE"] * 4 + ["FAIL"]
    assert summary["best"] is not None and summary["final_runs"]  # the best was re-run on test
    killed = [span for span in times(tmp_path) if span.get("killed")]
    retry = [span for span in times(tmp_path) if span["run_name"].endswith("g001") and not span.get("killed")]
    assert len(killed) == len(retry) == 1 and retry[0]["pid"] != killed[0]["pid"]
    check_one_process_per_directory(tmp_path)  # the retry began after the killed worker was gone


def test_study_with_another_space_is_refused(tmp_path, sweep_spec):
    spec = sweep_spec()
    open_study(spec, spec.load()[2])
    (tmp_path / "grid.yaml").write_text(GRID.replace("[8, 16]", "[8, 32]"))
    with pytest.raises(ConfigError, match="another search space or base config.*--study_name"):
        open_study(spec, spec.load()[2])


def test_searched_key_on_the_command_line_is_refused(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID)
    with pytest.raises(ConfigError, match="--learning_rate is searched"):
        sweep_cli(PHASE, ["--space", str(tmp_path / "grid.yaml"), "--learning_rate", "1e-4"])


@pytest.mark.parametrize("text, match", [
    ("params: {learning_rate: [1e-5]}\nsamplr: grid", "unknown key\\(s\\) 'samplr' \\(did you mean 'sampler'\\?\\)"),
    ("params: {learnig_rate: [1e-5]}", "unknown config key 'learnig_rate' \\(did you mean 'learning_rate'\\?\\)"),
    ("params: {learning_rate: []}", "empty list of values"),
    ("params: {learning_rate: [abc]}", "cannot read 'abc' as float"),
    ("params: {lr_scheduler: [linear, exponential]}", "'exponential' is not one of linear, cosine, constant"),
    ("params: {learning_rate: {low: 1e-5, high: 1e-4}}", "a grid takes lists of values; learning_rate"),
    ("sampler: tpe\nparams: {learning_rate: {low: 1e-5, high: 1e-4}}", "needs n_trials"),
    ("sampler: tpe\nn_trials: 4\nparams: {learning_rate: {low: 1e-3, high: 1e-4}}", "low \\(0.001\\) must be below"),
    ("sampler: random\nn_trials: 4\nparams: {weight_decay: {low: 0, high: 0.1, log: true}}", "log range needs low > 0"),
    ("sampler: annealing\nparams: {learning_rate: [1e-5]}", "sampler must be one of grid, tpe, random"),
    ("pruner: {type: median, patience: 2}\nparams: {learning_rate: [1e-5]}", "pruner options.*patience"),
    ("fixed: {output_dir: x}\nparams: {learning_rate: [1e-5]}", "'output_dir' is set by the sweep"),
    ("fixed: {epochs: 2}\nparams: {epochs: [1, 2]}", "epochs both fixed and searched"),
    ("metric: test_f1_macro\nparams: {learning_rate: [1e-5]}", "metric must be one of val_f1_macro"),
    ("params: [learning_rate]", "`params` must map"),
    ("params: {learning_rate: [1e-5}", "not valid YAML/JSON"),
])
def test_bad_search_space_is_a_clear_error(tmp_path, text, match):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_search_space(path, Phase2Config)


def test_missing_space_file_and_json_spaces(tmp_path):
    with pytest.raises(ConfigError, match="search space file .*nope.yaml does not exist"):
        load_search_space(tmp_path / "nope.yaml", Phase2Config)
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"sampler": "tpe", "n_trials": 3, "params": {
        "learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}, "batch_size": [16, 32]}}))
    space = load_search_space(path, Phase2Config)
    assert space.study_name == "space" and space.direction == "maximize" and space.budget == 3


def test_a_failing_trial_is_recorded_once_and_the_sweep_goes_on(tmp_path, sweep_spec):
    summary = run_sweep(sweep_spec(main="tests.sweep_helpers:out_of_memory_at_batch_16"))
    table = trials_table(tmp_path).set_index("key")
    assert list(table.loc[["g000", "g002"], "state"]) == ["COMPLETE"] * 2
    assert list(table.loc[["g001", "g003"], "state"]) == ["FAIL"] * 2
    assert table.loc["g001", "error"] == "RuntimeError: CUDA out of memory (simulated)"
    # each point ran once: a failure with an error is final (only interrupted trials rerun)
    assert sorted(call["run_name"] for call in calls(tmp_path)[:4]) == [f"sweep_grid/trials/g00{i}" for i in range(4)]
    assert summary["best"]["params"]["batch_size"] == 8


def test_concurrent_claims_are_atomic(tmp_path, storage):
    import multiprocessing

    import optuna

    from common.sweep_workers import open_storage
    from tests.claim_helpers import claim_until_empty

    url = storage or f"sqlite:///{tmp_path / 'claims.db'}"
    study = optuna.create_study(study_name="claims", storage=open_storage(url))
    for point in range(40):
        study.enqueue_trial({"x": point}, user_attrs={"point": point})
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=claim_until_empty, args=(url, "claims", str(tmp_path / f"w{i}.json")))
                 for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    results = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(4)]
    claimed = [point for r in results for point in r["claimed"] if point is not None]
    assert not [e for r in results for e in r["errors"]]
    assert sorted(claimed) == list(range(40))  # every waiting trial claimed by exactly one process


def test_a_missing_gpu_fails_before_any_worker_starts(tmp_path, sweep_spec):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        run_sweep(sweep_spec(), workers=2, devices=["cuda:0", "cuda:1"])
    assert not calls(tmp_path)


def test_pruning_stops_weak_trials_early_but_never_after_the_last_epoch(tmp_path, sweep_spec):
    (tmp_path / "grid.yaml").write_text("pruner: {type: median, n_startup_trials: 2, n_warmup_steps: 0}\n"
                                        "fixed: {epochs: 3}\nparams:\n  learning_rate: [0.1, 0.2, 0.3, 0.4]\n")
    run_sweep(sweep_spec(main="tests.sweep_helpers:scripted_main"), rerun=False)
    table = trials_table(tmp_path).set_index("param_learning_rate")
    assert table.loc[0.3, "state"] == "PRUNED" and table.loc[0.3, "epochs_reported"] == 1
    # below the median only at its last epoch: nothing left to save, so it completes
    assert table.loc[0.4, "state"] == "COMPLETE" and table.loc[0.4, "epochs_reported"] == 3
    assert list(table.loc[[0.1, 0.2], "state"]) == ["COMPLETE"] * 2
