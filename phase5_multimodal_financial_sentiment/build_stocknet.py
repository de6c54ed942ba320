"""Build a phase 5 manifest from the StockNet release (Xu and Cohen 2018, "Stock Movement
Prediction from Tweets and Historical Prices"): one row per (stock, target day) that the
authors' rule keeps, with the stock's tweets of the days before as the text and a
candlestick chart of the trading days before as the image; the label is the target day's
movement, up or down (not a sentiment).

Usage:
    python -m phase5_multimodal_financial_sentiment.build_stocknet --data_dir ../shared/data/stocknet \
        --out data/stocknet
    python -m phase5_multimodal_financial_sentiment.train --preset concat --data_dir data/stocknet --labels down,up

The task as its authors' code defines it (`stocknet-code`, `src/config.yml`, `src/DataPipe.py`):
- a stock-day is a target when its movement percent (column 2 of `price/preprocessed/<SYM>.txt`,
  the change of the adjusted close) is >= 0.0055 (up) or < -0.005 (down); days in between
  are dropped;
- the text is the stock's tweets dated in the `tweet_days` (5) calendar days before the target
  day (nothing dated on or after it), at most 30 a day, duplicates dropped, oldest first, and
  at most `max_tweets` in all (the cap is recorded); a row whose window has no tweet gets the
  text `NO_TWEETS` (a manifest's text cannot be empty) and `has_tweet` 0;
- split by the authors' dates: train from 2014-01-01, validation from 2015-08-01, test from
  2015-10-01 to 2016-01-01.
The image is a candlestick chart of the `window` (30) trading days before the target day,
from `price/raw/<SYM>.csv` with open, high and low scaled by Adj Close / Close (splits and
dividends, as the movement is), so the target day is never drawn (common to all rows: the
chart's own scale, no axis). Charts are cached by their prices (charts.py): a rebuild renders
nothing. Writes `<out>/manifest.csv` (text, image, label, split, ticker, date, has_tweet,
movement, and `returns`: the last 5 daily returns the chart shows, oldest first, the price
baselines' input) and `<out>/build.json` (settings, counts, seconds, charts per second) only once
everything was read and drawn; bad input (a missing price file, a tweet file that is not JSON
lines, a target day outside the price file's range) is an error naming the file and line.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from tqdm.auto import tqdm

from common.cli import exit_on_bad_input
from common.errors import DataError
from phase5_multimodal_financial_sentiment.charts import ChartCache
from phase5_multimodal_financial_sentiment.manifests import builder_parser, write_build
from phase5_multimodal_financial_sentiment.prices import last_returns, read_prices

UP, DOWN = 0.0055, -0.005  # the authors' movement thresholds (config.yml: y_threshold)
START, VAL_START, TEST_START, END = (dt.date(2014, 1, 1), dt.date(2015, 8, 1), dt.date(2015, 10, 1),
                                     dt.date(2016, 1, 1))
TWEETS_PER_DAY = 30  # config.yml: max_n_msgs
LABELS = ("down", "up")
NO_TWEETS = "[no tweets in the days before]"  # the text of a row whose window holds none
COLUMNS = ("text", "image", "label", "split", "ticker", "date", "has_tweet", "movement", "returns")


def read_movements(path: Path) -> dict[dt.date, float]:
    """`price/preprocessed/<SYM>.txt` (tab-separated, newest first): date -> movement percent."""
    if not path.is_file():
        raise DataError(f"{path}: preprocessed price file missing")
    movements = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            try:
                movements[dt.date.fromisoformat(parts[0])] = float(parts[1])
            except (ValueError, IndexError):
                raise DataError(f"{path}:{number}: not a 'date<TAB>movement<TAB>...' row ({line.strip()!r})") from None
    return movements


def read_tweets(path: Path) -> list[tuple[str, str]]:
    """One day's file of `tweet/preprocessed/<SYM>/<date>` (JSON lines): (created_at, text),
    the text's tokens joined by spaces, at most TWEETS_PER_DAY, in file order."""
    tweets = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                tokens, created = record["text"], record["created_at"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DataError(f"{path}:{number}: not a JSON line with 'text' and 'created_at'") from None
            tweets.append((created, " ".join(tokens) if isinstance(tokens, list) else str(tokens)))
    return tweets[:TWEETS_PER_DAY]


def tweet_time(created_at: str) -> dt.datetime:
    return dt.datetime.strptime(created_at, "%a %b %d %H:%M:%S %z %Y")


def window_text(folder: Path, day: dt.date, days: int, max_tweets: int) -> tuple[str, int]:
    """The stock's tweets of the `days` calendar days before `day`, deduplicated, oldest first,
    at most `max_tweets`, one per line; and how many there were before the cap."""
    tweets = []
    for back in range(days, 0, -1):
        path = folder / (day - dt.timedelta(days=back)).isoformat()
        if path.is_file():
            tweets += day_tweets(path)
    seen, texts = set(), []
    for _, text in sorted(tweets, key=lambda tweet: tweet_time(tweet[0])):
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return "\n".join(texts[-max_tweets:] if max_tweets else texts), len(texts)


@lru_cache(maxsize=4096)
def day_tweets(path: Path) -> tuple[tuple[str, str], ...]:
    return tuple(read_tweets(path))


def split_of(day: dt.date) -> Optional[str]:
    if START <= day < VAL_START:
        return "train"
    if VAL_START <= day < TEST_START:
        return "validation"
    if TEST_START <= day < END:
        return "test"
    return None


def symbols_of(data_dir: Path) -> list[str]:
    """The release's stocks: those with a preprocessed price file."""
    folder = data_dir / "price" / "preprocessed"
    if not folder.is_dir():
        raise DataError(f"{data_dir}: no price/preprocessed/ folder: not the StockNet release")
    return sorted(path.stem for path in folder.glob("*.txt"))


def build_rows(data_dir: Path, out: Path, window: int, size: int, tweet_days: int, max_tweets: int,
               symbols: Optional[Sequence[str]] = None, progress: bool = True
               ) -> tuple[list[dict], ChartCache, dict[str, int]]:
    """Every kept stock-day as a manifest row, charts drawn (or found) under `<out>/charts`,
    and per stock the days its price file leaves without prices."""
    cache, rows, null_days = ChartCache(out / "charts"), [], {}
    for symbol in tqdm(symbols or symbols_of(data_dir), desc="stocks", disable=not progress):
        movements = read_movements(data_dir / "price" / "preprocessed" / f"{symbol}.txt")
        prices = read_prices(data_dir / "price" / "raw" / f"{symbol}.csv")
        if prices.null_days:
            null_days[symbol] = prices.null_days
        tweets = data_dir / "tweet" / "preprocessed" / symbol
        for day in sorted(movements):
            movement, split = movements[day], split_of(day)
            if split is None or DOWN <= movement < UP:
                continue
            text, count = window_text(tweets, day, tweet_days, max_tweets)
            ohlc = prices.before(day, window)
            chart = cache.path(ohlc, size)
            rows.append({"text": text or NO_TWEETS, "image": chart.relative_to(out).as_posix(),
                         "label": LABELS[movement >= UP], "split": split, "ticker": symbol,
                         "date": day.isoformat(), "has_tweet": int(count > 0), "movement": movement,
                         "returns": last_returns(ohlc)})
    return rows, cache, null_days


def describe_rows(rows: Sequence[dict]) -> dict:
    counts: dict = {}
    for row in rows:
        entry = counts.setdefault(row["split"], {"rows": 0, "up": 0, "without_tweet": 0, "days": set()})
        entry["rows"] += 1
        entry["up"] += row["label"] == "up"
        entry["without_tweet"] += not row["has_tweet"]
        entry["days"].add(row["date"])
    return {split: {**entry, "days": len(entry["days"]), "up_share": round(entry["up"] / entry["rows"], 4)}
            for split, entry in counts.items()}


def build(data_dir: Path, out: Path, window: int = 30, size: int = 64, tweet_days: int = 5, max_tweets: int = 30,
          symbols: Optional[Sequence[str]] = None, progress: bool = True) -> dict:
    """Write `<out>/manifest.csv` and `<out>/build.json`; return the build record."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rows, cache, null_days = build_rows(Path(data_dir), out, window, size, tweet_days, max_tweets, symbols,
                                        progress)
    record = {"builder": "stocknet", "source": str(data_dir), "window_trading_days": window, "chart_size": size,
              "tweet_days": tweet_days, "max_tweets": max_tweets, "tweets_per_day": TWEETS_PER_DAY,
              "thresholds": {"up": UP, "down": DOWN}, "splits": describe_rows(rows),
              "price_days_without_prices": null_days}
    return write_build(out, COLUMNS, rows, record, cache, started)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = builder_parser(__doc__, "The StockNet release (price/, tweet/).", "before the target")
    parser.add_argument("--tweet_days", type=int, default=5, help="Calendar days of tweets before the target.")
    parser.add_argument("--max_tweets", type=int, default=30, help="Most tweets in a row's text (the newest).")
    parser.add_argument("--symbols", default=None, help="Comma-separated stocks (default: all).")
    args = parser.parse_args(argv)
    for name in ("window", "size", "tweet_days", "max_tweets"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    record = exit_on_bad_input(lambda: build(args.data_dir, args.out, args.window, args.size, args.tweet_days,
                                             args.max_tweets, args.symbols.split(",") if args.symbols else None))
    print(json.dumps(record["splits"]))
    print(f"{sum(s['rows'] for s in record['splits'].values())} rows in {record['seconds']} s; charts rendered "
          f"{record['charts_rendered']}, reused {record['charts_reused']} -> {args.out / 'manifest.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
