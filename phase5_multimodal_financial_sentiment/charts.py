"""Candlestick charts of real prices, drawn straight into an image array and cached on disk.

A chart is a function of (prices, size) alone: the window of daily open/high/low/close rows
it shows (oldest first) and the side of the square image. It is drawn with numpy (no
plotting library per chart: matplotlib takes milliseconds per figure, tens of thousands of
charts take minutes), one column band per day: a one-pixel wick from low to high and a body
from open to close, green where the close is at or above the open, red below, on white, the
price axis scaled to the window's own low and high. `ChartCache` keeps each chart as a PNG
named by a hash of its prices and size, so a rebuild or a second builder renders nothing
that exists already; a chart is written to a temporary name and renamed, so an interrupted
build leaves no half-written file.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

RENDER_VERSION = 1  # part of every cache key: a change to the drawing below must change it
UP, DOWN, BACKGROUND = (38, 166, 91), (214, 39, 40), (255, 255, 255)


def render_candlesticks(ohlc: np.ndarray, size: int) -> np.ndarray:
    """A size x size x 3 uint8 image of `ohlc` (days x [open, high, low, close], oldest first)."""
    ohlc = np.asarray(ohlc, dtype=np.float64)
    if ohlc.ndim != 2 or ohlc.shape[1] != 4 or len(ohlc) == 0:
        raise ValueError(f"a chart needs days x 4 prices (open, high, low, close), got shape {ohlc.shape}")
    if not np.isfinite(ohlc).all():
        raise ValueError("a chart's prices must be finite")
    image = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    low, high = ohlc[:, 2].min(), ohlc[:, 1].max()
    span = high - low if high > low else 1.0

    def row(price: np.ndarray) -> np.ndarray:  # price -> pixel row, the high at the top
        return np.clip(np.round((high - price) / span * (size - 1)), 0, size - 1).astype(int)

    days = len(ohlc)
    edges = np.linspace(0, size, days + 1)
    for day, (open_, day_high, day_low, close) in enumerate(ohlc):
        left, right = int(edges[day]), max(int(edges[day + 1]) - 1, int(edges[day]) + 1)  # a gap between days
        colour = UP if close >= open_ else DOWN
        middle = (left + right - 1) // 2
        top, bottom = row(np.array([day_high, day_low]))
        image[top:bottom + 1, middle] = colour
        body_top, body_bottom = sorted(row(np.array([open_, close])))
        image[body_top:body_bottom + 1, left:right] = colour
    return image


class ChartCache:
    """Charts on disk under `root`, one PNG per (prices, size): `path(ohlc, size)` renders a
    chart only when its file is not there yet, and counts what it rendered."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.rendered = 0
        self.reused = 0

    @staticmethod
    def key(ohlc: np.ndarray, size: int) -> str:
        digest = hashlib.sha1(np.ascontiguousarray(ohlc, dtype="<f8").tobytes())
        digest.update(f"{size}:{RENDER_VERSION}".encode())
        return digest.hexdigest()

    def path(self, ohlc: np.ndarray, size: int) -> Path:
        from PIL import Image

        key = self.key(ohlc, size)
        path = self.root / key[:2] / f"{key}.png"
        if path.exists():
            self.reused += 1
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        Image.fromarray(render_candlesticks(ohlc, size)).save(temporary, format="PNG", compress_level=1)
        os.replace(temporary, path)
        self.rendered += 1
        return path
