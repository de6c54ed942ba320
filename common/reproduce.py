"""Reproduce the results tables: run every step of the chosen phases in order, skip the
steps already finished, then rebuild experiments.md.

Usage:
    python -m common.reproduce                                   # every phase, full runs (CUDA GPU + internet)
    python -m common.reproduce --phases 1,4 --data_root ../shared/data
    python -m common.reproduce --quick                           # every phase end to end, offline, CPU, minutes
    python -m common.reproduce --quick --phases 1 --dry_run      # list the steps and which are done

Each phase lists its steps in `<phase>/reproduce.py`: `steps(ctx)` for the real runs (one
per results-table row, with the study's models and data) and `quick_steps(ctx)`, the same
pipeline on tiny random models and small synthetic data that the steps write themselves.
A step is done when its output exists (a run's metrics.json, a study's report, a data
set's manifest), so an interrupted reproduction continues where it stopped; an
interrupted training run resumes from its last checkpoint.

`--quick` writes to runs/quick/ and runs/quick/experiments.md (never to the real
experiments.md), under a banner that says these are smoke results.
"""
from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from tqdm.auto import tqdm

from common.cli import exit_on_bad_input
from common.config import parse_config
from common.errors import ConfigError
from common.records import REPO_ROOT, atomic_write_text
from common.report import build_report

PHASES = {str(i): name for i, name in enumerate(sorted(p.name for p in REPO_ROOT.glob("phase[0-9]_*")), start=1)}
QUICK_BANNER = ("# Smoke results (`python -m common.reproduce --quick`)\n\n"
                "**Every number below comes from tiny, randomly initialised models trained for an epoch or two on "
                "small synthetic data sets, on a CPU. They show that each pipeline runs end to end; they say "
                "nothing about the methods. The real results are in experiments.md.**\n")


@dataclass
class Context:
    runs: Path  # root of the run directories
    quick: bool
    data_root: Optional[Path] = None  # the real data sets (one folder per data set); None: the hub
    device: str = "auto"
    seeds: list[int] = field(default_factory=lambda: [42])

    @property
    def assets(self) -> Path:
        """Where quick steps write their synthetic data and tiny models."""
        return self.runs / "assets"

    def data_args(self, folder: str) -> list[str]:
        return ["--data_dir", str(self.data_root / folder)] if self.data_root else []


@dataclass
class Step:
    phase: str
    name: str
    done: Callable[[], bool]
    run: Callable[[], Any]


def train_step(phase: str, run_name: str, argv: Sequence[str], ctx: Context) -> Step:
    """One training run of `phase` with `argv` (presets and keys), named `run_name`."""
    def run() -> None:
        config = importlib.import_module(f"{phase}.config")
        config_cls = next(getattr(config, name) for name in dir(config) if name.endswith("Config")
                          and name.startswith("Phase"))
        main = importlib.import_module(f"{phase}.train").main
        cfg, provenance = parse_config(config_cls, [*argv, "--output_dir", str(ctx.runs), "--run_name", run_name,
                                                    "--device", ctx.device, "--resume", "true"], config.PRESET_DIR)
        main(cfg, provenance)

    return Step(phase, run_name, lambda: (ctx.runs / phase / run_name / "metrics.json").exists(), run)


def asset_step(phase: str, name: str, target: Path, make: Callable[[], Any]) -> Step:
    """Write a synthetic data set or tiny model once (done when `target` exists)."""
    return Step(phase, name, target.exists, make)


def sweep_step(phase: str, name: str, sweep_dir: Path, run: Callable[[], Any]) -> Step:
    """A sweep or study; done once its best configuration was re-run (a run directory
    named after the sweep holds metrics.json)."""
    return Step(phase, name, lambda: any(sweep_dir.parent.glob(f"{sweep_dir.name}_*/metrics.json")), run)


def collect_steps(phases: Sequence[str], ctx: Context) -> list[Step]:
    steps = []
    for phase in phases:
        module = importlib.import_module(f"{phase}.reproduce")
        steps += module.quick_steps(ctx) if ctx.quick else module.steps(ctx)
    return steps


def run_steps(steps: Sequence[Step]) -> dict:
    """Run the steps not yet done, in order, with an overall progress bar."""
    counts = {"done before": 0, "ran": 0}
    bar = tqdm(steps, desc="reproduce", unit="step")
    for step in bar:
        bar.set_postfix_str(f"{step.phase.split('_')[0]} {step.name}")
        if step.done():
            counts["done before"] += 1
            continue
        started = time.perf_counter()
        tqdm.write(f"== {step.phase}: {step.name}")
        step.run()
        tqdm.write(f"== {step.phase}: {step.name} finished in {time.perf_counter() - started:.0f}s")
        counts["ran"] += 1
    return counts


def parse_phases(text: Optional[str]) -> list[str]:
    if not text:
        return list(PHASES.values())
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in chosen if p not in PHASES and p not in PHASES.values()]
    if unknown:
        raise ConfigError(f"--phases: unknown phase(s) {', '.join(unknown)}; choose from "
                          + ", ".join(f"{k} ({v})" for k, v in PHASES.items()))
    return [PHASES.get(p, p) for p in chosen]


def reproduce(phases: Sequence[str], ctx: Context, out: Path, dry_run: bool = False) -> dict:
    steps = collect_steps(phases, ctx)
    if dry_run:
        for step in steps:
            print(f"[{'done' if step.done() else 'todo'}] {step.phase}: {step.name}")
        return {"steps": len(steps)}
    started = time.perf_counter()
    counts = run_steps(steps)
    if ctx.quick and not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, QUICK_BANNER)
    build_report(ctx.runs, out)
    seconds = time.perf_counter() - started
    print(f"{len(steps)} steps ({counts['ran']} run, {counts['done before']} already done) in {seconds:.0f}s; "
          f"tables rebuilt in {out}")
    return {**counts, "steps": len(steps), "seconds": seconds}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default=None, help="Comma-separated phase numbers or names (default: all).")
    parser.add_argument("--quick", action="store_true", help="Tiny models and synthetic data, offline, on a CPU.")
    parser.add_argument("--data_root", default=None, help="Folder holding the real data sets (financial_phrasebank/, "
                        "tweet_sentiment_multilingual/, medical_abstracts/); default: the hub.")
    parser.add_argument("--runs", default=None, help="Runs root (default: runs, or runs/quick with --quick).")
    parser.add_argument("--out", default=None, help="Markdown file to rebuild (default: experiments.md, or "
                        "<runs>/experiments.md with --quick).")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: auto; cpu with --quick).")
    parser.add_argument("--seeds", default="42", help="Seeds of every training run (comma-separated).")
    parser.add_argument("--dry_run", action="store_true", help="List the steps and whether each is done.")
    args = parser.parse_args(argv)

    def entry() -> None:
        runs = Path(args.runs or ("runs/quick" if args.quick else "runs"))
        out = Path(args.out or (runs / "experiments.md" if args.quick else REPO_ROOT / "experiments.md"))
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        ctx = Context(runs, args.quick, Path(args.data_root) if args.data_root else None,
                      args.device or ("cpu" if args.quick else "auto"), seeds)
        reproduce(parse_phases(args.phases), ctx, out, args.dry_run)

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
