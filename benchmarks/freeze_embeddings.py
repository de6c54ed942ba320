"""What freezing a multilingual encoder's input embeddings saves per training step, and what it
keeps out of memory: phase 2's model (multilingual-e5-small with the mean-pooling head) on
real tweets of all eight languages, with its 96M-parameter embedding matrix trained and frozen.

Usage:
    python -m common.offline_models multilingual-e5-small /path/to/multilingual-e5-small
    python benchmarks/freeze_embeddings.py --model_dir /path/to/multilingual-e5-small \
        --data_dir ../shared/data/tweet_sentiment_multilingual

Both modes start from the same seeded model and train through `common.training_steps.train_one_epoch`
(forward, loss, backward, clipping, fused AdamW, the schedule) on the same length-grouped
batches of real tweets (`--batch_size`, `--max_length`). After two warm-up steps each, the
modes take turns for `--repeats` rounds of `--steps` steps, so that the machine's drift
falls on both alike; the ratio is the median seconds per step trained over frozen, in one
invocation. Memory: the gradient and optimizer-state bytes each mode holds after its steps.
Writes `<output_dir>/benchmarks/freeze_embeddings.json` (the table `python -m common.report`
renders). What freezing costs in macro-F1 is phase 2's table (`sub400_e5*` rows), not this.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.compile_shapes import Trainee  # noqa: E402
from common.batching import make_train_loader  # noqa: E402
from common.evaluation import encode_examples  # noqa: E402
from common.heads import build_mean_pooling_classifier  # noqa: E402
from common.models import freeze_input_embeddings, load_tokenizer  # noqa: E402
from common.records import collect_env, write_json  # noqa: E402
from common.seeding import set_seed  # noqa: E402
from common.splits import draw_subset  # noqa: E402
from phase2_multilingual_sentiment.config import Phase2Config  # noqa: E402
from phase2_multilingual_sentiment.data import load_splits  # noqa: E402


def held_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the gradients and optimizer states a mode keeps between steps."""
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    states = sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values()
                 if torch.is_tensor(t))
    return grads + states


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="multilingual-e5-small converted by common.offline_models.")
    parser.add_argument("--data_dir", required=True, help="The XLM-T tweets in their original layout.")
    parser.add_argument("--languages", default="", help="Comma-separated; default: every language of the data.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per mode and round.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)

    cfg = Phase2Config(model_name_or_path=args.model_dir, data_dir=args.data_dir, max_length=args.max_length,
                       languages=[lang for lang in args.languages.split(",") if lang])
    tokenizer = load_tokenizer(args.model_dir)
    splits = load_splits(cfg)
    needed = args.batch_size * (2 + args.steps * args.repeats)
    examples = draw_subset(splits.train, needed, seed=cfg.split_seed)  # every language, every label
    loader = make_train_loader(encode_examples(tokenizer, examples, args.max_length), tokenizer, args.batch_size,
                               seed=42, group_by_length=True)
    batches = list(loader)  # dicts; the loop pops "labels", so each use takes copies
    set_seed(42)
    base = build_mean_pooling_classifier(args.model_dir, dict(enumerate(splits.label_names)), 256, 0.1)
    total = 2 + args.steps * args.repeats
    trainees = {"embeddings trained": Trainee(base, None, total, learning_rate=1e-4),
                "embeddings frozen": Trainee(base, None, total, prepare=freeze_input_embeddings, learning_rate=1e-4)}
    chunks = [batches[:2]] + [batches[2 + i * args.steps:2 + (i + 1) * args.steps] for i in range(args.repeats)]
    timed = {mode: [] for mode in trainees}
    for mode, trainee in trainees.items():
        trainee.seconds([dict(b) for b in chunks[0]])  # warm-up: allocations, the optimizer's first state
    for chunk, (mode, trainee) in itertools.product(chunks[1:], trainees.items()):
        timed[mode].append(trainee.seconds([dict(b) for b in chunk]) / len(chunk))
    rows = []
    trained = statistics.median(timed["embeddings trained"])
    for mode, trainee in trainees.items():
        step = statistics.median(timed[mode])
        counts = sum(p.numel() for p in trainee.model.parameters() if p.requires_grad)
        rows.append({"mode": mode, "trainable parameters": f"{counts:,}", "s/step": round(step, 3),
                     "speed-up vs trained": round(trained / step, 2),
                     "gradients + optimizer state, MB": round(held_bytes(trainee.model, trainee.optimizer) / 2**20)})
        print(rows[-1], flush=True)
    env = collect_env(torch.device("cpu"))
    out = Path(args.output_dir) / "benchmarks" / "freeze_embeddings.json"
    write_json(out, {
        "title": "Phase 2 training step of multilingual-e5-small (stand-in for XLM-R): embeddings trained vs frozen",
        "setup": {"model": "multilingual-e5-small, mean-pooling head", "data": "XLM-T tweets, 8 languages",
                  "device": f"CPU ({env['cpu_count']} cores)", "threads": torch.get_num_threads(),
                  "batch": args.batch_size, "max length": args.max_length, "steps": args.steps,
                  "repeats": args.repeats, "optimizer": "AdamW (fused)", "date": time.strftime("%Y-%m-%d")},
        "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
