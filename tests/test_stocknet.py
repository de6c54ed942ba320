"""The StockNet builder (phase5 build_stocknet.py) on a replica of the release's layout the
tests write (price/raw CSV oldest first, price/preprocessed TSV newest first, tweets as JSON
lines per stock and day), the charts drawn into arrays (charts.py), and the real release
under DATA_DIR: the authors' test set of 3,720 stock-days."""
from __future__ import annotations

import csv
from pathlib import Path
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
    # The post was written the day before its `date` (the files' dates run one day ahead):
    # `before` ends before that day, `including` draws it, and both keep the same posts.
    prices = read_prices(root / "price" / "AAPL.csv")
    last = next(r for r in rows if r["date"] == days[9].isoformat())
    written = days[9] - dt.timedelta(days=1)
    assert written in DAYS  # a trading day: the two charts differ by its candle
    drawn = np.asarray(Image.open(tmp_path / "before" / last["image"]))
    assert np.array_equal(drawn, render_candlesticks(prices.before(written, 5), 16))
    including = build_emotions(root, tmp_path / "including", window=5, size=16, chart_end="including")
    with open(tmp_path / "including" / "manifest.csv", newline="", encoding="utf-8") as handle:
        leaky = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(leaky) == {row["id"] for row in rows} and including["splits"] == before["splits"]
    drawn = np.asarray(Image.open(tmp_path / "including" / leaky[last["id"]]["image"]))
    assert np.array_equal(drawn, render_candlesticks(prices.before(written, 5, including=True), 16))
    assert not np.array_equal(drawn, render_candlesticks(prices.before(written, 5), 16))


def test_stockemotions_post_without_prices_before_it_is_an_error_or_dropped(tmp_path):
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions

    first = min(d for d in DAYS if d >= dt.date(2015, 9, 1))  # written the day before: no price before it
    posts = {"train": [((first + dt.timedelta(days=1)).isoformat(), "AAPL", "bullish", "before any price"),
                       ((first + dt.timedelta(days=7)).isoformat(), "AAPL", "bearish", "fine")]}
    root = write_stockemotions(tmp_path / "release", posts)
    with pytest.raises(DataError, match=r"train_stockemo.csv:2: AAPL on .*--drop_undrawable"):
        build_emotions(root, tmp_path / "out", window=5, size=16)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    record = build_emotions(root, tmp_path / "out", window=5, size=16, split="published", drop_undrawable=True)
    assert len(record["dropped_undrawable"]) == 1 and record["splits"]["train"]["rows"] == 1


def test_real_stockemotions_published_split_shares_days_with_train(real_data_dir, tmp_path):
    """The data README's check: most published test posts share ticker and date with a
    training post; the date split shares none; the label follows the return of the day the
    post was written (its date minus one) far more often than that of the day before."""
    from phase5_multimodal_financial_sentiment.build_stockemotions import build as build_emotions

    if not (real_data_dir / "stockemotions").is_dir():
        pytest.skip("no stockemotions/ under DATA_DIR")
    published = build_emotions(real_data_dir / "stockemotions", tmp_path / "out", window=30, size=16,
                               split="published", drop_undrawable=True)
    test = published["splits"]["test"]
    assert test["sharing_ticker_and_date_with_train"] / test["rows"] > 0.8
    # ABNB's posts before its listing, and posts dated 2020-01-01 (written on 2019-12-31, the prices' first day)
    assert all(entry.startswith("ABNB") or " 2020-01-01 " in entry for entry in published["dropped_undrawable"])
    by_date = build_emotions(real_data_dir / "stockemotions", tmp_path / "out", window=30, size=16,
                             drop_undrawable=True)
    assert by_date["splits"]["test"]["sharing_ticker_and_date_with_train"] == 0
    leaky = build_emotions(real_data_dir / "stockemotions", tmp_path / "leaky", window=30, size=16,
                           chart_end="including", drop_undrawable=True)
    assert leaky["splits"] == by_date["splits"]

    def agreement(out):  # the share of posts whose label is the sign of the last return the chart shows
        with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return np.mean([(float(r["returns"].split()[-1]) >= 0) == (r["label"] == "bullish") for r in rows])

    assert agreement(tmp_path / "leaky") > 0.8 and abs(agreement(tmp_path / "out") - 0.5) < 0.05


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


# --- price baselines, frozen text features, the real-data tables ------------------------------------------


