"""Phase 1 steps of `python -m common.reproduce`: one run per preset (each a row of the
phase 1 tables); quick: the same presets on a tiny DistilBERT and a synthetic PhraseBank."""
from __future__ import annotations

from common.phases import Runner
from common.reproduce import Context, Step, asset_step, train_step
from common.tiny_models import write_tiny_bert
from phase1_financial_phrasebank.config import PHASE, PRESET_DIR
from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, vocabulary, write_phrasebank

PRESETS = sorted(path.stem for path in PRESET_DIR.glob("*.json"))


def steps(ctx: Context, runner: Runner) -> list[Step]:
    return [train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed),
                                                       *ctx.data_args("financial_phrasebank")], ctx)
            for preset in PRESETS for seed in ctx.seeds]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model = ctx.assets / "phrasebank", ctx.assets / "tiny_distilbert_phrasebank"
    levels = synthetic_phrasebank()
    tiny = ["--model_name_or_path", str(model), "--data_dir", str(data), "--epochs", "1", "--batch_size", "16",
            "--max_length", "32", "--learning_rate", "1e-3", "--progress", "false"]
    return [asset_step(PHASE, "synthetic PhraseBank", data / "Sentences_AllAgree.txt",
                       lambda: write_phrasebank(data, levels)),
            asset_step(PHASE, "tiny DistilBERT", model / "config.json", lambda: write_tiny_bert(model, vocabulary(levels))),
            *[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed), *tiny], ctx)
              for preset in PRESETS for seed in ctx.seeds]]
