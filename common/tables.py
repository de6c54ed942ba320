"""The table types the phases declare their results with, and the run records they read.

A phase's `tables.py` builds `TableSpec`s (a table: which runs, which `Column`s), `FigureSpec`s
and `BlockSpec`s from these, and `phase.py` declares them (common/phases.py); `common.report`
renders them into experiments.md. A `Run` is one finished run directory's records; runs that
differ only in their seed form one row (`group_runs`, `group_key`), shown as mean ± std.
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from common.errors import describe
from common.offline_models import describe_stand_in
from common.records import read_json


# Config keys that do not change what a run measures: runs differing only here are seeds of one row.
NON_EXPERIMENT_KEYS = {"seed", "run_name", "output_dir", "device", "resume", "overwrite", "progress",
                       "num_workers", "data_dir", "eval_batch_size", "report_to", "logging_steps"}


DEBUG_KEYS = ("max_train_samples", "max_eval_samples", "max_steps")


@dataclass
class Column:
    header: str
    key: str  # "metrics.<key>", "config.<key>" or "env.<key>"
    fmt: str = "{:.4f}"
    # Where `applies` is False the cell shows "–" (a key that has no meaning there).
    applies: Optional[Callable[["Run"], bool]] = None
    study_only: bool = False  # meaningful on the study's data set alone (e.g. its agreement level): left out elsewhere

    def value(self, run: "Run") -> Any:
        return run.value(self.key) if self.applies is None or self.applies(run) else None

    def format(self, values: Sequence[Any]) -> str:
        """The cell of a row: one run's value, or mean ± std over its seeds."""
        return format_cell(values, self.fmt)


def format_seconds(value: float) -> str:
    """Seconds to three significant figures (whole seconds from 100 on): 0.512, 50.2, 142, 1,234."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


@dataclass
class SecondsColumn(Column):
    """A duration: one run's, or mean ± std over seeds, each to three significant figures."""

    def format(self, values: Sequence[Any]) -> str:
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            return "–"
        if len(set(numbers)) == 1:
            return format_seconds(numbers[0])
        return f"{format_seconds(statistics.mean(numbers))} ± {format_seconds(statistics.stdev(numbers))}"


@dataclass
class IntervalColumn(Column):
    """A 95% interval ([low, high] in metrics.json): one run's, or for several seeds the
    span from the lowest low to the highest high."""

    fmt: str = "{:.3f}"

    def format(self, values: Sequence[Any]) -> str:
        bounds = [v for v in values if isinstance(v, (list, tuple)) and len(v) == 2]
        if not bounds:
            return "–"
        low, high = min(b[0] for b in bounds), max(b[1] for b in bounds)
        return f"[{self.fmt.format(low)}, {self.fmt.format(high)}]" + (" (span over seeds)" if len(bounds) > 1 else "")


@dataclass
class GroupColumn(Column):
    """The `metric` of one group's examples in `split`, read from metrics.json's `groups`
    record (a group name may hold dots, so it is not walked as a key path)."""

    split: str = "test"
    group: str = ""
    metric: str = "f1_macro"

    def value(self, run: "Run") -> Any:
        scores = ((run.metrics.get("groups") or {}).get(self.split) or {}).get(self.group)
        return scores.get(self.metric) if isinstance(scores, dict) else None


@dataclass
class WorstGroupColumn(Column):
    """The lowest `metric` over a run's groups in `split` (e.g. its worst language), or with
    `name` that group's name: how far a model falls behind on its hardest group."""

    split: str = "test"
    metric: str = "f1_macro"
    name: bool = False

    def value(self, run: "Run") -> Any:
        groups = (run.metrics.get("groups") or {}).get(self.split) or {}
        scores = {group: record[self.metric] for group, record in groups.items()
                  if isinstance(record, dict) and record.get(self.metric) is not None}
        if not scores:
            return None
        worst = min(scores, key=scores.get)
        return worst if self.name else scores[worst]