def alternating_release(tmp_path):
    """A StockNet replica whose every weekday from the 13th on is a target, up and down in turn."""
    movements = {day: (0.01 if i % 2 else -0.01) for i, day in enumerate(DAYS) if i >= 12}
    out = tmp_path / "stocknet"
    build(write_release(tmp_path / "release", movements, {}), out, window=8, size=32, progress=False)
    return out


def test_returns_are_the_last_five_the_chart_shows(tmp_path):
    out = alternating_release(tmp_path)
    prices = read_prices(tmp_path / "release" / "price" / "raw" / "ABC.csv")
    for date, row in read_manifest(out).items():
        closes = prices.before(dt.date.fromisoformat(date), 8)[-6:, 3]
        assert np.allclose([float(v) for v in row["returns"].split()], closes[1:] / closes[:-1] - 1, atol=1e-6)


def test_price_baselines_are_scored_like_runs(tmp_path):
    """Majority, the previous day's sign and a logistic regression on the returns, each a run
    directory with day-clustered intervals; their predictions are what each rule says."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from phase5_multimodal_financial_sentiment.price_baselines import main as baselines

    out = alternating_release(tmp_path)
    baselines(["--data_dir", str(out), "--preset", "stocknet", "--output_dir", str(tmp_path / "runs"),
               "--run_prefix", "sn_", "--device", "cpu", "--progress", "false"])
    rows = list(read_manifest(out).values())
    test = [r for r in rows if r["split"] == "test"]
    returns = lambda chosen: np.array([[float(v) for v in r["returns"].split()] for r in chosen])  # noqa: E731
    runs = tmp_path / "runs" / "phase5_multimodal_financial_sentiment"
    predicted = {kind: pd.read_csv(runs / f"sn_{kind}" / "predictions.csv")
                 for kind in ("majority", "previous_day", "logistic_returns")}
    train_labels = [r["label"] for r in rows if r["split"] == "train"]
    assert set(predicted["majority"]["prediction"]) == {max(set(train_labels), key=train_labels.count)}
    assert predicted["previous_day"]["prediction"].tolist() == ["up" if r[-1] >= 0 else "down"
                                                                for r in returns(test)]
    train = [r for r in rows if r["split"] == "train"]
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        returns(train), [r["label"] for r in train])
    assert np.allclose(predicted["logistic_returns"]["prob_up"], reference.predict_proba(returns(test))[:, 1],
                       atol=1e-3)
    metrics = json.loads((runs / "sn_previous_day" / "metrics.json").read_text())
    assert metrics["baseline"]["kind"] == "previous day's movement" and "test_mcc_ci" in metrics
    assert metrics["train_examples"] == len(train)  # what it was fitted on (the same rows a trained row sees)
    assert metrics["test_intervals"]["clusters"] == len({r["date"] for r in test})


def test_a_manifest_without_returns_is_an_error_naming_it(tmp_path):
    from phase5_multimodal_financial_sentiment.price_baselines import run_price_baseline

    out = alternating_release(tmp_path)
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, [c for c in rows[0] if c != "returns"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "returns"} for r in rows)
    with pytest.raises(DataError, match=r"manifest.csv: row 1 of the split has no `returns`"):
        run_price_baseline("logistic_returns", ["--data_dir", str(out), "--preset", "stocknet", "--output_dir",
                                                str(tmp_path / "runs"), "--device", "cpu", "--progress", "false"])


@pytest.fixture(scope="module")
def tiny_stock_encoder(tmp_path_factory):
    from common.random_encoders import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), {"up", "down", "news", "early", "later"})


def test_frozen_text_features_are_computed_once_and_are_the_encoders(tmp_path, tiny_stock_encoder):
    """With freeze_text every distinct text is encoded once, kept on disk and read again by the
    next run (another seed, another head); the vectors are the model's own encode_text, so
    predict.py on raw text gives the run's test predictions."""
    import pandas as pd
    import torch
    from transformers import AutoTokenizer

    from phase5_multimodal_financial_sentiment.config import Phase5Config
    from phase5_multimodal_financial_sentiment.models import load_trained_model
    from phase5_multimodal_financial_sentiment.text_features import TextFeatureStore
    from phase5_multimodal_financial_sentiment.train import main
    from tests.phase5_helpers import predict_test_split

    movements = {day: (0.01 if i % 2 else -0.01) for i, day in enumerate(DAYS) if i >= 12}
    tweets = {day: [(at(day, 9), f"news {'up' if i % 3 else 'down'} {i}")] for i, day in enumerate(DAYS)}
    release = write_release(tmp_path / "release", movements, tweets)
    out = tmp_path / "stocknet"
    build(release, out, window=8, size=32, progress=False)
    common = dict(data_dir=str(out), labels=["down", "up"], model_name_or_path=str(tiny_stock_encoder),
                  freeze_text=True, image_model="resnet18", image_weights="none", image_size=32, epochs=1,
                  batch_size=8, max_length=16, output_dir=str(tmp_path / "runs"), device="cpu", progress=False)
    first = main(Phase5Config(modality="text", run_name="text", **common))
    second = main(Phase5Config(modality="fusion", fusion="gated", run_name="gated", seed=43, **common))
    texts = {r["text"] for r in read_manifest(out).values()}
    recorded = [json.loads((run / "metrics.json").read_text())["text_features"] for run in (first, second)]
    assert recorded[0]["computed"] == len(texts) and recorded[0]["reused"] == 0
    assert recorded[1]["computed"] == 0 and recorded[1]["reused"] == len(texts)
    store = TextFeatureStore(tmp_path / "runs" / "phase5_multimodal_financial_sentiment" / ".cache" / "text_features",
                             Path(recorded[0]["store"]).stem)
    model = load_trained_model(second / "checkpoints" / "best").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_stock_encoder))
    text = sorted(texts)[0]
    with torch.no_grad():
        direct = model.encode_text(**tokenizer([text], truncation=True, max_length=16, return_tensors="pt"))[0]
    assert torch.allclose(store.features([text], encode=None)[0], direct, atol=1e-5)
    again = predict_test_split(second / "checkpoints" / "best", out / "manifest.csv", tmp_path / "predicted.csv")
    assert np.allclose(pd.read_csv(second / "predictions.csv")["prob_up"], again["prob_up"], atol=2e-4)


