"""Rebuild the results tables in experiments.md (and benchmarks.md) from the run directories.

Usage:
    python -m common.report [--runs runs] [--out experiments.md] [--only NAME,...]

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
Two blocks open experiments.md: `summary` (common/summary.py: per phase task, the original
study's figure, our best row read from the tables just rebuilt, the strongest published
figure) and `claims` (common/claims.py: the original study's findings, each phase's verdict
and the paired comparisons behind it, computed from the runs).
Benchmark scripts write `<runs>/benchmarks/<name>.json`, rendered between
`<!-- START TABLE benchmark:<name> -->` markers of benchmarks.md (beside the output file).
A phase's figures (`FigureSpec`) are drawn from the runs into `figures/<name>.png` beside
the output file and linked between `<!-- START TABLE figure:<name> -->` markers; its blocks
(`BlockSpec`) render anything else (a sweep's trials table) between `<!-- START TABLE <name> -->`
markers.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from common import REPO_ROOT
from common.claims import render_claims
from common.cli import exit_on_bad_input
from common.errors import DataError, describe
from common.phases import discover_phases
from common.records import atomic_write_text, read_json
from common.summary import block_text, render_summary
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
    if spec.reported and spec.study_data is not None:  # beside the study's data: before other data sets
        lines += ["", *reported_lines(spec)]
    for data, groups in sorted(by_data.items()) if spec.other_data or spec.study_data is None else ():
        members = [run for g in groups for run in g]
        note = "" if spec.study_data is None else \
            "; not the study's data set, so comparable neither with the rows above nor with published numbers"
        lines += [""] if lines else []
        lines += render_part(spec, groups, f"**{spec.title}**, data: `{model_label(data)}`, "
                             f"{describe_labels(members)} (runs made here{note})", study=spec.study_data is None)
    if spec.reported and spec.study_data is None:  # a table of its own data sets: its runs first
        lines += ["", *reported_lines(spec)] if lines else reported_lines(spec)
    return "\n".join(lines)


REPORTED_TITLE = "Reported by others, not run here:"


def reported_lines(spec: TableSpec) -> list[str]:
    """The spec's reported rows (others' and the original study's figures) as Markdown lines."""
    headers = list(dict.fromkeys(key for row in spec.reported for key in row))
    return [REPORTED_TITLE, "", *markdown_rows(headers, [[str(row.get(h, "–")) for h in headers]
                                                         for row in spec.reported])]


def splice_reported(block: str, spec: TableSpec) -> str:
    """`block` (a table as experiments.md holds it) with its reported part rendered anew from
    `spec` and its parts of runs kept as they are: what a machine without the table's runs can
    still bring up to date. A block without a reported part gets it after its first table."""
    lines = block.strip("\n").split("\n")
    new = reported_lines(spec) if spec.reported else []
    if REPORTED_TITLE in lines:
        start = end = lines.index(REPORTED_TITLE)
        end += 2
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        if not new and start > 0 and lines[start - 1] == "":
            start -= 1  # the blank line before the part goes with it
        lines[start:end] = new
    elif new:
        first = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
        after = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
        lines[after:after] = ["", *new]
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


BLOCK = re.compile(r"<!-- START TABLE (.+?) -->.*?<!-- END TABLE \1 -->", re.DOTALL)
# A score as prose would quote one: 0.8309, +0.063, -0.048, 1.00 (a sign, a 0 or 1, decimals).
SCORE = re.compile(r"(?<![\w.])[-+]?[01]\.\d+(?![\w.])")


def unbacked_scores(*texts: str) -> list[str]:
    """The scores that the hand-written text of `texts` (outside the generated blocks) quotes
    and that no generated block of any of them holds: numbers a rebuild of the tables would
    leave behind. Each once, in order of appearance; "+0.063" is found as "0.063" too."""
    generated = " ".join(match.group(0) for text in texts for match in BLOCK.finditer(text))
    held = {number.lstrip("+-") for number in SCORE.findall(generated)}
    quoted = [number for text in texts for number in SCORE.findall(BLOCK.sub(" ", text))]
    return list(dict.fromkeys(number for number in quoted if number.lstrip("+-") not in held))


def declared_claims() -> list[tuple[str, Any]]:
    """Every phase's verdicts on the original study's findings, with the phase's name."""
    return [(phase.name, verdict) for phase in discover_phases().values() for verdict in phase.claims]


