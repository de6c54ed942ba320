"""Phase 5 with its images decoded every epoch against decoded once per run
(`cache_images`): training samples per second, the run's wall time (the cache's one pass
included) and test macro-F1, on synthetic charts; and what the data path alone delivers
(images per second of one pass over the training set, no model), which bounds the gain
on a device whose step is faster than this CPU's.

Usage:
    python benchmarks/image_cache.py
    python benchmarks/image_cache.py --seeds 42,43 --epochs 3 --image_size 224 --model_dir <text encoder>

Both variants run phase 5's own train.py with the `synthetic_cpu` settings (a ResNet-18
from scratch, the text encoder from `--model_dir`, default the all-MiniLM-L6-v2 package),
seed by seed, the two variants of a seed one after the other, so that they meet the same
load on the machine. The charts (`--n`, drawn at `--chart_size` px) are made once in the
output directory. Writes `<output_dir>/benchmarks/image_cache.json` (rendered by
`python -m common.report`).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.phase1_vs_trainer import default_model_dir, model_name  # noqa: E402
from common.records import read_json, read_jsonl, write_json  # noqa: E402
from phase5_multimodal_financial_sentiment.config import Phase5Config  # noqa: E402
from phase5_multimodal_financial_sentiment.data import (ManifestDataset, ImageTransform,  # noqa: E402
                                                        read_manifest)
from phase5_multimodal_financial_sentiment.make_synthetic import make_dataset  # noqa: E402
from phase5_multimodal_financial_sentiment.train import main as train  # noqa: E402


def images_per_second(charts: Path, image_size: int, cache: bool, epochs: int) -> float:
    """Items per second of `epochs` passes over every chart (the cache's fill included)."""
    examples, _ = read_manifest(charts / "manifest.csv", Phase5Config().labels)
    started = time.perf_counter()
    dataset = ManifestDataset(examples, transform=ImageTransform(image_size), cache_images=cache,
                              progress=False)
    for _ in range(epochs):
        for index in range(len(dataset)):
            dataset[index]
    return epochs * len(dataset) / (time.perf_counter() - started)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=None, help="Text encoder; default: the all-MiniLM-L6-v2 package.")
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=1500, help="Synthetic charts (80/10/10).")
    parser.add_argument("--chart_size", type=int, default=224, help="Pixels the charts are drawn at.")
    parser.add_argument("--image_size", type=int, default=96, help="Pixels the model reads.")
    parser.add_argument("--num_workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)
    model_dir = str(Path(args.model_dir or default_model_dir()).resolve())
    charts = Path(args.output_dir) / "benchmarks" / "image_cache" / f"charts_{args.n}_{args.chart_size}"
    if not (charts / "manifest.csv").exists():
        make_dataset(charts, n=args.n, seed=0, size=args.chart_size)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    measured = {False: [], True: []}
    loading = {False: [], True: []}
    for _ in seeds:  # the data path alone, alternating
        for cache in (False, True):
            loading[cache].append(images_per_second(charts, args.image_size, cache, args.epochs))
    for seed in seeds:
        for cache in (False, True):
            cfg = Phase5Config(model_name_or_path=model_dir, data_dir=str(charts), output_dir=args.output_dir,
                               run_name=f"bench_image_cache_{'on' if cache else 'off'}_seed{seed}", device=args.device,
                               seed=seed, epochs=args.epochs, image_model="resnet18", image_weights="none",
                               image_size=args.image_size, learning_rate=5e-5, image_learning_rate=1e-3,
                               head_learning_rate=1e-3, group_column="informative", max_length=32,
                               cache_images=cache, num_workers=args.num_workers, progress=False, overwrite=True)
            started = time.perf_counter()
            run_dir = train(cfg)
            wall = time.perf_counter() - started
            history = read_jsonl(run_dir / "history.jsonl")
            metrics = read_json(run_dir / "metrics.json")
            measured[cache].append({"samples/s": statistics.mean(row["samples_per_second"] for row in history),
                                    "wall s": wall, "test macro-F1": metrics["test_f1_macro"]})
            print(f"seed {seed}, cache {'on' if cache else 'off'}: {measured[cache][-1]}")
    rows = []
    for cache in (False, True):
        runs = measured[cache]
        ratio = statistics.mean(on["samples/s"] / off["samples/s"] for on, off in zip(measured[True], measured[False]))
        rows.append({"images": "decoded once per run (cache)" if cache else "decoded every epoch",
                     "train samples/s": round(statistics.mean(r["samples/s"] for r in runs), 1),
                     "speed-up": round(ratio, 2) if cache else 1.0,
                     "data path alone, images/s": round(statistics.mean(loading[cache]), 1),
                     "run wall s": round(statistics.mean(r["wall s"] for r in runs), 1),
                     "test macro-F1": round(statistics.mean(r["test macro-F1"] for r in runs), 4)})
    write_json(Path(args.output_dir) / "benchmarks" / "image_cache.json", {
        "title": "Phase 5: images decoded every epoch vs once per run",
        "setup": {"text encoder": model_name(model_dir), "image encoder": "resnet18 (from scratch)",
                  "charts": f"{args.n} synthetic, drawn at {args.chart_size} px, read at {args.image_size} px",
                  "epochs": args.epochs, "seeds": ", ".join(map(str, seeds)), "num_workers": args.num_workers,
                  "device": args.device, "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")},
        "rows": rows})
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
