"""What torch.compile does to one phase 1 training step at fixed shapes: eager against
compiled with static shapes (one graph per sequence length, what length buckets would
give) and with dynamic shapes (one graph for every length, what `torch_compile` ends up
with after its first recompilation).

Usage:
    python benchmarks/compile_shapes.py
    python benchmarks/compile_shapes.py --lengths 32,64 --steps 10 --repeats 2 --modes eager,dynamic

Phase 1's model (all-MiniLM-L6-v2 by default, linear head) trains through
`common.training_steps.train_one_epoch` (forward, loss, backward, clipping, fused AdamW, the
schedule) on batches of `--batch_size` random token ids of each length, with full
attention masks. Each mode gets its own copy of the same seeded model. The first two
steps of each (mode, length) are timed apart (for compiled modes they include the
compilation), then `--steps` steps are timed `--repeats` times, the modes interleaved, so
that the machine's drift falls on all of them alike. The ratio is eager's seconds per
step over the mode's, per length, in the same invocation.

torch.compile's on-disk caches go to a fresh folder under the output directory, removed at
the end, so the compile times are those of a first run on a fresh machine (with a warm
cache from earlier runs they are much shorter). Writes `<output_dir>/benchmarks/compile_shapes.json` (the
table `python -m common.report` renders).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.phase1_vs_trainer import default_model_dir, dynamo_graphs, model_name  # noqa: E402
from common.training_steps import StepSettings, train_one_epoch  # noqa: E402
from common.models import load_tokenizer  # noqa: E402
from common.optim import build_optimizer, build_scheduler  # noqa: E402
from common.records import collect_env, write_json  # noqa: E402
from common.seeding import set_seed  # noqa: E402
from phase1_financial_phrasebank.config import Phase1Config  # noqa: E402
from phase1_financial_phrasebank.models import build_model  # noqa: E402

LABELS = ["negative", "neutral", "positive"]
# name: (row label, torch.compile's `dynamic`; None: not compiled)
MODES = {"eager": ("eager", None), "static": ("compiled, static shapes", False),
         "dynamic": ("compiled, dynamic shapes", True)}


def batches(vocab_size: int, batch_size: int, length: int, steps: int, seed: int) -> list[dict]:
    """`steps` batches of random token ids (new dicts each call: the loop pops their labels)."""
    generator = torch.Generator().manual_seed(seed)
    low = min(1000, vocab_size // 2)  # past the special and unused ids of a BERT vocabulary
    return [{"input_ids": torch.randint(low, vocab_size, (batch_size, length), generator=generator),
             "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
             "labels": torch.randint(0, len(LABELS), (batch_size,), generator=generator)} for _ in range(steps)]


class Trainee:
    """One mode's model, optimizer and schedule, trained step by step: a copy of `base`,
    changed by `prepare` (e.g. parameters frozen) before its optimizer is built, and run
    through torch.compile unless `dynamic` is None."""

    def __init__(self, base: torch.nn.Module, dynamic, total_steps: int,
                 prepare: Optional[Callable[[torch.nn.Module], object]] = None, learning_rate: float = 5e-5):
        self.model = copy.deepcopy(base)
        if prepare:
            prepare(self.model)
        self.optimizer = build_optimizer(self.model, learning_rate, 0.01)
        self.scheduler = build_scheduler(self.optimizer, "linear", total_steps, 0.1)
        self.run = self.model if dynamic is None else torch.compile(self.model, dynamic=dynamic)

    def seconds(self, loader: list[dict]) -> float:
        started = time.perf_counter()
        train_one_epoch(self.run, loader, self.optimizer, self.scheduler, torch.device("cpu"),
                        StepSettings(progress=False))
        return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=None, help="Local encoder; default: the all-MiniLM-L6-v2 package.")
    parser.add_argument("--lengths", default="32,48,64", help="Sequence lengths (padded tokens per example).")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per (mode, length, repeat).")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES), help=f"Some of {', '.join(MODES)} (eager always runs: "
                        "it is the reference).")
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)
    modes = list(dict.fromkeys(["eager"] + [m.strip() for m in args.modes.split(",") if m.strip()]))
    if set(modes) - set(MODES):
        parser.error(f"--modes: {', '.join(sorted(set(modes) - set(MODES)))} not among {', '.join(MODES)}")
    args.model_dir = str(Path(args.model_dir or default_model_dir()).resolve())
    folder = Path(args.output_dir) / "benchmarks" / "compile_shapes"
    cache = folder / f"inductor_cache_{os.getpid()}"  # a fresh cache: compile times of a first run
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache.resolve())
    os.environ["TRITON_CACHE_DIR"] = str((cache / "triton").resolve())
    lengths = [int(length) for length in args.lengths.split(",")]

    tokenizer = load_tokenizer(args.model_dir)
    set_seed(42)
    base = build_model(Phase1Config(model_name_or_path=args.model_dir, device="cpu"), tokenizer, LABELS)
    total_steps = len(lengths) * (2 + args.steps * args.repeats)
    trainees = {mode: Trainee(base, MODES[mode][1], total_steps) for mode in modes}
    first: dict[tuple[str, int], float] = {}
    graphs: dict[str, int] = {}
    for mode, trainee in trainees.items():  # compile (or warm up) each mode at each length
        before = dynamo_graphs()
        for length in lengths:
            first[mode, length] = trainee.seconds(batches(len(tokenizer), args.batch_size, length, 2, seed=length))
            print(f"{MODES[mode][0]}, length {length}: first 2 steps {first[mode, length]:.1f} s", flush=True)
        graphs[mode] = dynamo_graphs() - before
    timed: dict[tuple[str, int], list[float]] = {key: [] for key in first}
    for repeat in range(args.repeats):
        for length in lengths:
            for mode, trainee in trainees.items():
                loader = batches(len(tokenizer), args.batch_size, length, args.steps, seed=repeat * 1000 + length)
                timed[mode, length].append(trainee.seconds(loader) / args.steps)
    if dynamo_graphs() != sum(graphs.values()):
        print("warning: torch.compile recompiled during the timed steps; their times include compilation")

    rows = []
    for mode in modes:
        step = {length: statistics.median(timed[mode, length]) for length in lengths}
        eager = {length: statistics.median(timed["eager", length]) for length in lengths}
        warmup = sum(first[mode, length] - 2 * step[length] for length in lengths)
        rows.append({"mode": MODES[mode][0], "graphs compiled": graphs[mode],
                     **{f"s/step, length {length}": round(step[length], 3) for length in lengths},
                     **{f"speed-up vs eager, length {length}": round(eager[length] / step[length], 2)
                        for length in lengths},
                     "compile s (first steps beyond their steady time)": round(warmup, 1)})
        print(json.dumps(rows[-1]))
    env = collect_env(torch.device("cpu"))
    write_json(Path(args.output_dir) / "benchmarks" / "compile_shapes.json", {
        "title": "Phase 1 training step: eager vs torch.compile with static and dynamic shapes",
        "setup": {"model": model_name(args.model_dir), "device": f"CPU ({env['cpu_count']} cores)",
                  "threads": torch.get_num_threads(), "batch": args.batch_size, "steps": args.steps,
                  "repeats": args.repeats, "inductor cache": "fresh", "torch": torch.__version__,
                  "date": time.strftime("%Y-%m-%d")},
        "rows": rows})
    shutil.rmtree(cache, ignore_errors=True)  # made for this invocation alone: a later one starts cold again
    print(f"wrote {Path(args.output_dir) / 'benchmarks' / 'compile_shapes.json'}")


if __name__ == "__main__":
    main()
