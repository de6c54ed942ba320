"""What live logging costs: seconds per epoch of one phase 1 run without a tracker, with
TensorBoard and with MLflow (local store), in one invocation.

Usage:
    python benchmarks/tracking_overhead.py --data_dir ../shared/data/financial_phrasebank
    python benchmarks/tracking_overhead.py --data_dir DIR --model_dir distilbert/distilbert-base-uncased --device cuda

The runs go one after the other in this process: a warm-up run first (not counted: the first
epochs of a process are slower), then the run without a tracker, with TensorBoard, with
MLflow, and without a tracker again (its two timings bracket the machine's drift; the
overhead is measured against their mean).
Every run trains the same model on the same data and seed, so the scores must agree; the
training loss and learning rate are logged every `--logging_steps` optimizer steps. Writes
`<output_dir>/benchmarks/tracking_overhead.json` for `python -m common.report`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.phase1_vs_trainer import default_model_dir, model_name  # noqa: E402
from common.records import collect_env, read_json, write_json  # noqa: E402
from phase1_financial_phrasebank.config import Phase1Config  # noqa: E402
from phase1_financial_phrasebank.train import main as phase1_main  # noqa: E402

SETUPS = (("none", ["none"]), ("tensorboard", ["tensorboard"]), ("mlflow", ["mlflow"]), ("none (again)", ["none"]))
WARM_UP = ("warm-up", ["none"])


def run(args, label: str, report_to: list[str]) -> dict:
    cfg = Phase1Config(model_name_or_path=args.model_dir, data_dir=args.data_dir, output_dir=args.output_dir,
                       run_name=f"bench_tracking_{label.split()[0].replace('-', '_')}"
                                f"{'_again' if 'again' in label else ''}",
                       device=args.device, epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length,
                       max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples,
                       logging_steps=args.logging_steps,
                       report_to=report_to, progress=False, overwrite=True, seed=args.seed)
    metrics = read_json(phase1_main(cfg) / "metrics.json")
    return {"trackers": label, "s/epoch": metrics["seconds_per_epoch"], "test macro-F1": metrics["test_f1_macro"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="Financial PhraseBank folder (Sentences_*Agree.txt).")
    parser.add_argument("--model_dir", default=None, help="Encoder (default: the local all-MiniLM-L6-v2).")
    parser.add_argument("--output_dir", default="runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--max_train_samples", type=int, default=1200)
    parser.add_argument("--max_eval_samples", type=int, default=200)
    parser.add_argument("--logging_steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.model_dir = args.model_dir or default_model_dir()
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the local store inside output_dir: no server in the timing
    run(args, *WARM_UP)
    rows = [run(args, label, report_to) for label, report_to in SETUPS]
    baseline = statistics.mean(row["s/epoch"] for row in rows if row["trackers"].startswith("none"))
    for row in rows:
        row["overhead vs none"] = f"{row['s/epoch'] / baseline - 1:+.1%}"
    env = collect_env(torch.device(args.device))
    result = {"title": "Live logging overhead, phase 1 (one invocation; baseline: mean of the two runs without a "
                       "tracker)",
              "setup": {"model": model_name(args.model_dir), "device": env.get("gpu_name") or
                        f"CPU ({env['cpu_count']} cores)", "train examples": args.max_train_samples,
                        "epochs": args.epochs, "logging_steps": args.logging_steps, "date": env["started_at"][:10]},
              "rows": rows}
    write_json(Path(args.output_dir) / "benchmarks" / "tracking_overhead.json", result)
    for row in rows:
        print(f"{row['trackers']:>14}: {row['s/epoch']:.2f} s/epoch ({row['overhead vs none']}), "
              f"test macro-F1 {row['test macro-F1']:.4f}")


if __name__ == "__main__":
    main()
