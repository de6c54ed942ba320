"""Phase 3: optimizers, Adafactor's two modes, invalid combinations, a tiny study's outputs,
its best preset in phase 2, and the multi-seed summary."""
from __future__ import annotations

import json
import math
import statistics

import pytest
import torch

from common.config import parse_config
from common.errors import ConfigError
from common.models import load_classifier, load_tokenizer
from common.optim import build_optimizer, build_scheduler, check_optimizer_config
from phase2_multilingual_sentiment.config import PRESET_DIR as PHASE2_PRESETS, Phase2Config
from phase3_hp_tuning_xlm_roberta.confirm import compare, summarize_seeds
from phase3_hp_tuning_xlm_roberta.config import PRESET_DIR, Phase3Config
from phase3_hp_tuning_xlm_roberta.plots import PLOTS
from phase3_hp_tuning_xlm_roberta.study import run_study

PHASE = "phase3_hp_tuning_xlm_roberta"


def one_step(model_dir, name, learning_rate, schedule="linear", steps=1):
    """Parameters before and after `steps` optimizer steps on one fixed batch; and the scheduler."""
    torch.manual_seed(0)
    model = load_classifier(str(model_dir), ["negative", "neutral", "positive"])
    tokenizer = load_tokenizer(str(model_dir))
    batch = tokenizer(["great game !", "awful game !"], return_tensors="pt", padding=True)
    optimizer = build_optimizer(model, learning_rate, 0.0, name)
    scheduler = build_scheduler(optimizer, schedule, total_steps=10, warmup_ratio=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, torch.tensor([2, 0]))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return before, [p.detach() for p in model.parameters()], optimizer, scheduler


@pytest.mark.parametrize("name, lr", [("adamw", 1e-3), ("adafactor", 1e-3), ("adafactor_relative", None),
                                      ("sgd", 1e-2)])
def test_each_optimizer_builds_and_steps(tiny_multilingual_model_dir, name, lr):
    before, after, _, _ = one_step(tiny_multilingual_model_dir, name, lr)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_adafactor_external_learning_rate_follows_the_schedule(tiny_multilingual_model_dir):
    before, small, optimizer, scheduler = one_step(tiny_multilingual_model_dir, "adafactor", 1e-3)
    _, large, _, _ = one_step(tiny_multilingual_model_dir, "adafactor", 2e-3)
    # the first update is proportional to the learning rate (no warmup: step 1 runs at the peak)
    ratios = [((b - a).norm() / (s - a).norm()).item() for a, s, b in zip(before, small, large) if (s - a).norm() > 0]
    assert ratios and all(r == pytest.approx(2.0, rel=1e-3) for r in ratios)
    # the group's learning rate is the linear schedule's: 1e-3 * (10 - 1) / 10 after one step
    assert optimizer.param_groups[0]["lr"] == pytest.approx(9e-4)
    assert scheduler.get_last_lr()[0] == pytest.approx(9e-4)


def test_adafactor_relative_step_ignores_any_learning_rate():
    updates = []
    for external in (0.0, 123.0):  # whatever learning rate sits in the groups
        torch.manual_seed(0)
        model, inputs = torch.nn.Linear(4, 3), torch.randn(8, 4)
        optimizer = build_optimizer(model, None, 0.0, "adafactor_relative")
        scheduler = build_scheduler(optimizer, "constant", total_steps=10, warmup_ratio=0.0)
        for group in optimizer.param_groups:
            group["lr"] = external
        before = model.weight.detach().clone()
        model(inputs).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
        updates.append(model.weight.detach() - before)
        assert scheduler.get_last_lr()[0] > 0  # the proxy reports the step size Adafactor chose
    assert torch.equal(updates[0], updates[1]) and updates[0].abs().sum() > 0


