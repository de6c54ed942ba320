"""The summary at the top of experiments.md: one row per phase task, the original study's
figure, our best row and the strongest published figure on the same data.

A phase declares its rows (`SummaryRow`, in its tables.py, listed in its phase.py): which
generated tables compete for "our best row", by which column, and what the original
study and others reported (the figures, each with its source). The best row is read from
those tables as experiments.md holds them, after the report has rebuilt the ones whose
runs are present: so a machine that holds only some phases' runs rewrites their tables
and the summary stays true for the others, whose tables were built where their runs are.
Only the parts of runs made here compete (not those on data other than the study's, never
the numbers reported by others), and only rows that have the ranking column; a table without finished runs
makes the row say so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from common.tables import markdown_rows

NUMBER = re.compile(r"[-+]?\d*\.?\d+")


@dataclass(frozen=True)
class SummaryRow:
    task: str  # e.g. "Financial PhraseBank, 3 classes (phase 1)"
    tables: tuple[str, ...]  # generated tables whose rows compete
    section: str  # the experiments.md heading it links to, as written there
    metric: str = "test macro-F1"  # the column that ranks the rows (higher is better)
    interval: Optional[str] = "macro-F1 95% CI"  # the column of its interval
    where: tuple[tuple[str, str], ...] = ()  # (column, value) a row must have where its table has the column
    original: str = "none reported"  # the original study's figure, in words
    published: str = "–"  # the strongest published figure on the same data, with its source


def block_text(text: str, name: str) -> Optional[str]:
    match = re.search(rf"<!-- START TABLE {re.escape(name)} -->(.*?)<!-- END TABLE {re.escape(name)} -->", text,
                      re.DOTALL)
    return match.group(1) if match else None


def runs_tables(block: str) -> list[dict[str, str]]:
    """The rows (header -> cell) of a block's tables of runs made here: the parts whose title
    says "runs made here", except those on data other than the study's; never the tables of
    numbers reported by others."""
    rows, title, table = [], "", []
    for line in [*block.strip().splitlines(), ""]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
            continue
        if table and "runs made here" in title and "not the study's data set" not in title:
            headers = table[0]
            rows += [dict(zip(headers, row)) for row in table[2:] if len(row) == len(headers)]
        table = []
        if line.strip():
            title = line
    return rows


def leading_number(cell: str) -> Optional[float]:
    match = NUMBER.match(cell.strip())
    return float(match.group()) if match else None


def best_row(text: str, row: SummaryRow) -> Optional[tuple[str, dict]]:
    """(table name, its row) of the highest `metric` among the competing rows, or None."""
    candidates = []
    for name in row.tables:
        block = block_text(text, name)
        for cells in runs_tables(block) if block else []:
            score = leading_number(cells.get(row.metric, ""))
            if score is not None and all(cells.get(column, value) == value for column, value in row.where):
                candidates.append((score, name, cells))
    if not candidates:
        return None
    _, name, cells = max(candidates, key=lambda candidate: candidate[0])
    return name, cells


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return "#" + re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def render_summary(rows: Sequence[SummaryRow], text: str) -> str:
    """The summary table from the declared rows and the tables in `text` (experiments.md)."""
    lines = []
    for row in rows:
        found = best_row(text, row)
        link = f"[{row.section}]({anchor(row.section)})"
        if found is None:
            lines.append([row.task, row.original, "_no finished run yet_", "–", "–", "–", row.published, link])
            continue
        table, cells = found
        interval = cells.get(row.interval, "–") if row.interval else "–"
        lines.append([row.task, row.original, f"`{cells.get('run', '?')}` (table `{table}`): {cells.get('model', '?')}",
                      f"{cells.get('device', '?')}; seeds {cells.get('seeds', '?')}",
                      f"{row.metric} {cells[row.metric]}", interval, row.published, link])
    return "\n".join([
        "**Summary: per task, what the original study reported, our best row and the strongest published figure** "
        "(our rows are read from the tables below, each rebuilt from its runs; the best by the score named, "
        "mean ± std over seeds where several ran; the original study's split, seeds and averaging are not "
        "published, and published figures come from other setups: compare within a row with care)", "",
        *markdown_rows(["task", "original study (reported)", "our best row (runs made here)", "device; seeds",
                        "score", "95% interval", "strongest published on the same data", "section"], lines)])