@dataclass
class GroupColumns:
    """One column per group (a language, a kind of example) that the rows of a table part
    recorded for `split`; the groups in `order` first, in that order, then the others sorted."""

    split: str = "test"
    metric: str = "f1_macro"
    header: str = "{group}"
    fmt: str = "{:.4f}"
    order: Sequence[str] = ()

    def expand(self, runs: Sequence["Run"]) -> list[Column]:
        present = {group for run in runs for group in ((run.metrics.get("groups") or {}).get(self.split) or {})}
        ordered = [g for g in self.order if g in present] + sorted(present - set(self.order))
        return [GroupColumn(self.header.format(group=g), "", self.fmt, split=self.split, group=g, metric=self.metric)
                for g in ordered]


@dataclass
class TableSpec:
    name: str
    phase: str
    title: str
    columns: list  # Column or GroupColumns
    select: Callable[[dict], bool] = lambda run: True
    reported: list[dict] = field(default_factory=list)  # {"source", "model", "data", <header>: value}
    study_data: Optional[str] = None  # config.dataset of the study's data; None: each data set a part of its own
    other_data: bool = True  # False: runs on other data sets are left out (every column is study_only)
    describe_model: Callable[["Run"], str] = lambda run: describe_model(run.config, run.metrics.get("stand_in"))


@dataclass
class FigureSpec:
    """A figure drawn from runs into `figures/<name>.png` beside experiments.md.

    `draw(groups, path, title)` gets the chosen runs grouped into rows (seeds of one
    experiment together) and returns False when there is nothing to draw."""

    name: str
    phase: str
    title: str
    draw: Callable[[list, Path, str], bool]
    select: Callable[[Any], bool] = lambda run: True


@dataclass
class BlockSpec:
    """Any other generated block: `render(runs_root, out)` returns its markdown (e.g. a
    sweep's trials table, read from its trials.csv)."""

    name: str
    render: Callable[[Path, Path], str]


@dataclass
class Run:
    phase: str
    path: Path
    config: dict
    env: dict
    metrics: dict

    def value(self, key: str) -> Any:
        """`metrics.<key>`, `config.<key>` or `env.<key>`; further dots walk into nested records."""
        source, *path = key.split(".")
        value: Any = {"metrics": self.metrics, "config": self.config, "env": self.env}[source]
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return value


def collect_runs(runs_root: Path) -> list[Run]:
    """Every finished run (one with metrics.json) under `<runs_root>/<phase>/<run_name>/`."""
    runs = []
    for metrics_path in sorted(Path(runs_root).glob("*/*/metrics.json")):
        run_dir = metrics_path.parent
        try:
            config = read_json(run_dir / "config.json")
            env = read_json(run_dir / "env.json") if (run_dir / "env.json").exists() else {}
            metrics = read_json(metrics_path)
            if not isinstance(metrics, dict) or not isinstance(config.get("config"), dict):
                raise TypeError("metrics.json or config.json is not a JSON object of records")
            provenance = {key: config.get(key) for key in ("preset", "sweep", "rerun", "baseline")}
            runs.append(Run(phase=run_dir.parent.name, path=run_dir, config={**config["config"], **provenance},
                            env=env if isinstance(env, dict) else {}, metrics=metrics))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a truncated or foreign record
            print(f"warning: skipping {run_dir}: its records cannot be read ({describe(exc)})", file=sys.stderr)
    return runs


def group_key(run: Run) -> str:
    return json.dumps({k: v for k, v in run.config.items() if k not in NON_EXPERIMENT_KEYS}, sort_keys=True)


