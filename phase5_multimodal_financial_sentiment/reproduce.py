"""Phase 5 steps of `python -m common.reproduce`: the synthetic chart data set, then the
text-only and image-only ablations and each fusion head; quick: 60 small charts, a tiny
DistilBERT and a ResNet-18 at 32 px, one epoch each."""
from __future__ import annotations

from common.phases import Runner
from common.reproduce import Context, Step, asset_step, train_step
from common.random_encoders import write_tiny_bert
from phase5_multimodal_financial_sentiment.config import PHASE

PRESETS = ("text_only", "image_only", "concat", "gated", "attention")


def write_charts(folder, n: int, size: int) -> None:
    """The synthetic chart data set (make_synthetic, with matplotlib, is imported when the step runs, not
    when `--check` lists the steps)."""
    from phase5_multimodal_financial_sentiment.make_synthetic import make_dataset

    make_dataset(folder, n=n, seed=0, size=size)


def write_tiny_chart_bert(folder) -> None:
    """A tiny DistilBERT whose vocabulary is the synthetic captions' words."""
    from phase5_multimodal_financial_sentiment.make_synthetic import vocabulary

    write_tiny_bert(folder, vocabulary())


def steps(ctx: Context, runner: Runner) -> list[Step]:
    charts = ctx.assets / "charts"
    return [asset_step(PHASE, "synthetic charts (3000)", charts / "manifest.csv",
                       lambda: write_charts(charts, 3000, 128)),
            *[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed), "--data_dir",
                                                         str(charts), "--group_column", "informative"], ctx)
              for preset in PRESETS for seed in ctx.seeds]]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    charts, model = ctx.assets / "charts_quick", ctx.assets / "tiny_bert_charts"
    tiny = ["--model_name_or_path", str(model), "--data_dir", str(charts), "--image_size", "32", "--epochs", "1",
            "--batch_size", "16", "--max_length", "24", "--progress", "false"]
    return [asset_step(PHASE, "synthetic charts (60)", charts / "manifest.csv",
                       lambda: write_charts(charts, 60, 48)),
            asset_step(PHASE, "tiny DistilBERT", model / "config.json", lambda: write_tiny_chart_bert(model)),
            *[train_step(runner, f"{preset}_seed{seed}", ["--preset", f"{preset},synthetic_cpu", "--seed", str(seed),
                                                         *tiny], ctx)
              for preset in PRESETS for seed in ctx.seeds]]
