"""Where a training step's time goes in each phase, and how close it comes to this
machine's own limit.

Usage:
    python benchmarks/profile_step.py --data_root ../shared/data
    python benchmarks/profile_step.py --data_root ../shared/data --phases 1,4 --steps 40 --model_dir <encoder>

For each phase (1, 2, 4: all-MiniLM-L6-v2 by default; 5: the same text encoder with a
ResNet-18 trained from scratch on synthetic charts at 96 px) the phase's own `train.py`
runs one epoch cut short after `--steps` optimizer steps, three times: a few steps to warm
up (first-call allocations, kernel selection), plain, for the time per step, and under
torch.profiler, for the share of each named part of a step
(`common/training_steps.py`): waiting for the batch (loading, collation), the copy to the device,
forward with the loss, backward, and the optimizer (clipping, the update, the schedule,
zeroing); what is left is the loop itself. The validation pass each epoch makes is
timed too (`fit.validate`, scaled by the profiler's own overhead on the steps) and set
against a whole epoch of such steps.

The machine's limit is measured in the same invocation, with the threads the runs use:
fp32 matmul throughput at a square 2048 x 2048 shape and at the encoder's own
feed-forward shape (batch tokens x hidden @ hidden x 4 hidden). Model FLOPs utilisation
(MFU) is the model's analytic training FLOPs per second over that peak: per text token
6 N + 12 L d T (N non-embedding parameters, L layers, d width, T the padded sequence
length; Chowdhery et al. 2022, appendix B), counted over the tokens the attention mask
keeps (padding is work, but not model work); phase 5 adds 3x the ResNet's forward FLOPs
per image, counted by `torch.utils.flop_counter`.

Writes `<output_dir>/benchmarks/profile_step.json` (the table `python -m common.report`
renders), and beside it `profile_step/`: each phase's profiler table by operator
(`phase<N>_ops.txt`), its table of step parts (`phase<N>_parts.txt`) and `step_shares.png`.
The runs themselves land in `<output_dir>/phase*/profile_*` like any other run.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.phase1_vs_trainer import default_model_dir, model_name  # noqa: E402
from common.records import collect_env, read_json, read_jsonl, write_json  # noqa: E402

PARTS = ("step.data", "step.to_device", "step.forward", "step.backward", "step.optimizer")
PART_NAMES = {"step.data": "data", "step.to_device": "to device", "step.forward": "forward",
              "step.backward": "backward", "step.optimizer": "optimizer", "other": "loop, other"}


@dataclass
class PhaseRun:
    phase: str
    title: str
    main: Callable
    config: Callable  # (run_name) -> the phase's config


def phase_runs(args) -> dict[str, PhaseRun]:
    """The phases' own train.main with the settings of their CPU runs, cut to `args.steps` steps."""
    common = dict(model_name_or_path=args.model_dir, output_dir=args.output_dir, device=args.device, epochs=1,
                  max_steps=args.steps, evaluate_test=False, progress=False, overwrite=True, seed=42)

    def phase1(name):
        from phase1_financial_phrasebank.config import Phase1Config
        return Phase1Config(**common, run_name=name, data_dir=str(Path(args.data_root) / "financial_phrasebank"),
                            batch_size=32, max_length=64)

    def phase2(name):
        from phase2_multilingual_sentiment.config import Phase2Config
        return Phase2Config(**common, run_name=name, batch_size=32, max_length=64,
                            data_dir=str(Path(args.data_root) / "tweet_sentiment_multilingual"))

    def phase4(name):
        from phase4_medical_text_xai.config import Phase4Config
        return Phase4Config(**common, run_name=name, data_dir=str(Path(args.data_root) / "medical_abstracts"),
                            max_length=256, batch_size=16)

    def phase5(name):
        from phase5_multimodal_financial_sentiment.config import Phase5Config
        return Phase5Config(**common, run_name=name, data_dir=str(synthetic_charts(args)), image_model="resnet18",
                            image_weights="none", image_size=96, max_length=32, batch_size=32)

    from phase1_financial_phrasebank.train import main as main1
    from phase2_multilingual_sentiment.train import main as main2
    from phase4_medical_text_xai.train import main as main4
    from phase5_multimodal_financial_sentiment.train import main as main5
    return {"1": PhaseRun("1", "phase 1 (FPB, batch 32, max len 64)", main1, phase1),
            "2": PhaseRun("2", "phase 2 (tweets, 8 languages, batch 32, max len 64)", main2, phase2),
            "4": PhaseRun("4", "phase 4 (abstracts, batch 16, max len 256)", main4, phase4),
            "5": PhaseRun("5", "phase 5 (charts 96 px + text, batch 32)", main5, phase5)}