def test_the_feature_store_key_follows_the_encoder_and_max_length(tmp_path, tiny_stock_encoder):
    import os

    from phase5_multimodal_financial_sentiment.text_features import encoder_key

    config = {"model_type": "distilbert"}
    key = encoder_key(str(tiny_stock_encoder), config, 16)
    assert key == encoder_key(str(tiny_stock_encoder), config, 16) != encoder_key(str(tiny_stock_encoder), config, 32)
    weights = next(p for p in tiny_stock_encoder.iterdir() if p.suffix == ".safetensors")
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # new weights in the same folder
    assert encoder_key(str(tiny_stock_encoder), config, 16) != key


def test_real_data_tables_hold_their_runs_the_baselines_and_the_published_rows(tmp_path):
    from common.report import build_report
    from phase5_multimodal_financial_sentiment.price_baselines import main as baselines

    out = alternating_release(tmp_path)
    baselines(["--data_dir", str(out), "--preset", "stocknet", "--output_dir", str(tmp_path / "runs"),
               "--run_prefix", "sn_", "--device", "cpu", "--progress", "false", "--baselines", "previous_day"])
    text = build_report(tmp_path / "runs", tmp_path / "experiments.md")
    stocknet = text.split("<!-- START TABLE phase5_stocknet -->")[1].split("<!-- END")[0]
    metrics = json.loads((tmp_path / "runs" / "phase5_multimodal_financial_sentiment" / "sn_previous_day" /
                          "metrics.json").read_text())
    row = next(line for line in stocknet.splitlines() if line.startswith("| sn_previous_day"))
    assert "previous day's movement" in row and "last 5 daily returns" in row
    assert f"{metrics['test_mcc']:.4f}" in row and f"{metrics['test_mcc_ci'][0]:.3f}" in row
    assert "Xu and Cohen 2018" in stocknet and "0.5823" in stocknet
    ablation = text.split("<!-- START TABLE phase5_ablation -->")[1].split("<!-- END")[0]
    assert "sn_previous_day" not in ablation


def test_chart_sharing_says_how_much_of_the_train_labels_a_chart_identifies():
    from phase5_multimodal_financial_sentiment.manifests import describe_chart_sharing

    rows = [{"split": split, "image": image, "label": label} for split, image, label in (
        ("train", "a.png", "up"), ("train", "a.png", "up"), ("train", "a.png", "down"), ("train", "b.png", "down"),
        ("test", "a.png", "down"))]
    assert describe_chart_sharing(rows) == {"rows": 4, "distinct_charts": 2, "rows_sharing_a_chart": 3,
                                            "chart_majority_accuracy": 0.75}
