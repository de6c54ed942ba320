"""Daily prices of a stock as the builders read them (`Date,Open,High,Low,Close,Adj Close,Volume`,
oldest first, Yahoo's layout, which StockNet and StockEmotions both ship): open, high and low
scaled by Adj Close / Close, so that splits and dividends do not draw cliffs into a chart."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import DataError


@dataclass(frozen=True)
class Prices:
    """A stock's daily prices, oldest first: dates and adjusted open/high/low/close."""

    path: Path
    dates: np.ndarray  # datetime64[D]
    ohlc: np.ndarray  # days x 4
    null_days: int = 0  # rows of the file without prices ("null" in every field, Yahoo's way), left out

    def before(self, day: dt.date, window: int, including: bool = False) -> np.ndarray:
        """The `window` trading days before `day` (never `day` itself, unless `including`: a
        chart that shows the day whose move is the label, drawn only to show that leak); an
        error where the file has no such day or ends more than a week before `day`."""
        target = np.datetime64(day, "D")
        end = int(np.searchsorted(self.dates, target, side="right" if including else "left"))
        if end == 0 or target > self.dates[-1] + np.timedelta64(7, "D"):
            first, last = (self.dates[0], self.dates[-1]) if len(self.dates) else ("-", "-")
            raise DataError(f"{self.path}: day {day} is outside the price range {first} .. {last} (no trading "
                            f"day {'up to' if including else 'before'} it to draw)")
        return self.ohlc[max(0, end - window):end]


RETURN_DAYS = 5  # the last daily returns a manifest row carries (the price baselines' input)


def last_returns(ohlc: np.ndarray, days: int = RETURN_DAYS) -> str:
    """The last `days` daily returns of the closes of `ohlc` (oldest first), space-separated,
    as a manifest's `returns` column holds them; fewer where the window is shorter, 0 for none
    (a listing's first days)."""
    closes = np.asarray(ohlc, dtype=np.float64)[-(days + 1):, 3]
    returns = closes[1:] / closes[:-1] - 1 if len(closes) > 1 else np.zeros(0)
    returns = np.concatenate([np.zeros(days - len(returns)), returns])
    return " ".join(f"{value:.6f}" for value in returns)


def read_prices(path: Path) -> Prices:
    """`price/raw/<SYM>.csv` (Date,Open,High,Low,Close,Adj Close,Volume; oldest first), with
    open, high, low and close scaled by Adj Close / Close. A day whose every price is "null"
    (the release has some) is left out and counted."""
    if not path.is_file():
        raise DataError(f"{path}: price file missing (every stock of the release has price/raw/<SYMBOL>.csv)")
    dates, rows, null_days = [], [], 0
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        if header[:6] != ["Date", "Open", "High", "Low", "Close", "Adj Close"]:
            raise DataError(f"{path}:1: expected the header Date,Open,High,Low,Close,Adj Close,Volume, got {header}")
        for number, line in enumerate(handle, start=2):
            parts = line.strip().split(",")
            if len(parts) >= 6 and all(value == "null" for value in parts[1:6]):
                null_days += 1
                continue
            try:
                day = dt.date.fromisoformat(parts[0])
                open_, high, low, close, adjusted = (float(value) for value in parts[1:6])
            except (ValueError, IndexError):
                raise DataError(f"{path}:{number}: not a price row ({line.strip()!r})") from None
            if close <= 0:
                raise DataError(f"{path}:{number}: close {close} is not positive")
            scale = adjusted / close
            dates.append(day)
            rows.append((open_ * scale, high * scale, low * scale, adjusted))
    return Prices(path, np.array(dates, dtype="datetime64[D]"), np.array(rows, dtype=np.float64).reshape(-1, 4),
                  null_days)
