"""Phase 5 steps of `python -m common.reproduce`: the synthetic chart data set, then the
text-only and image-only ablations and each fusion head; with `--data_root` (the real
data sets) also StockNet and StockEmotions: their manifests, the price baselines, and
the same five rows on each (and StockEmotions' published split and leaky charts, the
traps made visible); quick: 60 small charts, a tiny DistilBERT and a ResNet-18 at 32 px,
one epoch each."""
from __future__ import annotations

from pathlib import Path

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


# The real-data manifests: (name, builder, its keyword arguments, the data preset, the rows trained on it).
MARKET_DATA = (("stocknet", "stocknet", {}, "stocknet", PRESETS),
               ("stockemotions", "stockemotions", {"drop_undrawable": True}, "stockemotions", PRESETS),
               ("stockemotions_published", "stockemotions", {"drop_undrawable": True, "split": "published"},
                "stockemotions", ("text_only", "image_only")),
               ("stockemotions_including", "stockemotions", {"drop_undrawable": True, "chart_end": "including"},
                "stockemotions", ("image_only", "concat")))


def build_market(builder: str, source: Path, out: Path, options: dict) -> None:
    """A real-data manifest (the builders import numpy and PIL when the step runs)."""
    if builder == "stocknet":
        from phase5_multimodal_financial_sentiment.build_stocknet import build
    else:
        from phase5_multimodal_financial_sentiment.build_stockemotions import build
    build(source, out, **options)


def baseline_step(ctx: Context, name: str, manifest: Path, preset: str) -> Step:
    """The three price baselines of one manifest (price_baselines.py), done when all three are."""
    from phase5_multimodal_financial_sentiment.price_baselines import BASELINES

    def run() -> None:
        from phase5_multimodal_financial_sentiment.price_baselines import run_price_baseline

        for kind in BASELINES:
            run_price_baseline(kind, ["--data_dir", str(manifest.parent), "--preset", preset, "--output_dir",
                                      str(ctx.runs), "--device", ctx.device], f"{name}_")

    return Step(PHASE, f"{name} price baselines", lambda: all(
        (ctx.runs / PHASE / f"{name}_{kind}" / "metrics.json").exists() for kind in BASELINES), run)


def market_steps(ctx: Context, runner: Runner) -> list[Step]:
    """StockNet and StockEmotions from `--data_root` (nothing without it)."""
    if not ctx.data_root:
        return []
    plan = []
    for name, builder, options, preset, rows in MARKET_DATA:
        out = ctx.assets / name
        source = ctx.data_root / builder
        plan += [asset_step(PHASE, f"{name} manifest", out / "manifest.csv",
                            lambda builder=builder, source=source, out=out, options=options:
                            build_market(builder, source, out, options)),
                 baseline_step(ctx, name, out / "manifest.csv", preset),
                 *[train_step(runner, f"{name}_{row}_seed{seed}", ["--preset", f"{row},{preset}", "--seed", str(seed),
                                                                  "--data_dir", str(out)], ctx)
                   for row in rows for seed in ctx.seeds]]
    return plan


def steps(ctx: Context, runner: Runner) -> list[Step]:
    charts = ctx.assets / "charts"
    return [asset_step(PHASE, "synthetic charts (3000)", charts / "manifest.csv",
                       lambda: write_charts(charts, 3000, 128)),
            *[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed), "--data_dir",
                                                         str(charts), "--group_column", "informative"], ctx)
              for preset in PRESETS for seed in ctx.seeds],
            *market_steps(ctx, runner)]


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