def synthetic_charts(args) -> Path:
    """The phase 5 stand-in data, made once in the output directory."""
    from phase5_multimodal_financial_sentiment.make_synthetic import make_dataset

    folder = Path(args.output_dir) / "benchmarks" / "profile_step" / "charts"
    if not (folder / "manifest.csv").exists():
        make_dataset(folder, n=1200, seed=0, size=112)
    return folder


def time_matmul(m: int, k: int, n: int, device: torch.device, repeats: int = 20, warmup_seconds: float = 1.0) -> float:
    """Best fp32 GFLOP/s of an (m x k) @ (k x n) product over `repeats` timed runs, after
    `warmup_seconds` of the same product (the clock and the thread pool settle)."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    started = time.perf_counter()
    while time.perf_counter() - started < warmup_seconds:
        a @ b
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * m * k * n / best / 1e9


def text_flops_per_token(encoder: torch.nn.Module, sequence_length: float) -> float:
    """Training FLOPs per token of a transformer encoder: 6 N + 12 L d T."""
    embedding = sum(p.numel() for module in encoder.modules() if isinstance(module, torch.nn.Embedding)
                    for p in module.parameters())
    config = encoder.config
    return (6 * (sum(p.numel() for p in encoder.parameters()) - embedding)
            + 12 * config.num_hidden_layers * config.hidden_size * sequence_length)


def ffn_width(config) -> int:
    """The feed-forward layer's width (BERT: intermediate_size; DistilBERT: hidden_dim)."""
    return getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim", None) or 4 * config.hidden_size


def image_flops(image_encoder: torch.nn.Module, image_size: int) -> float:
    """Training FLOPs per image: 3x the forward FLOPs torch's counter finds."""
    counter = FlopCounterMode(display=False)
    image_encoder.eval()
    with counter, torch.no_grad():
        image_encoder(torch.zeros(1, 3, image_size, image_size))
    return 3.0 * counter.get_total_flops()


def model_flops(phase: str, run_dir: Path, row: dict) -> tuple[float, torch.nn.Module]:
    """The epoch's model training FLOPs (its tokens and images) and the text encoder."""
    sequence_length = row["padded_tokens"] / max(row["examples"], 1)
    if phase == "5":
        from phase5_multimodal_financial_sentiment.models import load_trained_model
        model = load_trained_model(run_dir / "checkpoints" / "last")
        flops = text_flops_per_token(model.text_encoder, sequence_length) * row["tokens"]
        return flops + image_flops(model.image_encoder, model.config.image_size) * row["examples"], model.text_encoder
    from common.models import load_trained_classifier
    model = load_trained_classifier(run_dir / "checkpoints" / "last")
    return text_flops_per_token(model.base_model, sequence_length) * row["tokens"], model.base_model


def significant(value: float, digits: int = 4) -> float:
    """`value` to `digits` significant figures: a tiny model's MFU (0.01%) stays above zero."""
    return float(f"{value:.{digits}g}")


def part_seconds(prof) -> dict[str, float]:
    """Total wall seconds of each named range (a range's CPU time includes its children)."""
    totals = {event.key: event.cpu_time_total / 1e6 for event in prof.key_averages()}
    names = (*PARTS, "fit.train_epoch", "fit.validate")
    return {name: totals.get(name, 0.0) for name in names}


