"""Rebuild the results tables in experiments.md from the run directories.

Usage:
    python -m common.report [--runs runs] [--out experiments.md]

Each phase declares its tables (`TableSpec`, common/tables.py), figures and other blocks in
its `phase.py` (common/phases.py); they are written in its `tables.py`. A table lives in experiments.md
between `<!-- START TABLE name -->` and `<!-- END TABLE name -->`; only the text between
the markers is replaced, so prose around the tables is kept. Runs that differ only in their seed form one row, shown as
mean ± std over seeds, named by its runs' directory names. A table is built from what the
runs contain: its group columns (`GroupColumns`, e.g. one per language) from the groups
the runs recorded, its title from the data set and the label count. Runs on the study's
data set (`TableSpec.study_data`) form the table's first part, beside the numbers reported
elsewhere (a paper, the original study: the spec's `reported` rows, labelled with their
source); runs on any other data set get a part of their own per data set, without the
columns that only mean something on the study's data (`Column.study_only`) and never
beside published numbers.
Benchmark scripts write `<runs>/benchmarks/<name>.json`, rendered between
`<!-- START TABLE benchmark:<name> -->` markers. A phase's figures (`FigureSpec`) are drawn
from the runs into `figures/<name>.png` beside the output file and linked between
`<!-- START TABLE figure:<name> -->` markers; its blocks (`BlockSpec`) render anything
else (a sweep's trials table) between `<!-- START TABLE <name> -->` markers.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from common import REPO_ROOT
from common.cli import exit_on_bad_input
from common.errors import DataError, describe
from common.phases import discover_phases
from common.records import atomic_write_text, read_json
from common.tables import (FigureSpec, GroupColumns, Run, TableSpec, collect_runs, data_of, describe_device,
                           describe_labels, group_runs, markdown_rows, model_label, row_label)


def render_part(spec: TableSpec, groups: Sequence[list[Run]], title: str, study: bool) -> list[str]:
    """One part of a table: the rows of one data set, with the columns their runs filled."""
    members_all = [run for members in groups for run in members]
    columns = [c for entry in spec.columns
               for c in (entry.expand(members_all) if isinstance(entry, GroupColumns) else [entry])
               if study or not c.study_only]
    headers = ["run", "model", "device", "seeds", "date"] + [c.header for c in columns]
    rows = []
    for members in groups:
        seeds = sorted(run.config.get("seed") for run in members)
        dates = sorted({str(run.env.get("started_at", ""))[:10] for run in members})
        rows.append([row_label(members), spec.describe_model(members[0]),
                     ", ".join(sorted({describe_device(run.env) for run in members})),
                     f"{len(seeds)} ({', '.join(map(str, seeds))})", ", ".join(dates)]
                    + [c.format([c.value(run) for run in members]) for c in columns])
    if not rows:  # one line, not a table of empty columns
        return [f"{title}: _no finished runs yet_"]
    return [title, "", *markdown_rows(headers, rows)]


def render_table(spec: TableSpec, runs: Sequence[Run]) -> str:
    """The spec's rows split by data set: the study's data first (with the reported
    numbers), then one part per other data set."""
    runs_by_data: dict[str, list[Run]] = {}
    for run in runs:
        runs_by_data.setdefault(data_of(run, spec.study_data), []).append(run)
    by_data = {data: groups for data, chosen in runs_by_data.items()
               if (groups := group_runs(spec.phase, spec.select, chosen))}
    study = by_data.pop(spec.study_data, []) if spec.study_data is not None else None
    lines = []
    if study is not None or not by_data:
        labels = f", {describe_labels([r for g in study for r in g])}" if study else ""
        data = f"; data: `{spec.study_data}`{labels}" if spec.study_data else ""
        lines += render_part(spec, study or [], f"**{spec.title}** (runs made here{data}; mean ± std over seeds "
                             "where several ran)", study=True)
    if spec.reported:
        rep_headers = list(dict.fromkeys(key for row in spec.reported for key in row))
        lines += ["", "Reported by others, not run here:", "",
                  *markdown_rows(rep_headers, [[str(row.get(h, "–")) for h in rep_headers] for row in spec.reported])]
    for data, groups in sorted(by_data.items()) if spec.other_data or spec.study_data is None else ():
        members = [run for g in groups for run in g]
        note = "" if spec.study_data is None else \
            "; not the study's data set, so comparable neither with the rows above nor with published numbers"
        lines += [""] if lines else []
        lines += render_part(spec, groups, f"**{spec.title}**, data: `{model_label(data)}`, "
                             f"{describe_labels(members)} (runs made here{note})", study=spec.study_data is None)
    return "\n".join(lines)


def render_benchmark(result: dict) -> str:
    """A benchmark JSON: {"title", "setup": {...}, "rows": [{column: value}]}."""
    rows = result["rows"]
    headers = list(rows[0]) if rows else []
    setup = ", ".join(f"{k}: {v}" for k, v in result.get("setup", {}).items())
    lines = [f"**{result['title']}** ({setup})", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join("–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                                       for v in row.values()) + " |")
    return "\n".join(lines)


def render_benchmark_file(path: Path) -> str:
    """A benchmark's block; a result file that cannot be read (a killed benchmark) says so, in the block
    and on stderr."""
    try:
        result = read_json(path)
        if not isinstance(result, dict):
            raise TypeError("not a JSON object")
        return render_benchmark(result)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"warning: benchmark result {path} cannot be read ({describe(exc)}); its block says so",
              file=sys.stderr)
        return f"_{path.name}: the result file cannot be read ({describe(exc)}); run the benchmark again_"


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- START TABLE {name} -->", f"<!-- END TABLE {name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    block = f"{start}\n{body}\n{end}"
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + f"\n\n{block}\n"  # a new table goes at the end, ready to be moved


def declared_specs(kind: str) -> list:
    """Every phase's declared `tables`, `figures` or `blocks` (common/phases.py), in phase order."""
    return [spec for phase in discover_phases().values() for spec in getattr(phase, kind)]


