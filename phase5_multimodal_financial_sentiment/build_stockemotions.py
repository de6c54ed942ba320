"""Build a phase 5 manifest from StockEmotions (Lee et al. 2023): StockTwits posts of 2020
with the poster's own bullish/bearish label, each beside a candlestick chart of its ticker.

Usage:
    python -m phase5_multimodal_financial_sentiment.build_stockemotions --data_dir ../shared/data/stockemotions \\
        --out data/stockemotions --drop_undrawable
    python -m phase5_multimodal_financial_sentiment.train --preset concat --data_dir data/stockemotions \\
        --labels bearish,bullish

One row per post of `tweet/{train,val,test}_stockemo.csv`: text = the post as written
(`original`), label = its `senti_label`, image = a chart of the `window` (30) trading days of
`price/<TICKER>.csv` before the post's trading day (`--chart_end before`, the default).
The files' `date` is one calendar day ahead of the US day the post was written (posts
cluster Tuesday to Saturday), so the post's day is `date` minus one day (`POST_DAY_OFFSET`).
Two traps of these files (the data README's check, confirmed here): the return of the
post's day agrees with the label for about 85% of posts (a coin's 50% for the day before
it), so a chart that includes that day (`--chart_end including`, only to show the leak)
hands the model the label; and the published split is random, so most test posts share
ticker and date with a training post (`--split published`); `--split date` (the default)
puts the earliest 80% of days in train, the next 10% in validation, the last 10% in test,
so no day is in two splits. `build.json` counts the test rows whose (ticker, date) a train
row also has.

Each row also carries `returns`, the last 5 daily returns the chart shows (the price
baselines' input). A post whose ticker has no trading day before its day (ABNB was listed on 2020-12-10; its
posts start 2020-12-07) cannot be drawn: an error naming the file and line, or, with
`--drop_undrawable`, left out and counted (under either chart end, so that the two builds
hold the same posts). Charts are cached by their prices (charts.py).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import DataError
from phase5_multimodal_financial_sentiment.charts import ChartCache
from phase5_multimodal_financial_sentiment.manifests import builder_parser, write_build
from phase5_multimodal_financial_sentiment.prices import Prices, last_returns, read_prices

FILES = {"train": "train_stockemo.csv", "validation": "val_stockemo.csv", "test": "test_stockemo.csv"}
REQUIRED = ("id", "date", "ticker", "senti_label", "original")
COLUMNS = ("text", "image", "label", "split", "published_split", "ticker", "date", "id", "returns")
CHART_ENDS = ("before", "including")
SPLITS = ("date", "published")
POST_DAY_OFFSET = dt.timedelta(days=1)  # `date` minus this is the day the post was written (see above)


def read_posts(data_dir: Path) -> list[dict]:
    """Every post of the three files, with its file and line (for errors) and its published split."""
    posts = []
    for split, name in FILES.items():
        path = data_dir / "tweet" / name
        if not path.is_file():
            raise DataError(f"{path}: missing (StockEmotions ships tweet/train_, val_ and test_stockemo.csv)")
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)  # a CSV parser: the posts hold newlines and emoji
            missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}:1: no column {', '.join(missing)} (columns: {reader.fieldnames})")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                try:
                    day = dt.date.fromisoformat(row["date"])
                except ValueError:
                    raise DataError(f"{where}: date {row['date']!r} is not YYYY-MM-DD") from None
                posts.append({**row, "day": day, "published_split": split, "where": where})
    return posts


def date_splits(days: Sequence[dt.date]) -> dict[dt.date, str]:
    """The earliest 80% of the distinct days -> train, the next 10% -> validation, the rest -> test."""
    ordered = sorted(set(days))
    first_val, first_test = int(len(ordered) * 0.8), int(len(ordered) * 0.9)
    return {day: "train" if i < first_val else "validation" if i < first_test else "test"
            for i, day in enumerate(ordered)}


def price_file(data_dir: Path, ticker: str) -> Path:
    return data_dir / "price" / f"{ticker.replace('.', '-')}.csv"  # BRK.B's prices are BRK-B.csv


def build(data_dir: Path, out: Path, window: int = 30, size: int = 64, chart_end: str = "before",
          split: str = "date", drop_undrawable: bool = False) -> dict:
    """Write `<out>/manifest.csv` and `<out>/build.json`; return the build record."""
    if chart_end not in CHART_ENDS or split not in SPLITS:
        raise DataError(f"chart_end must be one of {CHART_ENDS} and split one of {SPLITS}")
    started = time.perf_counter()
    data_dir, out = Path(data_dir), Path(out)
    posts = read_posts(data_dir)
    by_date = date_splits([post["day"] for post in posts])
    prices: dict[str, Prices] = {}
    cache, rows, dropped = ChartCache(out / "charts"), [], []
    out.mkdir(parents=True, exist_ok=True)
    for post in posts:
        ticker = post["ticker"]
        if ticker not in prices:
            prices[ticker] = read_prices(price_file(data_dir, ticker))
        written = post["day"] - POST_DAY_OFFSET
        try:  # a post stays only where the chart before its day exists: both chart ends keep the same posts
            ohlc = prices[ticker].before(written, window)
            if chart_end == "including":
                ohlc = prices[ticker].before(written, window, including=True)
        except DataError as exc:
            if not drop_undrawable:
                raise DataError(f"{post['where']}: {ticker} on {post['day']}: {exc}; pass --drop_undrawable to "
                                "leave such posts out (counted in build.json)") from None
            dropped.append(f"{ticker} {post['day']} (id {post['id']})")
            continue
        rows.append({"text": post["original"], "image": cache.path(ohlc, size).relative_to(out).as_posix(),
                     "label": post["senti_label"], "split": by_date[post["day"]] if split == "date" else
                     post["published_split"], "published_split": post["published_split"], "ticker": ticker,
                     "date": post["day"].isoformat(), "id": post["id"], "returns": last_returns(ohlc)})
    train_days = {(row["ticker"], row["date"]) for row in rows if row["split"] == "train"}
    counts = {name: {"rows": sum(row["split"] == name for row in rows),
                     "bullish": sum(row["split"] == name and row["label"] == "bullish" for row in rows),
                     "sharing_ticker_and_date_with_train": sum(row["split"] == name and (row["ticker"], row["date"])
                                                              in train_days for row in rows)}
              for name in FILES}
    record = {"builder": "stockemotions", "source": str(data_dir), "split": split, "chart_end": chart_end,
              "window_trading_days": window, "chart_size": size, "splits": counts, "dropped_undrawable": dropped}
    return write_build(out, COLUMNS, rows, record, cache, started)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = builder_parser(__doc__, "StockEmotions (tweet/, price/).", "before the post's day")
    parser.add_argument("--chart_end", default="before", choices=CHART_ENDS,
                        help="before: the chart ends the trading day before the post's day (its date minus one "
                             "day); including: it shows that day too (its move is the label about 85%% of the time: "
                             "only to show the leak).")
    parser.add_argument("--split", default="date", choices=SPLITS,
                        help="date: train, validation, test by date (80/10/10 of the days); published: the "
                             "files' random split.")
    parser.add_argument("--drop_undrawable", action="store_true",
                        help="Leave out posts with no trading day before their date (else an error).")
    args = parser.parse_args(argv)
    if args.window < 1 or args.size < 8:
        parser.error("--window must be at least 1 and --size at least 8")
    record = exit_on_bad_input(lambda: build(args.data_dir, args.out, args.window, args.size, args.chart_end,
                                             args.split, args.drop_undrawable))
    print(json.dumps(record["splits"]))
    print(f"{len(record['dropped_undrawable'])} posts left out (no chart); charts rendered "
          f"{record['charts_rendered']}, reused {record['charts_reused']} -> {args.out / 'manifest.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
