"""The StockNet builder (phase5 build_stocknet.py) on a replica of the release's layout the
tests write (price/raw CSV oldest first, price/preprocessed TSV newest first, tweets as JSON
lines per stock and day), the charts drawn into arrays (charts.py), and the real release
under DATA_DIR: the authors' test set of 3,720 stock-days."""
from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pytest
from PIL import Image

from common.errors import DataError
from phase5_multimodal_financial_sentiment.build_stocknet import NO_TWEETS, build
from phase5_multimodal_financial_sentiment.prices import read_prices
from phase5_multimodal_financial_sentiment.charts import DOWN, UP, ChartCache, render_candlesticks

DAYS = [dt.date(2015, 7, 1) + dt.timedelta(days=i) for i in range(120) if (dt.date(2015, 7, 1)
                                                                          + dt.timedelta(days=i)).weekday() < 5]


def write_release(root, movements: dict, tweets: dict, symbol="ABC", split_on=None):
    """price/raw (a 2-for-1 split halves Close but not Adj Close before `split_on`), price/preprocessed
    (newest first) and tweet/preprocessed/<symbol>/<date> JSON lines."""
    (root / "price" / "raw").mkdir(parents=True, exist_ok=True)
    (root / "price" / "preprocessed").mkdir(parents=True, exist_ok=True)
    with open(root / "price" / "raw" / f"{symbol}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
        for i, day in enumerate(DAYS):
            close = 100 + i
            factor = 2 if split_on and day < split_on else 1  # raw prices before a split are twice as high
            writer.writerow([day, (close - 1) * factor, (close + 2) * factor, (close - 3) * factor, close * factor,
                             close, 1000])
        writer.writerow(["2015-12-31", "null", "null", "null", "null", "null", "null"])
    lines = [f"{day}\t{movement}\t0\t0\t0\t0\t0" for day, movement in sorted(movements.items(), reverse=True)]
    (root / "price" / "preprocessed" / f"{symbol}.txt").write_text("\n".join(lines) + "\n")
    for day, texts in tweets.items():
        folder = root / "tweet" / "preprocessed" / symbol
        folder.mkdir(parents=True, exist_ok=True)
        (folder / day.isoformat()).write_text("".join(
            json.dumps({"text": text.split(), "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                        "user_id_str": "1"}) + "\n" for created, text in texts))
    return root


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour)


def read_manifest(out):
    with open(out / "manifest.csv", newline="") as handle:
        return {row["date"]: row for row in csv.DictReader(handle)}


def test_rows_follow_the_authors_rule_and_never_see_the_target_day(tmp_path):
    target = dt.date(2015, 9, 8)  # validation (2015-08-01 .. 2015-10-01)
    movements = {target: 0.0055, dt.date(2015, 9, 9): 0.002, dt.date(2015, 9, 10): -0.005,
                 dt.date(2015, 9, 18): -0.0051, dt.date(2015, 10, 5): 0.01, dt.date(2015, 7, 30): -0.02}
    tweets = {target - dt.timedelta(days=1): [(at(target - dt.timedelta(days=1), 15), "later news"),
                                              (at(target - dt.timedelta(days=1), 9), "early news"),
                                              (at(target - dt.timedelta(days=1), 10), "early news")],
              target - dt.timedelta(days=6): [(at(target - dt.timedelta(days=6), 9), "too old")],
              target: [(at(target, 9), "the day itself")]}
    out = tmp_path / "out"
    record = build(write_release(tmp_path / "release", movements, tweets, split_on=dt.date(2015, 8, 3)), out,
                   window=10, size=32, progress=False)
    rows = read_manifest(out)
    # 0.0055 is up, -0.005 and 0.002 are dropped, -0.0051 is down; each date goes to the authors' split
    assert set(rows) == {"2015-09-08", "2015-09-18", "2015-10-05", "2015-07-30"}
    assert rows["2015-09-08"]["label"] == "up" and rows["2015-09-18"]["label"] == "down"
    assert [rows[d]["split"] for d in ("2015-07-30", "2015-09-08", "2015-10-05")] == ["train", "validation", "test"]
    # the 5 calendar days before: deduplicated, oldest first; neither the day itself nor the 6th day back
    assert rows["2015-09-08"]["text"] == "early news\nlater news" and rows["2015-09-08"]["has_tweet"] == "1"
    assert rows["2015-09-18"]["has_tweet"] == "0" and rows["2015-09-18"]["text"] == NO_TWEETS
    # the chart: the 10 trading days before the target, split-adjusted, the target day not drawn
    prices = read_prices(tmp_path / "release" / "price" / "raw" / "ABC.csv")
    assert prices.null_days == 1
    window = prices.before(target, 10)
    assert len(window) == 10 and window[-1, 3] == 100 + DAYS.index(target) - 1
    drawn = np.asarray(Image.open(out / rows["2015-09-08"]["image"]))
    assert np.array_equal(drawn, render_candlesticks(window, 32))
    assert record["splits"]["validation"]["rows"] == 2 and record["price_days_without_prices"] == {"ABC": 1}


def test_prices_before_a_split_are_adjusted(tmp_path):
    release = write_release(tmp_path, {dt.date(2015, 9, 8): 0.01}, {}, split_on=dt.date(2015, 8, 3))
    prices = read_prices(release / "price" / "raw" / "ABC.csv")
    before, after = DAYS.index(dt.date(2015, 7, 31)), DAYS.index(dt.date(2015, 8, 3))
    # adjusted open is (close - 1) on both sides of the split, though the raw one is doubled before it
    assert prices.ohlc[before, 0] == pytest.approx(100 + before - 1)
    assert prices.ohlc[after, 0] == pytest.approx(100 + after - 1)


def test_a_rebuild_renders_no_chart(tmp_path):
    release = write_release(tmp_path / "release", {dt.date(2015, 9, 8): 0.01, dt.date(2015, 9, 9): -0.01}, {})
    first = build(release, tmp_path / "out", window=5, size=16, progress=False)
    second = build(release, tmp_path / "out", window=5, size=16, progress=False)
    assert first["charts_rendered"] == 2 and second["charts_rendered"] == 0 and second["charts_reused"] == 2


def test_candles_are_green_up_and_red_down_with_wicks():
    image = render_candlesticks(np.array([[10, 12, 9, 11], [11, 11.5, 8, 8.5]]), 20)
    left, right = image[:, :10].reshape(-1, 3), image[:, 10:].reshape(-1, 3)
    assert (left == UP).all(-1).any() and not (left == DOWN).all(-1).any()
    assert (right == DOWN).all(-1).any() and not (right == UP).all(-1).any()
    assert (image[0] != 255).any() and (image[-1] != 255).any()  # the window's high and low are drawn
    with pytest.raises(ValueError, match="finite"):
        render_candlesticks(np.array([[1, np.nan, 1, 1]]), 8)


def test_cache_key_is_the_prices_and_the_size(tmp_path):
    cache, ohlc = ChartCache(tmp_path), np.array([[1.0, 2.0, 0.5, 1.5]])
    assert cache.path(ohlc, 16) == cache.path(ohlc.copy(), 16) != cache.path(ohlc, 32)
    assert cache.path(ohlc + 1e-9, 16) != cache.path(ohlc, 16)
    assert cache.rendered == 3 and cache.reused == 2


@pytest.mark.parametrize("damage, match", [
    ("no price file", r"price/raw/ABC.csv: price file missing"),
    ("tweet line", r"2015-09-07:2: not a JSON line"),
    ("outside range", r"outside the price range"),
])
def test_bad_input_names_the_file_and_line_and_writes_no_manifest(tmp_path, damage, match):
    target = dt.date(2015, 9, 8) if damage != "outside range" else dt.date(2015, 1, 5)
    release = write_release(tmp_path / "release", {target: 0.01},
                            {dt.date(2015, 9, 7): [(at(dt.date(2015, 9, 7), 9), "fine")]})
    if damage == "no price file":
        (release / "price" / "raw" / "ABC.csv").unlink()
    if damage == "tweet line":
        with open(release / "tweet" / "preprocessed" / "ABC" / "2015-09-07", "a") as handle:
            handle.write("not json\n")
    with pytest.raises(DataError, match=match):
        build(release, tmp_path / "out", window=5, size=16, progress=False)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_real_stocknet_test_split_is_the_authors(real_data_dir, tmp_path):
    """The release's own test set: 3,720 stock-days over 64 trading days, 51.3% up, 1,088
    without a tweet in their window (the data README's figures)."""
    if not (real_data_dir / "stocknet").is_dir():
        pytest.skip("no stocknet/ under DATA_DIR")
    record = build(real_data_dir / "stocknet", tmp_path / "out", window=30, size=32, progress=False)
    test = record["splits"]["test"]
    assert (test["rows"], test["days"], test["up_share"], test["without_tweet"]) == (3720, 64, 0.5129, 1088)
    assert record["splits"]["validation"]["without_tweet"] == 684


# --- StockEmotions ------------------------------------------------------------------------------------------


def write_stockemotions(root, posts: dict):
    """tweet/{train,val,test}_stockemo.csv (posts: split -> [(date, ticker, label, text)]) and
    price/<TICKER>.csv of AAPL and BRK-B (a ticker written BRK.B in the posts)."""
    from phase5_multimodal_financial_sentiment.build_stockemotions import FILES

    (root / "tweet").mkdir(parents=True)
    (root / "price").mkdir()
    number = 100000
    for split, name in FILES.items():
        with open(root / "tweet" / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "date", "ticker", "emo_label", "senti_label", "original", "processed"])
            for day, ticker, label, text in posts.get(split, []):
                number += 1
                writer.writerow([number, day, ticker, "excitement", label, text, text])
    for ticker in ("AAPL", "BRK-B"):
        with open(root / "price" / f"{ticker}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
            for i, day in enumerate(d for d in DAYS if d >= dt.date(2015, 9, 1)):
                close = 11 + i + 4 * (i % 2)  # a zigzag: every window looks different on its own scale
                writer.writerow([day, close - 1, close + 2, close - 2, close, close, 1])
    return root


def test_stockemotions_charts_end_before_the_post_and_the_date_split_shares_no_day(tmp_path):
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions

    days = [d for d in DAYS if d >= dt.date(2015, 9, 3)][:10]
    posts = {"train": [(days[i].isoformat(), "AAPL" if i % 2 else "BRK.B", "bullish" if i % 3 else "bearish",
                        f"post {i} 🚀\nsecond line") for i in range(10)],
             "validation": [(days[0].isoformat(), "BRK.B", "bearish", "same day as a training post")],
             "test": [(days[9].isoformat(), "AAPL", "bullish", "last day")]}
    root = write_stockemotions(tmp_path / "release", posts)
    before = build_emotions(root, tmp_path / "before", window=5, size=16)
    with open(tmp_path / "before" / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["text"] == "post 0 🚀\nsecond line" and {r["ticker"] for r in rows} == {"AAPL", "BRK.B"}
    splits_of_day = {}
    for row in rows:
        splits_of_day.setdefault(row["date"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in splits_of_day.values())  # no day in two splits
    assert before["splits"]["test"]["sharing_ticker_and_date_with_train"] == 0
    published = build_emotions(root, tmp_path / "published", window=5, size=16, split="published")
    assert published["splits"]["validation"]["sharing_ticker_and_date_with_train"] == 1
    # `including` draws the post's own day: the last candle is that day's, which `before` never shows
    prices = read_prices(root / "price" / "AAPL.csv")
    last = next(r for r in rows if r["date"] == days[9].isoformat())
    drawn = np.asarray(Image.open(tmp_path / "before" / last["image"]))
    assert np.array_equal(drawn, render_candlesticks(prices.before(days[9], 5), 16))
    assert not np.array_equal(drawn, render_candlesticks(prices.before(days[9], 5, including=True), 16))


def test_stockemotions_post_without_prices_before_it_is_an_error_or_dropped(tmp_path):
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions

    first = min(d for d in DAYS if d >= dt.date(2015, 9, 1))
    posts = {"train": [(first.isoformat(), "AAPL", "bullish", "before any price"),
                       ((first + dt.timedelta(days=7)).isoformat(), "AAPL", "bearish", "fine")]}
    root = write_stockemotions(tmp_path / "release", posts)
    with pytest.raises(DataError, match=r"train_stockemo.csv:2: AAPL on .*--drop_undrawable"):
        build_emotions(root, tmp_path / "out", window=5, size=16)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    record = build_emotions(root, tmp_path / "out", window=5, size=16, split="published", drop_undrawable=True)
    assert len(record["dropped_undrawable"]) == 1 and record["splits"]["train"]["rows"] == 1


def test_real_stockemotions_published_split_shares_days_with_train(real_data_dir, tmp_path):
    """The data README's check: most published test posts share ticker and date with a
    training post; the date split shares none. ABNB's first posts precede its listing."""
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions

    if not (real_data_dir / "stockemotions").is_dir():
        pytest.skip("no stockemotions/ under DATA_DIR")
    published = build_emotions(real_data_dir / "stockemotions", tmp_path / "out", window=30, size=16,
                               split="published", drop_undrawable=True)
    test = published["splits"]["test"]
    assert test["sharing_ticker_and_date_with_train"] / test["rows"] > 0.8
    assert all(entry.startswith("ABNB") for entry in published["dropped_undrawable"])
    by_date = build_emotions(real_data_dir / "stockemotions", tmp_path / "out", window=30, size=16,
                             drop_undrawable=True)
    assert by_date["splits"]["test"]["sharing_ticker_and_date_with_train"] == 0


def test_a_built_manifest_trains_in_phase_5_with_day_clustered_intervals(tmp_path):
    """The builder's manifest is phase 5's format: an image-only run on it scores MCC, with
    test intervals resampled over trading days, and predictions.csv names each row's day."""
    import pandas as pd

    from phase5_multimodal_financial_sentiment.config import Phase5Config
    from phase5_multimodal_financial_sentiment.train import main

    movements = {day: (0.01 if i % 2 else -0.01) for i, day in enumerate(DAYS) if i >= 12}
    out = tmp_path / "stocknet"
    build(write_release(tmp_path / "release", movements, {}), out, window=8, size=32, progress=False)
    run = main(Phase5Config(data_dir=str(out), labels=["down", "up"], modality="image", image_model="resnet18",
                            image_weights="none", image_size=32, epochs=1, batch_size=16, learning_rate=1e-3,
                            cluster_column="date", output_dir=str(tmp_path / "runs"), run_name="stocknet",
                            device="cpu", progress=False))
    metrics = json.loads((run / "metrics.json").read_text())
    assert "test_mcc" in metrics and "test_mcc_ci" in metrics
    assert metrics["test_intervals"]["clusters"] == len({d for d, r in read_manifest(out).items()
                                                         if r["split"] == "test"})
    predictions = pd.read_csv(run / "predictions.csv")
    assert predictions["cluster"].str.match(r"2015-\d\d-\d\d").all()


def test_rows_sharing_ticker_and_date_with_train_are_counted_and_warned(tmp_path):
    """StockEmotions' published (random) split puts a post of a training (ticker, date) in
    validation: with leak_columns ticker,date the run's data record counts it and warns."""
    from common.diagnostics import data_warnings
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions
    from phase5_multimodal_financial_sentiment.config import Phase5Config
    from phase5_multimodal_financial_sentiment.data import load_splits

    days = [d for d in DAYS if d >= dt.date(2015, 9, 3)][:10]
    posts = {"train": [(days[i].isoformat(), "AAPL", ("bullish", "bearish")[i % 2], f"post {i}") for i in range(10)],
             "validation": [(days[0].isoformat(), "AAPL", "bullish", "same day"),
                            (days[1].isoformat(), "AAPL", "bearish", "same day again")],
             "test": [(days[9].isoformat(), "AAPL", "bullish", "last day"),
                      (days[8].isoformat(), "AAPL", "bearish", "day before")]}
    out = tmp_path / "published"
    build_emotions(write_stockemotions(tmp_path / "release", posts), out, window=5, size=16, split="published")
    cfg = Phase5Config(data_dir=str(out), labels=["bearish", "bullish"], leak_columns=["ticker", "date"])
    info = load_splits(cfg).info
    assert info["shared_with_train"] == {"columns": ["ticker", "date"], "val": {"n": 2, "shared": 2},
                                         "test": {"n": 2, "shared": 2}}
    assert any("2 of the 2 val rows share ticker, date with a train row" in w for w in data_warnings(info))
    assert "shared_with_train" not in load_splits(Phase5Config(data_dir=str(out), labels=["bearish", "bullish"])).info