@pytest.mark.parametrize("values, match", [
    (dict(optimizer="adafactor_relative", learning_rate=1e-4), "takes no learning rate: pass --learning_rate none"),
    (dict(optimizer="adafactor_relative", learning_rate=None), "set lr_scheduler constant and warmup_ratio 0"),
    (dict(optimizer="adamw", learning_rate=None), "optimizer adamw needs a learning_rate"),
    (dict(optimizer="sgd", learning_rate=-1.0), "learning_rate must be positive"),
])
def test_invalid_optimizer_combinations_are_clear_errors(values, match):
    with pytest.raises(ConfigError, match=match):
        check_optimizer_config(Phase3Config(**values))


def test_invalid_combination_on_the_command_line_exits_with_a_message(capsys):
    from phase3_hp_tuning_xlm_roberta import train

    with pytest.raises(SystemExit) as info:
        train.run_cli(train.main, Phase3Config, PRESET_DIR,
                      ["--optimizer", "adafactor_relative", "--learning_rate", "1e-4", "--data_dir", "/nonexistent"])
    assert info.value.code == 2
    assert "error: optimizer adafactor_relative computes its own step size" in capsys.readouterr().err


STUDY = """
sampler: random
n_trials: 4
seed: 3
pruner: none
fixed: {epochs: 6}
params:
  learning_rate: {low: 3.0e-3, high: 3.0e-2, log: true}
  optimizer: [adamw, adafactor]
  lr_scheduler: [linear, cosine, constant, polynomial]
  warmup_ratio: {low: 0.0, high: 0.2}
  weight_decay: [0.0, 0.01, 0.1]
"""


def test_tiny_study_writes_trials_preset_plots_and_confirmation(tmp_path, phase2_config):
    (tmp_path / "study.yaml").write_text(STUDY)
    base = phase2_config()
    argv = ["--space", str(tmp_path / "study.yaml"), "--confirm_seeds", "1,2,3", "--model_name_or_path",
            base.model_name_or_path, "--data_dir", base.data_dir, "--output_dir", base.output_dir, "--device", "cpu",
            "--languages", "english,french", "--max_length", "16", "--batch_size", "16", "--progress", "false"]
    report = run_study(argv)
    directory = tmp_path / "runs" / PHASE / "sweep_study"
    import pandas as pd

    trials = pd.read_csv(directory / "trials.csv")
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    assert trials["worker"].notna().all() and set(trials["device"]) == {"cpu"}
    for name in PLOTS:
        assert (directory / name).stat().st_size > 0, name
    assert report["plots"] == {name: True for name in PLOTS}
    # the best preset: the best trial's parameters over the study's base config, runnable by phase 2
    preset = json.loads((directory / "best_preset.json").read_text())
    best = trials.loc[trials["val_f1_macro"].idxmax()]
    assert preset["learning_rate"] == pytest.approx(best["param_learning_rate"])
    assert preset["optimizer"] == best["param_optimizer"] and "data_dir" not in preset
    cfg, _ = parse_config(Phase2Config, ["--preset", str(directory / "best_preset.json"), "--data_dir", base.data_dir,
                                         "--output_dir", str(tmp_path / "p2"), "--run_name", "from_preset",
                                         "--device", "cpu", "--progress", "false"], PHASE2_PRESETS)
    from phase2_multilingual_sentiment.train import main as phase2_main

    metrics = json.loads((phase2_main(cfg) / "metrics.json").read_text())
    assert "test_english_f1_macro" in metrics
    # the multi-seed confirmation: 3 seeds each, and the summary is their mean and std
    confirmation = json.loads((directory / "confirmation.json").read_text())
    for label in ("best", "default"):
        assert confirmation[label]["seeds"] == [1, 2, 3]
        runs = [tmp_path / "runs" / PHASE / f"sweep_study_{label}_seed{s}" for s in (1, 2, 3)]
        values = [json.loads((run / "metrics.json").read_text())["test_f1_macro"] for run in runs]
        assert confirmation[label]["test_f1_macro"]["values"] == values
        assert confirmation[label]["test_f1_macro"]["mean"] == pytest.approx(statistics.mean(values))
        assert confirmation[label]["test_f1_macro"]["std"] == pytest.approx(statistics.stdev(values))
    # experiments.md: the trials table, the verdict and the plots; the confirmation rows over 3 seeds
    from common.report import build_report

    text = build_report(tmp_path / "runs", tmp_path / "docs" / "experiments.md")
    block = text.split("<!-- START TABLE phase3_trials -->")[1].split("<!-- END TABLE phase3_trials -->")[0]
    assert "**Study `study`**" in block and block.count("| COMPLETE |") == 4 and "than two standard errors" in block
    assert all((tmp_path / "docs" / "figures" / f"{PHASE}_study_{name}").exists() for name in PLOTS)
    rows = [line for line in text.splitlines() if line.startswith("| sweep_study_")]
    assert len(rows) == 2 and all("| 3 (1, 2, 3) |" in row for row in rows)


