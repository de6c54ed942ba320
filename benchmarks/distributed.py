"""What running on several processes costs here, in one invocation: (1) a phase 1 run on 2
gloo ranks (torchrun, per-device batch b) against one process with batch 2b, the same data,
seed and global batches; (2) the 4-point grid sweep of benchmarks/sweep_workers.py with 2
workers on a real PostgreSQL server against the default SQLite file.

Usage:
    python benchmarks/distributed.py --data_dir ../shared/data --parts ddp,storage
    python benchmarks/distributed.py --data_dir ../shared/data --parts ddp --device cuda --ranks 2   # 2 GPUs, NCCL

(1) runs one process, the ranks, then one process again (its two timings bracket the
machine's drift; the ratio is taken against their mean). On a CPU the ranks share its cores
(each rank gets cores / ranks threads, one process all of them), so the samples/s ratio is
the price of the gradient all-reduce and of running N processes, not a second device. The
macro-F1 difference is small but not zero: dropout draws other masks on each rank.
(2) starts the server as the tests do (tests/postgres_server.py; Debian's postgresql).
Writes `<output_dir>/benchmarks/distributed_ddp.json` and `distributed_storage.json` for
`python -m common.report`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import sweep_workers  # noqa: E402
from benchmarks.phase1_vs_trainer import default_model_dir, model_name  # noqa: E402
from common.device import resolve_device  # noqa: E402
from common.records import collect_env, read_json, read_jsonl, write_json  # noqa: E402

PHASE = "phase1_financial_phrasebank"


def phase1_run(args, name: str, ranks: int) -> dict:
    """One phase 1 run in a fresh process (under torchrun when `ranks` > 1); its figures."""
    batch = args.global_batch // ranks
    keys = ["--model_name_or_path", args.model_dir, "--data_dir", str(Path(args.data_dir) / "financial_phrasebank"),
            "--output_dir", args.output_dir, "--run_name", name, "--overwrite", "true", "--device", args.device,
            "--epochs", str(args.epochs), "--batch_size", str(batch), "--max_length", str(args.max_length),
            "--learning_rate", str(args.learning_rate),
            "--max_train_samples", str(args.max_train_samples), "--progress", "false", "--report_to", "none",
            "--seed", str(args.seed)]
    threads = max(1, (os.cpu_count() or 1) // ranks)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                "-m"] if ranks > 1 else [sys.executable, "-m"]
    started = time.perf_counter()
    subprocess.run([*launcher, f"{PHASE}.train", *keys], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - started
    run_dir = Path(args.output_dir) / PHASE / name
    metrics, history = read_json(run_dir / "metrics.json"), read_jsonl(run_dir / "history.jsonl")
    row = {"setup": f"{ranks} rank(s) x batch {batch}" if ranks > 1 else f"1 process, batch {batch}",
           "global batch": metrics["global_batch_size"],
           "samples/s": round(statistics.mean(r["samples_per_second"] for r in history), 1),
           "s/epoch": metrics["seconds_per_epoch"], "wall s": round(wall, 1),
           "test macro-F1": round(metrics["test_f1_macro"], 4)}
    print(row, flush=True)
    return row


def measure_ddp(args) -> None:
    rows = [phase1_run(args, "bench_ddp_one", 1), phase1_run(args, "bench_ddp_ranks", args.ranks),
            phase1_run(args, "bench_ddp_one_again", 1)]
    single = statistics.mean(rows[i]["samples/s"] for i in (0, 2))
    single_f1 = statistics.mean(rows[i]["test macro-F1"] for i in (0, 2))
    for row in rows:
        row["samples/s vs 1 process"] = round(row["samples/s"] / single, 3)
        row["macro-F1 - 1 process"] = round(row["test macro-F1"] - single_f1, 4)
    env = collect_env(resolve_device(args.device))
    setup = {"model": model_name(args.model_dir), "data": f"Financial PhraseBank (train on 50Agree), first "
             f"{args.max_train_samples} training sentences, {args.epochs} epoch(s), learning rate "
             f"{args.learning_rate}, max_length {args.max_length}",
             "device": env.get("gpu_name") or f"CPU, {env['cpu_count']} cores shared by the ranks (gloo)",
             "torch": env["packages"].get("torch"), "date": env["started_at"][:10]}
    write_json(Path(args.output_dir) / "benchmarks" / "distributed_ddp.json",
               {"title": f"Data-parallel overhead: {args.ranks} ranks vs 1 process, same global batch",
                "setup": setup, "rows": rows})


def measure_storage(args) -> None:
    from tests.postgres_server import start_postgres

    args.data_dir, data_root = str(Path(args.data_dir) / "tweet_sentiment_multilingual"), args.data_dir
    args.max_train_samples, train_samples = args.sweep_train_samples, args.max_train_samples
    rows = []
    try:
        with start_postgres("bench") as url:
            for label, storage in (("sqlite", ""), ("postgresql", url), ("sqlite (again)", "")):
                seconds, trials = sweep_workers.run(args, 2, "", storage, label.split()[0] + ("_again" if "again"
                                                                                              in label else ""))
                rows.append({"storage": label, "workers": 2, "trials": len(trials), "wall s": round(seconds, 1),
                             "mean trial s": round(float(trials["duration_seconds"].mean()), 1),
                             "distinct workers": trials["worker"].nunique(),
                             "val macro-F1 (mean over trials)": round(float(trials["val_f1_macro"].mean()), 4)})
                print(rows[-1], flush=True)
    finally:
        args.data_dir, args.max_train_samples = data_root, train_samples
    sqlite = statistics.mean(rows[i]["wall s"] for i in (0, 2))
    for row in rows:
        row["wall vs SQLite"] = round(row["wall s"] / sqlite, 3)
    env = collect_env(resolve_device(args.device))
    write_json(Path(args.output_dir) / "benchmarks" / "distributed_storage.json",
               {"title": "Sweep storage: a 4-point grid with 2 workers on PostgreSQL vs SQLite",
                "setup": {"model": model_name(args.model_dir), "data": f"XLM-T English, first "
                          f"{args.sweep_train_samples} training tweets, 1 epoch per trial",
                          "server": "Debian postgresql 15, TCP on 127.0.0.1, fsync off",
                          "device": env.get("gpu_name") or f"CPU, {env['cpu_count']} cores",
                          "date": env["started_at"][:10]}, "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="The data root (financial_phrasebank/, "
                        "tweet_sentiment_multilingual/).")
    parser.add_argument("--parts", default="ddp,storage", help="ddp, storage or both (comma-separated).")
    parser.add_argument("--model_dir", default=None, help="Encoder (default: the local all-MiniLM-L6-v2).")
    parser.add_argument("--output_dir", default=str(ROOT / "runs"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--global_batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--max_train_samples", type=int, default=1200)
    parser.add_argument("--sweep_train_samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.model_dir = args.model_dir or default_model_dir()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if parts - {"ddp", "storage"} or not parts:
        parser.error(f"--parts takes ddp and/or storage, not {args.parts!r}")
    if args.global_batch % args.ranks:
        parser.error(f"--global_batch {args.global_batch} does not split over {args.ranks} ranks")
    if "ddp" in parts:
        measure_ddp(args)
    if "storage" in parts:
        measure_storage(args)


if __name__ == "__main__":
    main()
