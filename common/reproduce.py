"""Reproduce the results tables: run every step of the chosen phases in order, skip the
steps already finished, then rebuild experiments.md.

Usage:
    python -m common.reproduce --check                           # first: is every model and data set on the hub?
    python -m common.reproduce                                   # every phase, full runs (CUDA GPU + internet)
    python -m common.reproduce --phases 1,4 --data_root ../shared/data
    python -m common.reproduce --quick                           # every phase end to end, offline, CPU, minutes
    python -m common.reproduce --quick --phases 1 --dry_run      # list the steps, the hub ids they use, which are done

Each phase declares, in its `phase.py` (common/phases.py), its `Runner` (config class,
presets, `main`, and what a config reads from the hub) and its steps, written in its
`reproduce.py`: `steps(ctx, runner)` for the real runs (one per results-table row, with
the study's models and data) and `quick_steps(ctx, runner)`, the same pipeline on tiny
random models and small synthetic data that the steps write themselves. A step is done
when its output exists (a run's metrics.json, a study's report, a data set's manifest),
so an interrupted reproduction continues where it stopped; an interrupted training run
resumes from its last checkpoint.

`--check` is the preflight (common/hub.py): it resolves every model, data set, revision
and file the chosen steps read from the hub (metadata only, no weights), prints one line
per id (found / missing / gated, and the bytes it will download) and exits 1 unless all
are found; offline it says the hub cannot be reached and lists what it would check.
`--cache_dir DIR` checks a local Hugging Face cache instead (what a machine that will run
offline already holds).

`--quick` writes to runs/quick/ and runs/quick/experiments.md (never to the real
experiments.md), under a banner that says these are smoke results.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from tqdm.auto import tqdm

from common.cli import exit_on_bad_input
from common.hub import (CacheResolver, HubRef, HubResolver, HubUnreachable, format_resolution, human_bytes,
                        merge_refs, resolve_refs, summarize_uses)
from common.phases import Phase, Runner, choose_phases
from common import REPO_ROOT
from common.records import atomic_write_text
from common.report import build_report

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
    uses: Callable[[], list[HubRef]] = lambda: []  # what the step reads from the hub


def train_step(runner: Runner, run_name: str, argv: Sequence[str], ctx: Context) -> Step:
    """One training run of the runner's phase with `argv` (presets and keys), named `run_name`."""
    def run() -> None:
        cfg, provenance = runner.parse([*argv, "--output_dir", str(ctx.runs), "--run_name", run_name,
                                        "--device", ctx.device, "--resume", "true"])
        runner.main(cfg, provenance)

    return Step(runner.phase, run_name, lambda: (ctx.runs / runner.phase / run_name / "metrics.json").exists(), run,
                lambda: runner.refs(argv, f"{runner.phase.split('_')[0]} {run_name}"))


def asset_step(phase: str, name: str, target: Path, make: Callable[[], Any]) -> Step:
    """Write a synthetic data set or tiny model once (done when `target` exists)."""
    return Step(phase, name, target.exists, make)


def sweep_step(runner: Runner, name: str, sweep_dir: Path, run: Callable[[], Any], argv: Sequence[str]) -> Step:
    """A sweep or study whose trials are runs of `runner` with `argv`; done once its best
    configuration was re-run (a run directory named after the sweep holds metrics.json)."""
    return Step(runner.phase, name, lambda: any(sweep_dir.parent.glob(f"{sweep_dir.name}_*/metrics.json")), run,
                lambda: runner.refs(argv, f"{runner.phase.split('_')[0]} {name}"))


def collect_steps(phases: Sequence[Phase], ctx: Context) -> list[Step]:
    steps = []
    for phase in phases:
        steps += phase.quick_steps(ctx, phase.runner) if ctx.quick else phase.steps(ctx, phase.runner)
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


def list_steps(steps: Sequence[Step]) -> None:
    """The plan: each step, whether it is done, and the hub ids it reads."""
    for step in steps:
        uses = ", ".join(ref.describe() for ref in step.uses())
        print(f"[{'done' if step.done() else 'todo'}] {step.phase}: {step.name}" + (f"  <- {uses}" if uses else ""))


def check_plan(steps: Sequence[Step], resolver_factory: Callable[[], Any]) -> bool:
    """Resolve every hub ref of `steps`; print one line per id; True when all are found."""
    refs = [ref for step in steps for ref in step.uses()]
    if not refs:
        print("the chosen steps read nothing from the hub")
        return True
    try:
        results = resolve_refs(refs, resolver_factory())
    except HubUnreachable as exc:
        print(f"the hub cannot be reached ({exc}); nothing was checked. With a connection, --check resolves:")
        for ref, used_by in merge_refs(refs):
            print(f"  {ref.describe():<60} used by {summarize_uses(used_by)}")
        return False
    for result in results:
        print(format_resolution(result))
    counts = {status: sum(r.status == status for r in results) for status in ("found", "missing", "gated")}
    total = sum(r.download_bytes for r in results if r.status != "missing")
    print(f"{len(results)} ids: {counts['found']} found, {counts['missing']} missing, {counts['gated']} gated; "
          f"{human_bytes(total)} of weights and files (what a run downloads, unless it is in the cache)")
    return counts["found"] == len(results)


def reproduce(phases: Sequence[str], ctx: Context, out: Path, dry_run: bool = False) -> dict:
    """Run the steps of `phases` (numbers or package names) not yet done; rebuild `out`."""
    steps = collect_steps(choose_phases(",".join(phases)), ctx)
    if dry_run:
        list_steps(steps)
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
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default=None, help="Comma-separated phase numbers or names (default: all).")
    parser.add_argument("--quick", action="store_true", help="Tiny models and synthetic data, offline, on a CPU.")
    parser.add_argument("--data_root", default=None, help="Folder holding the real data sets (financial_phrasebank/, "
                        "tweet_sentiment_multilingual/, medical_abstracts/); default: the hub.")
    parser.add_argument("--runs", default=None, help="Runs root (default: runs, or runs/quick with --quick).")
    parser.add_argument("--out", default=None, help="Markdown file to rebuild (default: experiments.md, or "
                        "<runs>/experiments.md with --quick).")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: auto; cpu with --quick).")
    parser.add_argument("--seeds", default="42", help="Seeds of every training run (comma-separated).")
    parser.add_argument("--dry_run", action="store_true", help="List the steps, the hub ids each reads, and "
                        "whether each is done.")
    parser.add_argument("--check", action="store_true", help="Preflight: resolve every hub id, revision and file "
                        "the steps read (no weights are downloaded); exit 1 unless all are found.")
    parser.add_argument("--cache_dir", default=None, help="With --check: resolve against this local Hugging Face "
                        "cache (e.g. ~/.cache/huggingface/hub) instead of the hub.")
    args = parser.parse_args(argv)

    def entry() -> None:
        runs = Path(args.runs or ("runs/quick" if args.quick else "runs"))
        out = Path(args.out or (runs / "experiments.md" if args.quick else REPO_ROOT / "experiments.md"))
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        ctx = Context(runs, args.quick, Path(args.data_root) if args.data_root else None,
                      args.device or ("cpu" if args.quick else "auto"), seeds)
        phases = choose_phases(args.phases)
        if args.check:
            resolver = (lambda: CacheResolver(Path(args.cache_dir).expanduser())) if args.cache_dir else HubResolver
            if not check_plan(collect_steps(phases, ctx), resolver):
                raise SystemExit(1)
            return
        reproduce([phase.name for phase in phases], ctx, out, args.dry_run)

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
