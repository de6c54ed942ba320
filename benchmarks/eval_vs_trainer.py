"""Phase 1's final evaluation (validation, and the test split of all four agreement
levels) through `common.evaluation.Evaluator` against the Hugging Face `Trainer.evaluate`
on the same sets: seconds to encode and score them all, and the scores each gives.

Usage:
    python benchmarks/eval_vs_trainer.py --data_dir ../shared/data/financial_phrasebank
    python benchmarks/eval_vs_trainer.py --data_dir ... --train_agreement AllAgree --repeats 5 --device cuda

The agreement levels nest (an AllAgree sentence is in every level), so their test splits
share most sentences; the Evaluator encodes and scores each distinct sentence once, the
Trainer each set on its own. Both score one model (the encoder from `--model_dir`, default
the all-MiniLM-L6-v2 package, with a seeded new head: the speed does not depend on
training) at the same batch size and max length, with length-sorted batches for the
Evaluator and the Trainer's own order (`group_by_length` changes only training batches);
the Evaluator also runs set by set, which separates what pooling gains from what sorting
gains.
The two pipelines alternate `--repeats` times in one process, so that both meet the same
load on the machine. Writes `<output_dir>/benchmarks/eval_vs_trainer.json`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.phase1_vs_trainer import default_model_dir, model_name  # noqa: E402
from common.device import resolve_device  # noqa: E402
from common.evaluation import Evaluator, encode_examples  # noqa: E402
from common.metrics import compute_metrics  # noqa: E402
from common.models import load_tokenizer  # noqa: E402
from common.records import write_json  # noqa: E402
from common.seeding import set_seed  # noqa: E402
from phase1_financial_phrasebank.config import Phase1Config  # noqa: E402
from phase1_financial_phrasebank.data import load_splits  # noqa: E402
from phase1_financial_phrasebank.models import build_model  # noqa: E402


class UnpooledEvaluator(Evaluator):
    """The Evaluator with every test set encoded and scored on its own."""

    pools_test_sets = False


def evaluate_with_evaluator(cfg, splits, tokenizer, model, device, names,
                            kind=Evaluator) -> tuple[float, dict, int]:
    """Seconds to encode and score `names`, each one's macro-F1, and the examples the loaders held."""
    started = time.perf_counter()
    evaluator = kind(splits, tokenizer, cfg, device, None)  # encodes here
    results = evaluator.run_all(model, names)
    seconds = time.perf_counter() - started
    return (seconds, {name: results[name][0]["f1_macro"] for name in names},
            sum(len(loader.dataset) for loader in evaluator.loaders.values()))


def evaluate_with_trainer(cfg, sets, tokenizer, model, device, label_names) -> tuple[float, dict]:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    arguments = TrainingArguments(output_dir=str(Path(cfg.output_dir) / "benchmarks" / "trainer_tmp"),
                                  per_device_eval_batch_size=cfg.eval_batch_size, report_to=[], disable_tqdm=True,
                                  use_cpu=device.type == "cpu")
    started = time.perf_counter()
    trainer = Trainer(model=model, args=arguments, data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=lambda p: {"f1_macro": compute_metrics(p.label_ids, p.predictions.argmax(-1),
                                                                             label_names)["f1_macro"]})
    scores = {name: trainer.evaluate(encode_examples(tokenizer, examples, cfg.max_length))["eval_f1_macro"]
              for name, examples in sets.items()}
    return time.perf_counter() - started, scores


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="Directory with the Financial PhraseBank v1.0 files.")
    parser.add_argument("--model_dir", default=None, help="Local encoder (default: all-MiniLM-L6-v2).")
    parser.add_argument("--train_agreement", default="50Agree", help="The level whose validation and test "
                        "splits are the run's own.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64, help="Evaluation batch size of both.")
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = str(Path(args.model_dir or default_model_dir()).resolve())
    device = resolve_device(args.device)
    cfg = Phase1Config(model_name_or_path=model_dir, data_dir=args.data_dir, output_dir=args.output_dir,
                       train_agreement=args.train_agreement, eval_batch_size=args.batch_size,
                       max_length=args.max_length, device=args.device, progress=False)
    splits = load_splits(cfg)
    tokenizer = load_tokenizer(model_dir)
    set_seed(42)
    model = build_model(cfg, tokenizer, splits.label_names).to(device).eval()
    sets = {"val": splits.val, "test": splits.test,
            **{name: examples for name, examples in splits.extra_tests.items() if examples is not splits.test}}
    names = list(sets)
    seconds = {"evaluator": [], "unpooled": [], "trainer": []}
    scores = {}
    scored = {"trainer": sum(len(examples) for examples in sets.values())}
    for _ in range(args.repeats):
        elapsed, scores["evaluator"], scored["evaluator"] = evaluate_with_evaluator(cfg, splits, tokenizer, model,
                                                                                    device, names)
        seconds["evaluator"].append(elapsed)
        elapsed, scores["unpooled"], scored["unpooled"] = evaluate_with_evaluator(cfg, splits, tokenizer, model,
                                                                                  device, names, UnpooledEvaluator)
        seconds["unpooled"].append(elapsed)
        elapsed, scores["trainer"] = evaluate_with_trainer(cfg, sets, tokenizer, model, device, splits.label_names)
        seconds["trainer"].append(elapsed)
    titles = {"evaluator": "common.evaluation.Evaluator (test sets pooled)",
              "unpooled": "common.evaluation.Evaluator, set by set", "trainer": "Trainer.evaluate, set by set"}
    rows = []
    for pipeline in titles:
        rows.append({"pipeline": titles[pipeline], "examples encoded and scored": scored[pipeline],
                     "seconds": round(statistics.mean(seconds[pipeline]), 2),
                     "speed-up vs Trainer": round(statistics.mean(t / own for own, t in zip(seconds[pipeline],
                                                                                              seconds["trainer"])), 2),
                     **{f"{name} macro-F1": round(scores[pipeline][name], 4) for name in names}})
        print(rows[-1])
    largest = max(abs(scores[p][n] - scores["trainer"][n]) for p in ("evaluator", "unpooled") for n in names)
    write_json(Path(args.output_dir) / "benchmarks" / "eval_vs_trainer.json", {
        "title": "Phase 1 final evaluation: Evaluator vs Trainer.evaluate on the same sets",
        "setup": {"model": f"{model_name(model_dir)} (new seeded head)", "train level": args.train_agreement,
                  "sets": ", ".join(names), "batch": args.batch_size, "max length": args.max_length,
                  "repeats": args.repeats, "device": str(device), "threads": torch.get_num_threads(),
                  "largest macro-F1 difference": f"{largest:.1e}", "date": time.strftime("%Y-%m-%d")},
        "rows": rows})
    if largest > 1e-6:
        print(f"warning: the two pipelines' macro-F1 differ by up to {largest:.2e} on the same sets")


if __name__ == "__main__":
    main()
