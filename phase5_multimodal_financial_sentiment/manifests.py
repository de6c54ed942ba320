"""What a phase 5 builder (build_stocknet.py, build_stockemotions.py) leaves in its output
folder: `manifest.csv` (the rows, in the manifest format data.py reads) and `build.json` (its
settings and counts), each written atomically and only once every row exists; and how much
of the train labels a chart's identity alone holds (`describe_chart_sharing`)."""
from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from common.records import atomic_write_text, write_json


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


def write_build(out: Path, columns: Sequence[str], rows: Sequence[dict], record: dict) -> dict:
    """Write the manifest of `rows` (with `columns`) and the build record; return the record."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(out) / "manifest.csv", buffer.getvalue())
    write_json(Path(out) / "build.json", record)
    return record