def test_summary_and_comparison_arithmetic(tmp_path):
    def run(name, seed, f1):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"test_f1_macro": f1}))
        (tmp_path / name / "config.json").write_text(json.dumps({"config": {"seed": seed}}))
        return tmp_path / name

    best = summarize_seeds([run("b1", 1, 0.70), run("b2", 2, 0.72), run("b3", 3, 0.74)], ["test_f1_macro"])
    default = summarize_seeds([run("d1", 1, 0.60), run("d2", 2, 0.61), run("d3", 3, 0.62)], ["test_f1_macro"])
    assert best["test_f1_macro"]["mean"] == pytest.approx(0.72) and best["test_f1_macro"]["std"] == pytest.approx(0.02)
    result = compare(best, default)
    assert result["difference"] == pytest.approx(0.11)
    assert result["standard_error"] == pytest.approx(math.sqrt(0.02 ** 2 / 3 + 0.01 ** 2 / 3))
    assert result["gain_exceeds_two_standard_errors"] and result["welch_p_value"] < 0.05
    noisy = summarize_seeds([run("n1", 1, 0.55), run("n2", 2, 0.75), run("n3", 3, 0.65)], ["test_f1_macro"])
    assert not compare(noisy, default)["gain_exceeds_two_standard_errors"]


def test_study_files_load_and_their_points_are_valid():
    from common.config import config_to_dict
    from common.search_space import load_search_space
    from common.sweep_workers import SweepSpec, check_points
    from phase3_hp_tuning_xlm_roberta.config import STUDY_DIR

    base = {k: v for k, v in config_to_dict(Phase3Config()).items() if k not in ("run_name", "resume", "overwrite")}
    for path in sorted(STUDY_DIR.glob("*.yaml")):
        space = load_search_space(path, Phase3Config)
        check_points(SweepSpec(PHASE, str(path), base, None, None), Phase3Config, space)
        assert space.budget >= 4, path


def test_relative_adafactor_cannot_be_sampled_with_a_learning_rate(tmp_path):
    from common.search_space import load_search_space
    from common.sweep_workers import SweepSpec, check_points

    (tmp_path / "s.yaml").write_text("sampler: tpe\nn_trials: 5\nparams:\n  optimizer: [adamw, adafactor_relative]\n"
                                     "  learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}\n")
    space = load_search_space(tmp_path / "s.yaml", Phase3Config)
    with pytest.raises(ConfigError, match="list the combinations as grid `points`"):
        check_points(SweepSpec(PHASE, "", {}, None, None), Phase3Config, space)
    (tmp_path / "g.yaml").write_text("points:\n  - {optimizer: adafactor_relative, learning_rate: 1.0e-4}\n")
    with pytest.raises(ConfigError, match="grid point 0.*takes no learning rate"):
        check_points(SweepSpec(PHASE, "", {"lr_scheduler": "constant", "warmup_ratio": 0.0}, None, None),
                     Phase3Config, load_search_space(tmp_path / "g.yaml", Phase3Config))


def test_importances_of_a_flat_study_are_reported_undefined(tmp_path):
    import optuna

    from phase3_hp_tuning_xlm_roberta.plots import plot_param_importances

    study = optuna.create_study(direction="maximize")
    for lr in (1e-5, 1e-4):
        study.enqueue_trial({"learning_rate": lr})
        study.optimize(lambda trial: 0.5 + 0 * trial.suggest_float("learning_rate", 1e-6, 1e-3, log=True), n_trials=1)
    assert plot_param_importances(study, tmp_path / "imp.png") == {}
    assert (tmp_path / "imp.png").stat().st_size > 0