def format_cell(values: Sequence[Any], fmt: str) -> str:
    values = [", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v for v in values if v is not None]
    if not values:
        return "–"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        distinct = sorted({str(v) for v in values})
        return ", ".join(distinct)
    if len(set(values)) == 1:  # one run, or a setting all seeds share
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def describe_device(env: dict) -> str:
    return env.get("gpu_name") or f"CPU ({env.get('cpu_count', '?')} cores)"


def model_label(path: str) -> str:
    """Hub ids stay as they are; local directories are named by their last parts."""
    parts = Path(str(path)).parts
    return str(path) if len(parts) <= 2 else "/".join(parts[-2:])


def describe_model(config: dict, stand_in: Optional[dict] = None) -> str:
    """A run's model, from its config: the pretrained checkpoint's name (for an offline
    stand-in, `stand_in` as metrics.json records it: what it is and for which model it
    stands), or the small architecture trained from scratch (common/small_transformers.py)
    and its tokenizer."""
    architecture = config.get("architecture") or "pretrained"
    if architecture == "pretrained" and stand_in:
        return describe_stand_in(stand_in)
    if architecture == "pretrained":
        return model_label(config.get("model_name_or_path"))
    if config.get("train_tokenizer"):
        return (f"{architecture} from scratch (byte-level BPE of the train split, "
                f"{config.get('tokenizer_vocab_size')} tokens at most)")
    tokenizer = config.get("tokenizer_name_or_path") or config.get("model_name_or_path")
    return f"{architecture} from scratch (tokenizer {model_label(tokenizer)})"


def group_runs(phase: str, select: Callable[[Run], bool], runs: Sequence[Run]) -> list[list[Run]]:
    """The chosen runs of `phase`, grouped into rows: runs that differ only in their seed."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.phase == phase and select(run):
            groups.setdefault(group_key(run), []).append(run)
    return sorted(groups.values(), key=lambda g: (g[0].config.get("preset") or "", g[0].path.name))


def row_label(members: Sequence[Run]) -> str:
    """The row's runs by directory name; `<stem>_seed*` when every run is `<stem>_seed<its seed>`."""
    names = sorted(run.path.name for run in members)
    seeded = all(run.path.name.endswith(f"_seed{run.config.get('seed')}") for run in members)
    stems = {run.path.name.removesuffix(f"_seed{run.config.get('seed')}") for run in members}
    label = f"{stems.pop()}_seed*" if len(members) > 1 and seeded and len(stems) == 1 else ", ".join(names)
    first = members[0]
    if any(first.config.get(k) for k in DEBUG_KEYS):  # never let a debug run pass for a full one
        label += " (subset: " + ", ".join(f"{k}={first.config[k]}" for k in DEBUG_KEYS
                                                 if first.config.get(k)) + ")"
    return label


def data_of(run: Run, study_data: Optional[str]) -> str:
    """The data set a run was trained on: `study_data` for the study's own, else its source
    (the file or hub id the data loader recorded) or its `dataset` key."""
    dataset = run.config.get("dataset")
    if study_data is not None and dataset in (None, study_data):
        return study_data
    return str((run.metrics.get("data") or {}).get("source") or dataset or "unknown data")


def describe_labels(runs: Sequence[Run]) -> str:
    """"3 labels: negative, neutral, positive" (the names when there are few), from metrics.json;
    sets of several sizes in order of size; none for runs without labels (e.g. target extraction)."""
    sets = sorted({tuple(run.metrics["labels"]) for run in runs if isinstance(run.metrics.get("labels"), list)},
                  key=lambda names: (len(names), names))
    if not sets:
        return "labels not recorded"
    if not any(sets[-1]):
        return "no labels (text outputs)"
    return "; ".join(f"{len(names)} label{'s' if len(names) != 1 else ''}"
                     + (f": {', '.join(names)}" if len(names) <= 8 else "") for names in sets if names)


def markdown_rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(row) + " |" for row in rows)]


def publish_figure(source: Path, out: Path, name: str, caption: str) -> str:
    """Copy a run's figure to `figures/<name>` beside the markdown file; return its link."""
    target = Path(out).parent / "figures" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"![{caption}](figures/{name})"