def render_figure(spec: FigureSpec, runs: Sequence[Run], out: Path) -> str:
    path = Path(out).parent / "figures" / f"{spec.name}.png"
    if not spec.draw(group_runs(spec.phase, spec.select, runs), path, spec.title):
        return f"_{spec.title}: no finished runs yet_"
    return f"![{spec.title}](figures/{spec.name}.png)"


def build_report(runs_root: Path, out: Path, specs: Optional[Sequence[TableSpec]] = None,
                 figures: Optional[Sequence[FigureSpec]] = None, only: Optional[Sequence[str]] = None,
                 runs: Optional[Sequence[Run]] = None) -> str:
    """Rewrite the generated blocks of `out` from the runs under `runs_root`; with no run
    and no benchmark there, an error that leaves `out` as it was. `only` names the blocks to
    rewrite (tables, other blocks, figures as `figure:<name>`, benchmarks as
    `benchmark:<name>`), leaving the others as they are: a machine that holds some runs
    updates their tables without emptying the rest; a name nobody declares is an error.
    `runs` are the runs under `runs_root` when the caller has collected them already."""
    if Path(out).is_dir():
        raise DataError(f"--out {out} is a folder; name the Markdown file to update")
    runs = collect_runs(runs_root) if runs is None else runs
    if not runs and not list((Path(runs_root) / "benchmarks").glob("*.json")):
        raise DataError(f"no finished runs (no */*/metrics.json) under {runs_root}: {out} is left as it was")
    text = out.read_text(encoding="utf-8") if out.exists() else "# Experiments\n"
    benches = sorted((Path(runs_root) / "benchmarks").glob("*.json"))
    renderers = {}
    for spec in specs if specs is not None else declared_specs("tables"):
        renderers[spec.name] = lambda spec=spec: render_table(spec, runs)
    for figure in figures if figures is not None else declared_specs("figures"):
        renderers[f"figure:{figure.name}"] = lambda figure=figure: render_figure(figure, runs, out)
    for block in declared_specs("blocks") if specs is None else []:
        renderers[block.name] = lambda block=block: block.render(Path(runs_root), Path(out))
    for bench in benches:
        renderers[f"benchmark:{bench.stem}"] = lambda bench=bench: render_benchmark_file(bench)
    unknown = sorted(set(only or ()) - set(renderers))
    if unknown:
        raise DataError(f"--only: no block named {', '.join(unknown)}; known: {', '.join(sorted(renderers))}")
    for name, render in renderers.items():
        if only is None or name in only:
            text = replace_block(text, name, render())
    atomic_write_text(out, text)
    return text


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False,
                                     description="Rebuild the results tables in experiments.md from runs/.")
    parser.add_argument("--runs", default="runs", help="Root of the run directories.")
    parser.add_argument("--out", default=str(REPO_ROOT / "experiments.md"), help="Markdown file to update.")
    parser.add_argument("--only", default=None, help="Rewrite only these blocks (comma-separated: table names, "
                        "figure:<name>, benchmark:<name>); the others stay as they are.")
    args = parser.parse_args(argv)

    def entry() -> None:
        runs = collect_runs(Path(args.runs))
        build_report(Path(args.runs), Path(args.out), only=args.only.split(",") if args.only else None, runs=runs)
        print(f"{len(runs)} finished runs from {args.runs} -> {args.out}")

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