@pytest.mark.parametrize("p_value, beyond, verdict", [
    (0.068, True, "the criteria disagree: the gain is more than two standard errors, but p >= 0.05"),
    (0.01, True, "both criteria call the gain real"),
    (0.4, False, "both criteria call it seed noise"),
    (None, False, "the gain is not larger than two standard errors (no p-value)"),
])
def test_the_confirmation_sentence_says_when_its_two_criteria_disagree(p_value, beyond, verdict):
    from phase3_hp_tuning_xlm_roberta.tables import describe_confirmation

    comparison = {"difference": 0.05, "standard_error": 0.02, "welch_p_value": p_value,
                  "gain_exceeds_two_standard_errors": beyond}
    text = describe_confirmation(comparison, [42, 43, 44])
    assert verdict in text and "+0.0500 macro-F1, standard error 0.0200" in text


def test_each_study_file_has_its_own_trials_block():
    from phase3_hp_tuning_xlm_roberta.tables import BLOCKS, study_names

    names = {block.name for block in BLOCKS}
    assert "e5_optimizer_small_data" in study_names() and "lr_x_optimizer_small" in study_names()
    assert {f"phase3_trials_{name}" for name in study_names()} | {"phase3_trials", "phase3_claims"} == names


def write_optimizer_run(root, name, seed, scores, predictions):
    """A finished phase 3 run's records, as far as the optimizer tables read them."""
    from common.records import write_json

    run_dir = root / PHASE / name
    config = {"seed": seed, "run_name": name, "optimizer": "adamw", "learning_rate": 3e-5, "max_train_samples": 800,
              "model_name_or_path": "multilingual-e5-small", "dataset": "tweet_sentiment_multilingual"}
    write_json(run_dir / "config.json", {"config": config})
    write_json(run_dir / "metrics.json", {"test_f1_macro": sum(scores.values()) / len(scores), "labels": ["a", "b"],
                                          "groups": {"test": {k: {"f1_macro": v} for k, v in scores.items()}}})
    lines = ["label,prediction", *(f"{label},{prediction}" for label, prediction in predictions)]
    (run_dir / "predictions.csv").write_text("\n".join(lines) + "\n")


def test_the_claims_block_gives_spread_worst_language_and_paired_comparisons(tmp_path):
    from common.compare import compare_runs
    from phase3_hp_tuning_xlm_roberta.tables import render_claims

    gold = ["a", "b"] * 20
    good = list(zip(gold, gold[:30] + ["a"] * 10))
    weak = list(zip(gold, ["a"] * 40))
    for seed, (first, second) in {42: (0.6, 0.4), 43: (0.7, 0.3)}.items():
        write_optimizer_run(tmp_path / "runs", f"e5_small_adamw_seed{seed}", seed, {"arabic": first, "hindi": second},
                            good)
        write_optimizer_run(tmp_path / "runs", f"e5_small_adafactor_seed{seed}", seed, {"arabic": 0.5, "hindi": 0.5},
                            weak)
    block = render_claims(tmp_path / "runs", tmp_path / "experiments.md")
    adamw = next(line for line in block.splitlines() if line.startswith("| AdamW"))
    # test macro-F1 0.5 on both seeds; worst language 0.4 and 0.3: mean 0.35, std 0.0707, range 0.1
    assert "| 0.5000 ± 0.0000 (range 0.0000) | 0.3500 ± 0.0707 (range 0.1000) | hindi |" in adamw
    result = compare_runs(tmp_path / "runs" / PHASE / "e5_small_adamw_seed42",
                          tmp_path / "runs" / PHASE / "e5_small_adafactor_seed42")
    pair = next(line for line in block.splitlines() if line.startswith("| 1: AdamW vs Adafactor (both") and
                "| 42 |" in line)
    assert f"| {result['difference']:+.4f} |" in pair and f"| {result['p_value']:.4f} |" in pair
