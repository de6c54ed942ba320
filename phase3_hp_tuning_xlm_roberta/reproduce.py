"""Phase 3 steps of `python -m common.reproduce`: every XLM-R study in studies/ (each with
its multi-seed confirmation); quick: one small random study on a tiny multilingual BERT and
the synthetic tweets of phase 2's quick steps."""
from __future__ import annotations

from pathlib import Path

from common.phases import Runner
from common.reproduce import Context, Step, asset_step, sweep_step
from common.random_encoders import write_tiny_bert
from phase2_multilingual_sentiment.synthetic import vocabulary, write_tweets
from phase3_hp_tuning_xlm_roberta.config import PHASE, STUDY_DIR

CPU_ONLY = {"lr_x_optimizer_small"}  # the CPU stand-in study, run by hand with a local model
QUICK_STUDY = """study_name: quick_random
sampler: random
n_trials: 4
seed: 3
pruner: none
fixed: {epochs: 2}
params:
  learning_rate: {low: 3.0e-3, high: 3.0e-2, log: true}
  optimizer: [adamw, adafactor]
  lr_scheduler: [linear, cosine]
  warmup_ratio: {low: 0.0, high: 0.2}
  weight_decay: [0.0, 0.1]
"""


def study_step(ctx: Context, runner: Runner, space: Path, name: str, extra: list[str]) -> Step:
    """A study with its confirmation; done once study_report.json exists."""
    report = ctx.runs / PHASE / f"sweep_{name}" / "study_report.json"
    argv = ["--space", str(space), "--output_dir", str(ctx.runs), "--device", ctx.device,
            "--confirm_seeds", ",".join(map(str, ctx.seeds if len(ctx.seeds) >= 3 else [42, 43, 44])), *extra]

    def run() -> None:
        from phase3_hp_tuning_xlm_roberta.study import run_study  # optuna, scipy, matplotlib: when it runs

        run_study(argv)

    step = sweep_step(runner, f"study {name}", report.parent, run, extra)
    step.done = report.exists
    return step


def steps(ctx: Context, runner: Runner) -> list[Step]:
    return [study_step(ctx, runner, path, path.stem, ctx.data_args("tweet_sentiment_multilingual"))
            for path in sorted(STUDY_DIR.glob("*.yaml")) if path.stem not in CPU_ONLY]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model, space = ctx.assets / "tweets", ctx.assets / "tiny_bert_multilingual", ctx.assets / "phase3_quick.yaml"
    tiny = ["--model_name_or_path", str(model), "--data_dir", str(data), "--languages", "english,french",
            "--max_length", "16", "--batch_size", "16", "--progress", "false"]
    return [asset_step(PHASE, "synthetic tweets", data / "german" / "test_labels.txt", lambda: write_tweets(data)),
            asset_step(PHASE, "tiny multilingual BERT", model / "config.json",
                       lambda: write_tiny_bert(model, vocabulary())),
            asset_step(PHASE, "quick study", space, lambda: space.write_text(QUICK_STUDY)),
            study_step(ctx, runner, space, "quick_random", tiny)]
