"""What the phase 5 builders (build_stocknet.py, build_stockemotions.py) share: their common
command-line arguments (`builder_parser`), and what they leave in their output folder:
`manifest.csv` (the rows, in the manifest format data.py reads) and `build.json` (their
settings and counts, plus what every build records: how much of the train labels a chart's
identity alone holds, the charts drawn and found, the seconds), each written atomically and
only once every row exists."""
from __future__ import annotations

import argparse
import csv
import io
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from common.records import atomic_write_text, write_json

if TYPE_CHECKING:
    from phase5_multimodal_financial_sentiment.charts import ChartCache


def describe_chart_sharing(rows: Sequence[dict], split: str = "train") -> dict:
    """Of the `split` rows: how many distinct charts they show, how many rows share their chart
    with another row, and the accuracy of predicting each row's label by its chart's majority
    label. Where posts of one stock and day share a chart, an image model can learn the day
    (memorise each chart's label) instead of reading the chart: a majority accuracy far above
    the label's base rate warns that the chart identifies the rows."""
    labels = defaultdict(list)
    for row in rows:
        if row["split"] == split:
            labels[row["image"]].append(row["label"])
    total = sum(len(chart) for chart in labels.values())
    return {"rows": total, "distinct_charts": len(labels),
            "rows_sharing_a_chart": sum(len(chart) for chart in labels.values() if len(chart) > 1),
            "chart_majority_accuracy": round(sum(max(Counter(chart).values()) for chart in labels.values())
                                             / max(total, 1), 4)}


def builder_parser(doc: str, source: str, window: str) -> argparse.ArgumentParser:
    """A builder's command line with the arguments every builder takes: `--data_dir` (`source`:
    what it holds), `--out`, `--window` (`window`: what the trading days are counted from),
    `--size`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, type=Path, help=source)
    parser.add_argument("--out", required=True, type=Path, help="Folder of the manifest and its charts.")
    parser.add_argument("--window", type=int, default=30, help=f"Trading days a chart shows ({window}).")
    parser.add_argument("--size", type=int, default=64, help="Side of a chart in pixels.")
    return parser


def write_build(out: Path, columns: Sequence[str], rows: Sequence[dict], record: dict, cache: ChartCache,
                started: float) -> dict:
    """Write the manifest of `rows` (with `columns`) and the build record: `record` (the
    builder's settings and counts) plus the train split's chart sharing, the charts `cache`
    drew and found, and the seconds since `started` (`time.perf_counter()`); return it."""
    seconds = time.perf_counter() - started
    record = {**record, "train_chart_sharing": describe_chart_sharing(rows), "charts_rendered": cache.rendered,
              "charts_reused": cache.reused, "seconds": round(seconds, 1),
              "rows_per_second": round(len(rows) / max(seconds, 1e-9), 1)}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(out) / "manifest.csv", buffer.getvalue())
    write_json(Path(out) / "build.json", record)
    return record