def profile_phase(spec: PhaseRun, args, peaks: dict, folder: Path) -> dict:
    spec.main(replace(spec.config(f"profile_phase{spec.phase}_warmup"), max_steps=3))
    plain_dir = spec.main(spec.config(f"profile_phase{spec.phase}"))
    row = read_jsonl(Path(plain_dir) / "history.jsonl")[0]
    metrics = read_json(Path(plain_dir) / "metrics.json")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        spec.main(spec.config(f"profile_phase{spec.phase}_profiled"))
    parts = part_seconds(prof)
    (folder / f"phase{spec.phase}_ops.txt").write_text(prof.key_averages().table(sort_by="self_cpu_time_total",
                                                                                   row_limit=40))
    epoch = parts["fit.train_epoch"]
    shares = {name: parts[name] / epoch for name in PARTS}
    shares["other"] = max(0.0, 1 - sum(shares.values()))
    (folder / f"phase{spec.phase}_parts.txt").write_text(
        "\n".join(f"{PART_NAMES[name]:<12} {epoch * share:9.3f} s  {share:6.1%}" for name, share in shares.items())
        + f"\n{'epoch':<12} {epoch:9.3f} s over {row['steps']} steps\n"
          f"{'validation':<12} {parts['fit.validate']:9.3f} s (one pass)\n")
    flops, encoder = model_flops(spec.phase, Path(plain_dir), row)
    seconds = row["epoch_seconds"]
    steps_per_epoch = math.ceil(metrics["train_examples"] / metrics["global_batch_size"])
    full_epoch = seconds / row["steps"] * steps_per_epoch
    ffn_tokens = int(row["padded_tokens"] / row["steps"])
    ffn_peak = time_matmul(ffn_tokens, encoder.config.hidden_size, ffn_width(encoder.config),
                           torch.device(args.device))
    achieved = flops / seconds / 1e9
    validation = parts["fit.validate"] * seconds / epoch  # the profiler slows the pass as it slows the steps
    return {"phase": spec.title, "step s": round(seconds / row["steps"], 3),
            "tokens/s": round(row["tokens"] / seconds, 1), "padding %": round(100 * (1 - row["tokens"] /
                                                                                        row["padded_tokens"]), 1),
            **{f"{PART_NAMES[name]} %": round(100 * share, 1) for name, share in shares.items()},
            "validation % of epoch": round(100 * validation / (full_epoch + validation), 1),
            "model GFLOP/s": significant(achieved), "MFU % (2048²)": significant(100 * achieved / peaks["square"]),
            "FFN-shape peak GFLOP/s": round(ffn_peak, 1), "MFU % (FFN shape)": significant(100 * achieved / ffn_peak),
            "profiler overhead x": round(epoch / seconds, 2), "_shares": shares}


def plot_shares(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.5))
    names = list(PART_NAMES)
    for index, row in enumerate(rows):
        left = 0.0
        for part, colour in zip(names, plt.cm.tab10.colors):
            share = row["_shares"][part]
            ax.barh(index, share, left=left, color=colour, label=PART_NAMES[part] if index == 0 else None)
            left += share
    ax.set_yticks(range(len(rows)), [row["phase"] for row in rows])
    ax.set_xlabel("share of a training step")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.legend(ncol=3, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_root", required=True, help="Folder holding financial_phrasebank/, "
                        "tweet_sentiment_multilingual/ and medical_abstracts/ (phase 5 makes its own charts).")
    parser.add_argument("--phases", default="1,2,4,5")
    parser.add_argument("--model_dir", default=None, help="Local encoder; default: the all-MiniLM-L6-v2 package.")
    parser.add_argument("--steps", type=int, default=30, help="Optimizer steps of each run.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)
    args.model_dir = str(Path(args.model_dir or default_model_dir()).resolve())
    runs = phase_runs(args)
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in runs]
    if unknown:
        parser.error(f"--phases {','.join(unknown)}: not a profiled phase (choose from {', '.join(runs)})")
    folder = Path(args.output_dir) / "benchmarks" / "profile_step"
    folder.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    peaks = {"square": time_matmul(2048, 2048, 2048, device)}
    print(f"fp32 matmul peak, 2048², {torch.get_num_threads()} threads: {peaks['square']:.1f} GFLOP/s")
    rows = []
    for phase in wanted:
        rows.append(profile_phase(runs[phase], args, peaks, folder))
        print(json.dumps({k: v for k, v in rows[-1].items() if not k.startswith("_")}))
    peaks["square_after"] = time_matmul(2048, 2048, 2048, device)  # the machine did not change under the runs
    plot_shares(rows, folder / "step_shares.png")
    env = collect_env(device)
    write_json(Path(args.output_dir) / "benchmarks" / "profile_step.json", {
        "title": "Where a training step's time goes, and model FLOPs utilisation against this machine's matmul peak",
        "setup": {"model": model_name(args.model_dir), "device": env.get("gpu_name", f"CPU ({env['cpu_count']} cores)"),
                  "threads": torch.get_num_threads(), "steps per run": args.steps,
                  "fp32 matmul 2048² GFLOP/s (before, after)": f"{peaks['square']:.1f}, {peaks['square_after']:.1f}",
                  "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")},
        "rows": [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]})
    print(f"wrote {Path(args.output_dir) / 'benchmarks' / 'profile_step.json'} and {folder}")


if __name__ == "__main__":
    main()
