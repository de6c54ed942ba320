"""Generate a synthetic financial chart + text sentiment data set (a stand-in for the
FinVis-GPT charts, which are not redistributable here).

Usage:
    python -m phase5_multimodal_financial_sentiment.make_synthetic --out data/synthetic_charts --n 3000 --seed 0
    python -m phase5_multimodal_financial_sentiment.train --preset concat --data_dir data/synthetic_charts

Each example is a price chart (candlestick or line, rendered with matplotlib from a
simulated price path) and a short headline, labelled negative, neutral or positive
(balanced). Only some modalities carry the label, so that neither alone is enough:

- `informative = text`:  the headline states the sentiment; the chart shows the trend of
  a randomly drawn label (right one time in three).
- `informative = image`: the chart's trend is the label (falling, flat or rising); the
  headline is label-free ("Shares of X over the last 40 sessions").
- `informative = both`:  both agree with the label.

So a text-only or image-only model can reach about 0.6 + 0.4 / 3 = 0.73 accuracy, and a
model that learns which modality to trust can approach 1. The manifest
(`manifest.csv`: text, image, label, split, plus `informative` and `chart` for analysis)
is the format every phase 5 data set uses. Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from common.plots import save_figure  # noqa: F401  (imported for its headless backend)
from common.records import atomic_write_text

LABELS = ("negative", "neutral", "positive")
INFORMATIVE = {"text": 0.4, "image": 0.4, "both": 0.2}
COMPANIES = ["Nordic Steel", "Baltic Shipping", "Helios Energy", "Aurora Bank", "Polar Foods", "Kestrel Telecom",
             "Fjord Pharma", "Vega Motors", "Lumen Retail", "Orion Mining", "Cobalt Software", "Harbor Insurance"]
CLEAR = {
    "positive": ["{c} shares surged after record quarterly profit", "{c} rallied as sales beat expectations",
                 "Investors cheered {c} after it raised its outlook", "{c} stock climbed on strong order growth"],
    "negative": ["{c} shares plunged after a profit warning", "{c} fell sharply as sales missed forecasts",
                 "Investors dumped {c} after it cut its outlook", "{c} stock slumped on weak demand"],
    "neutral": ["{c} shares were little changed ahead of results", "{c} traded flat as investors awaited news",
                "{c} stock was steady in quiet trading", "{c} held its ground with no new guidance"],
}
AMBIGUOUS = ["Shares of {c} over the last {n} sessions", "{c}: daily price chart for {n} trading days",
             "A look at {c} stock, {n} sessions", "Analysts review the {n}-day chart of {c}"]
TREND = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def vocabulary() -> set[str]:
    """Every word of the headlines (lower-cased), e.g. for a tiny test tokenizer."""
    return {w.lower() for template in [*AMBIGUOUS, *sum(CLEAR.values(), []), *COMPANIES]
            for w in template.replace(":", " ").replace(",", " ").replace("-", " ").split()}


def simulate_prices(rng: np.random.Generator, trend: str, days: int) -> np.ndarray:
    """Open/high/low/close per day of a path whose total log-return is 15-35% down, within
    3% of flat, or 15-35% up, with day-to-day noise."""
    total = TREND[trend] * rng.uniform(0.15, 0.35) if trend != "neutral" else rng.uniform(-0.03, 0.03)
    noise = rng.normal(0, rng.uniform(0.006, 0.015), days)
    log_close = np.cumsum(total / days + noise - noise.mean())  # the noise adds no drift of its own
    close = rng.uniform(20, 200) * np.exp(log_close)
    open_ = np.concatenate([[close[0] * np.exp(rng.normal(0, 0.005))], close[:-1]])
    spread = np.abs(rng.normal(0, 0.008, (2, days))) * close
    return np.stack([open_, np.maximum(open_, close) + spread[0], np.minimum(open_, close) - spread[1], close])


def draw_chart(prices: np.ndarray, kind: str, path: Path, size: int) -> None:
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    days = np.arange(prices.shape[1])
    if kind == "line":
        ax.plot(days, prices[3], color="#1f4e9c", linewidth=1.2)
    else:
        open_, high, low, close = prices
        colors = np.where(close >= open_, "#1a9850", "#d73027")
        ax.vlines(days, low, high, colors=colors, linewidth=0.6)
        ax.bar(days, np.abs(close - open_) + 1e-9, bottom=np.minimum(open_, close), color=colors, width=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(x=0.02, y=0.05)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_example(rng: np.random.Generator, index: int, label: str, image_dir: Path, size: int) -> dict:
    informative = rng.choice(list(INFORMATIVE), p=list(INFORMATIVE.values()))
    company, days = rng.choice(COMPANIES), int(rng.integers(30, 61))
    if informative == "image":
        text = rng.choice(AMBIGUOUS).format(c=company, n=days)
    else:
        text = rng.choice(CLEAR[label]).format(c=company)
    chart_trend = label if informative != "text" else rng.choice(LABELS)
    kind = "candlestick" if rng.random() < 0.5 else "line"
    image = f"images/{index:06d}.png"
    draw_chart(simulate_prices(rng, chart_trend, days), kind, image_dir.parent / image, size)
    return {"text": text, "image": image, "label": label, "informative": informative, "chart": kind,
            "chart_trend": chart_trend}


def make_dataset(out: Path, n: int, seed: int = 0, size: int = 128) -> Path:
    """Write `n` examples (balanced labels; split 80/10/10 at random) and their manifest."""
    out = Path(out)
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = [LABELS[i % len(LABELS)] for i in range(n)]
    rng.shuffle(labels)
    splits = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    splits[order[:n // 10]], splits[order[n // 10:n // 5]] = "validation", "test"
    rows = []
    for index, label in enumerate(tqdm(labels, desc="rendering charts", unit="chart")):
        rows.append({**make_example(rng, index, label, image_dir, size), "split": splits[index]})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["text", "image", "label", "split", "informative", "chart",
                                                "chart_trend"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "manifest.csv", buffer.getvalue())
    return out / "manifest.csv"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="Folder to write images/ and manifest.csv into.")
    parser.add_argument("--n", type=int, default=3000, help="Number of examples.")
    parser.add_argument("--seed", type=int, default=0, help="Seed: the same seed writes the same data set.")
    parser.add_argument("--size", type=int, default=128, help="Chart size in pixels (square).")
    args = parser.parse_args(argv)
    if args.n < 30:
        parser.error("--n must be at least 30 (10 per label and split)")
    print(f"wrote {make_dataset(Path(args.out), args.n, args.seed, args.size)}")


if __name__ == "__main__":
    main()
