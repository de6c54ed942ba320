"""Candlestick charts per second: phase 5's renderer (numpy straight into an array, then a
PNG) against the same chart drawn with matplotlib (one figure per chart, saved as PNG), on
windows of real StockNet prices; and the whole StockNet build (every stock-day of the
release: reading, windows, charts), once from an empty chart cache and once again (every
chart found in the cache).

Usage:
    python benchmarks/charts.py --data_dir ../shared/data/stocknet
    python benchmarks/charts.py --data_dir ../shared/data/stocknet --n 300 --size 64 --output_dir runs

Writes `<output_dir>/benchmarks/charts.json` (rendered by `python -m common.report`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from common.records import collect_env, write_json  # noqa: E402
from phase5_multimodal_financial_sentiment.build_stocknet import build  # noqa: E402
from phase5_multimodal_financial_sentiment.prices import read_prices  # noqa: E402
from phase5_multimodal_financial_sentiment.charts import ChartCache  # noqa: E402


def matplotlib_chart(ohlc: np.ndarray, size: int, path: Path) -> None:
    """The same candlesticks with matplotlib: wicks as vlines, bodies as bars, no axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1), dpi=size)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_axis_off()
    x = np.arange(len(ohlc))
    colours = np.where(ohlc[:, 3] >= ohlc[:, 0], "#26a65b", "#d62728")
    axes.vlines(x, ohlc[:, 2], ohlc[:, 1], colors=colours, linewidth=0.5)
    axes.bar(x, ohlc[:, 3] - ohlc[:, 0], bottom=ohlc[:, 0], color=colours, width=0.8)
    axes.set_xlim(-0.5, len(ohlc) - 0.5)
    figure.savefig(path, dpi=size)
    plt.close(figure)


def windows(data_dir: Path, n: int, window: int) -> list[np.ndarray]:
    """`n` windows of real adjusted prices, from every stock in turn."""
    files = sorted((data_dir / "price" / "raw").glob("*.csv"))
    prices = [read_prices(path) for path in files]
    chosen = []
    for i in range(n):
        stock = prices[i % len(prices)]
        end = window + (i * 7919) % (len(stock.ohlc) - window)
        chosen.append(stock.ohlc[end - window:end])
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, type=Path, help="The StockNet release.")
    parser.add_argument("--n", type=int, default=500, help="Charts per renderer.")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args()
    chosen = windows(args.data_dir, args.n, args.window)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        cache = ChartCache(work / "ours")
        started = time.perf_counter()
        for ohlc in chosen:
            cache.path(ohlc, args.size)
        ours = time.perf_counter() - started
        (work / "mpl").mkdir()
        started = time.perf_counter()
        for i, ohlc in enumerate(chosen):
            matplotlib_chart(ohlc, args.size, work / "mpl" / f"{i}.png")
        theirs = time.perf_counter() - started
        rows += [{"what": "numpy into an array, PNG (phase 5)", "charts drawn": args.n, "seconds": round(ours, 2),
                  "charts/s": round(args.n / ours, 1), "x matplotlib": round(theirs / ours, 1)},
                 {"what": "matplotlib figure per chart, PNG", "charts drawn": args.n, "seconds": round(theirs, 2),
                  "charts/s": round(args.n / theirs, 1), "x matplotlib": 1.0}]
        for label in ("whole StockNet build (every stock-day), empty chart cache",
                      "the same build again (every chart in the cache)"):
            started = time.perf_counter()
            record = build(args.data_dir, work / "build", args.window, args.size, progress=False)
            seconds = time.perf_counter() - started
            drawn = record["charts_rendered"]
            rows.append({"what": f"{label}: {sum(s['rows'] for s in record['splits'].values())} rows",
                         "charts drawn": drawn, "seconds": round(seconds, 1),
                         "charts/s": round(drawn / seconds, 1) if drawn else None, "x matplotlib": None})
    env = collect_env(__import__("torch").device("cpu"))
    result = {"title": "Phase 5: candlestick charts per second (StockNet prices)",
              "setup": {"device": f"CPU ({env['cpu_count']} cores)", "chart": f"{args.size} px, {args.window} days",
                        "date": env["started_at"][:10]}, "rows": rows}
    write_json(Path(args.output_dir) / "benchmarks" / "charts.json", result)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
