"""Phase 2 steps of `python -m common.reproduce`: each model in each setup (and a
TinyTransformer from scratch on its own BPE tokenizer), then each pretrained model's
learning-rate x batch-size grid; quick: the same on a tiny multilingual BERT and synthetic
tweets in three languages, with a two-point grid."""
from __future__ import annotations

from common.phases import Runner
from common.reproduce import Context, Step, asset_step, sweep_step, train_step
from common.sweep import sweep_cli
from common.random_encoders import write_tiny_bert
from phase2_multilingual_sentiment.config import PHASE, SWEEP_DIR
from phase2_multilingual_sentiment.synthetic import vocabulary, write_tweets

MODELS = ("xlmr", "mbert", "distilmbert")
SETUPS = ("multilingual", "zero_shot")
SCRATCH = ("tiny_bpe",)  # a small encoder from scratch on its own tokenizer: no hub model needed

QUICK_GRID = """study_name: quick_grid
sampler: grid
fixed: {epochs: 1}
params:
  learning_rate: [1.0e-3, 3.0e-3]
"""


def sweep(ctx: Context, runner: Runner, space: str, extra: list[str]) -> Step:
    name = space.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    argv = ["--space", space, "--output_dir", str(ctx.runs), "--device", ctx.device, *extra]
    study = name if not name.startswith("quick") else "quick_grid"
    return sweep_step(runner, f"sweep {name}", ctx.runs / PHASE / f"sweep_{study}",
                      lambda: sweep_cli(PHASE, argv), extra)


def steps(ctx: Context, runner: Runner) -> list[Step]:
    data = ctx.data_args("tweet_sentiment_multilingual")
    runs = [train_step(runner, f"{model}+{setup}_seed{seed}", ["--preset", f"{model},{setup}", "--seed", str(seed),
                                                              *data], ctx)
            for model in (*MODELS, *SCRATCH) for setup in SETUPS for seed in ctx.seeds]
    sweeps = [sweep(ctx, runner, str(SWEEP_DIR / f"{model}_grid.yaml"), ["--preset", model, *data]) for model in MODELS]
    return runs + sweeps


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model = ctx.assets / "tweets", ctx.assets / "tiny_bert_multilingual"
    space = ctx.assets / "phase2_quick_grid.yaml"
    tiny = ["--model_name_or_path", str(model), "--data_dir", str(data), "--languages", "english,french,german",
            "--batch_size", "16", "--max_length", "16", "--progress", "false"]
    runs = [train_step(runner, f"{setup}_seed{seed}", ["--preset", setup, "--seed", str(seed), "--epochs", "2",
                                                      "--learning_rate", "1e-3", *tiny], ctx)
            for setup in SETUPS for seed in ctx.seeds]
    scratch = train_step(runner, "tiny_bpe_seed42", ["--preset", "tiny_bpe", "--epochs", "2", "--tokenizer_vocab_size",
                                                     "300", *tiny[2:]], ctx)
    return [asset_step(PHASE, "synthetic tweets", data / "german" / "test_labels.txt", lambda: write_tweets(data)),
            asset_step(PHASE, "tiny multilingual BERT", model / "config.json",
                       lambda: write_tiny_bert(model, vocabulary())),
            asset_step(PHASE, "quick grid", space, lambda: space.write_text(QUICK_GRID)),
            *runs, scratch, sweep(ctx, runner, str(space), tiny)]