def build_report(runs_root: Path, out: Path, specs: Optional[Sequence[TableSpec]] = None,
                 figures: Optional[Sequence[FigureSpec]] = None, only: Optional[Sequence[str]] = None,
                 runs: Optional[Sequence[Run]] = None, benchmarks_out: Optional[Path] = None,
                 reported_only: Sequence[str] = ()) -> str:
    """Rewrite the generated blocks of `out` from the runs under `runs_root`, then its summary
    and claims, and the benchmark blocks of `benchmarks_out` (benchmarks.md beside `out` by
    default); with no run and no benchmark there, an error that leaves both as they were.
    `only` names the blocks to rewrite (tables, other blocks, `summary`, `claims`, figures as
    `figure:<name>`, benchmarks as `benchmark:<name>`), leaving the others as they are: a
    machine that holds some runs updates their tables without emptying the rest; a name
    nobody declares is an error. `runs` are the runs under `runs_root` when the caller has
    collected them already. `reported_only` names tables whose reported rows alone are rendered
    anew, their rows of runs kept (`splice_reported`). Returns the new text of `out`."""
    if Path(out).is_dir():
        raise DataError(f"--out {out} is a folder; name the Markdown file to update")
    runs = collect_runs(runs_root) if runs is None else runs
    if not runs and not list((Path(runs_root) / "benchmarks").glob("*.json")):
        raise DataError(f"no finished runs (no */*/metrics.json) under {runs_root}: {out} is left as it was")
    benchmarks_out = Path(benchmarks_out) if benchmarks_out else Path(out).parent / "benchmarks.md"
    text = out.read_text(encoding="utf-8") if out.exists() else "# Experiments\n"
    renderers = {}
    for spec in specs if specs is not None else declared_specs("tables"):
        renderers[spec.name] = lambda spec=spec: render_table(spec, runs)
    for figure in figures if figures is not None else declared_specs("figures"):
        renderers[f"figure:{figure.name}"] = lambda figure=figure: render_figure(figure, runs, out)
    for block in declared_specs("blocks") if specs is None else []:
        renderers[block.name] = lambda block=block: block.render(Path(runs_root), Path(out))
    # Last: the summary reads the tables just rebuilt; the claims compare the runs themselves.
    finals = {} if specs is not None else {
        "summary": lambda text: render_summary(declared_specs("summary"), text),
        "claims": lambda text: render_claims(declared_claims(), Path(runs_root))}
    benches = {f"benchmark:{bench.stem}": lambda bench=bench: render_benchmark_file(bench)
               for bench in sorted((Path(runs_root) / "benchmarks").glob("*.json"))}
    tables = {spec.name: spec for spec in (specs if specs is not None else declared_specs("tables"))}
    unknown = sorted((set(only or ()) - set(renderers) - set(finals) - set(benches))
                     | (set(reported_only) - set(tables)))
    if unknown:
        known = sorted([*renderers, *finals, *benches])
        raise DataError(f"--only: no block named {', '.join(unknown)}; known: {', '.join(known)}")
    for name, render in renderers.items():
        if only is None or name in only:
            text = replace_block(text, name, render())
    for name in reported_only:
        text = replace_block(text, name, splice_reported(block_text(text, name) or "", tables[name]))
    for name, render in finals.items():
        if only is None or name in only:
            text = replace_block(text, name, render(text))
    chosen = {name: render for name, render in benches.items() if only is None or name in only}
    if chosen:
        bench_text = (benchmarks_out.read_text(encoding="utf-8") if benchmarks_out.exists()
                      else "# Benchmarks\n")
        for name, render in chosen.items():
            bench_text = replace_block(bench_text, name, render())
        atomic_write_text(benchmarks_out, bench_text)
    atomic_write_text(out, text)
    return text


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False,
                                     description="Rebuild the results tables in experiments.md from runs/.")
    parser.add_argument("--runs", default="runs", help="Root of the run directories.")
    parser.add_argument("--out", default=str(REPO_ROOT / "experiments.md"), help="Markdown file to update.")
    parser.add_argument("--benchmarks_out", default=None,
                        help="Markdown file of the benchmark blocks (default: benchmarks.md beside --out).")
    parser.add_argument("--only", default=None, help="Rewrite only these blocks (comma-separated: table names, "
                        "summary, claims, figure:<name>, benchmark:<name>); the others stay as they are.")
    parser.add_argument("--reported_only", default=None,
                        help="Tables (comma-separated) whose reported rows (others' and the original study's "
                             "figures) alone are rendered anew, their rows of runs kept: for a machine without "
                             "those runs.")
    args = parser.parse_args(argv)

    def entry() -> None:
        runs = collect_runs(Path(args.runs))
        benchmarks = Path(args.benchmarks_out) if args.benchmarks_out else Path(args.out).parent / "benchmarks.md"
        text = build_report(Path(args.runs), Path(args.out), only=args.only.split(",") if args.only else None,
                            runs=runs, benchmarks_out=benchmarks,
                            reported_only=args.reported_only.split(",") if args.reported_only else ())
        print(f"{len(runs)} finished runs from {args.runs} -> {args.out}")
        stale = unbacked_scores(text, benchmarks.read_text(encoding="utf-8") if benchmarks.exists() else "")
        if stale:  # prose that quotes a number the tables no longer hold: it must be updated or removed
            print(f"warning: the prose of {args.out} quotes {len(stale)} score(s) that no generated table holds: "
                  f"{', '.join(stale[:20])}{' ...' if len(stale) > 20 else ''}", file=sys.stderr)

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
