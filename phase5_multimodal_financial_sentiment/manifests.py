"""What a phase 5 builder (build_stocknet.py, build_stockemotions.py) leaves in its output
folder: `manifest.csv` (the rows, in the manifest format data.py reads) and `build.json` (its
settings and counts), each written atomically and only once every row exists."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from common.records import atomic_write_text, write_json


def write_build(out: Path, columns: Sequence[str], rows: Sequence[dict], record: dict) -> dict:
    """Write the manifest of `rows` (with `columns`) and the build record; return the record."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(out) / "manifest.csv", buffer.getvalue())
    write_json(Path(out) / "build.json", record)
    return record
