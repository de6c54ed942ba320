"""Fine-tune a Hugging Face sequence classifier on a `TextSplits` and evaluate it: the run
flow shared by the phases that train a pretrained encoder with a classification head (2, 3, 4).

Device and data are checked before the run directory exists (bad input leaves nothing
behind); the best epoch by validation macro-F1 is reloaded and evaluated; metrics.json
records, beside the scores, how the data was read and how often `max_length` truncated.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from common.batching import truncation_rate
from common.checkpoint import find_checkpoint
from common.device import resolve_amp_dtype, resolve_device
from common.engine import count_parameters
from common.evaluation import Evaluator, encode_examples, summarize_scores
from common.fit import OnEpochEnd, fit, summarize_fit
from common.known_overlap import check_known_overlap
from common.models import head_origin, load_classifier, load_tokenizer, load_trained_classifier
from common.records import start_run, write_json
from common.seeding import set_seed
from common.text_data import TextDataConfig, TextSplits


def measure_truncation(tokenizer, splits: TextSplits, max_length: int, names: Sequence[str]) -> dict[str, float]:
    """Share of each split's examples longer than `max_length` tokens (cut by truncation)."""
    return {name: round(truncation_rate(tokenizer, [e.text for e in splits.split(name)],
                                        [e.pair for e in splits.split(name)], max_length), 4) for name in names}


@dataclass
class RunStart:
    device: torch.device
    amp_dtype: Optional[torch.dtype]
    splits: TextSplits
    run_dir: Path
    resume_from: Optional[Path]  # checkpoints/last of an interrupted run, with --resume


def open_run(cfg, phase: str, load_splits: Callable, provenance: Optional[dict] = None) -> RunStart:
    """Check the device and read the data (bad input fails before a run directory exists),
    then create the run directory and find the checkpoint to resume from."""
    check_known_overlap(cfg.model_name_or_path, getattr(cfg, "dataset", None), cfg.allow_known_overlap)
    device = resolve_device(cfg.device)
    amp_dtype = resolve_amp_dtype(device, cfg.precision)
    splits = load_splits(cfg)
    run_dir = start_run(cfg, phase, device, provenance)
    last = find_checkpoint(run_dir / "checkpoints" / "last") if cfg.resume else None
    if cfg.resume and last is None:
        print(f"--resume: no checkpoint in {run_dir / 'checkpoints'}, starting from scratch")
    return RunStart(device, amp_dtype, splits, run_dir, last)


def train_and_evaluate(cfg: TextDataConfig, phase: str, load_splits: Callable[[TextDataConfig], TextSplits],
                       provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    run = open_run(cfg, phase, load_splits, provenance)
    device, amp_dtype, splits, run_dir, last = run.device, run.amp_dtype, run.splits, run.run_dir, run.resume_from

    set_seed(cfg.seed)  # before the new classification head is initialised
    tokenizer = load_tokenizer(cfg.model_name_or_path)
    model = (load_trained_classifier(last) if last
             else load_classifier(cfg.model_name_or_path, splits.label_names, cfg.pretrained_head))
    model = model.to(device)
    truncated = measure_truncation(tokenizer, splits, cfg.max_length,
                                   ("train", "val", "test") if cfg.evaluate_test else ("train", "val"))
    print("examples longer than max_length " + f"{cfg.max_length} (truncated): "
          + ", ".join(f"{name} {rate:.1%}" for name, rate in truncated.items()))
    evaluator = Evaluator(splits, tokenizer, cfg, device, amp_dtype)
    train_set = encode_examples(tokenizer, splits.train[:cfg.max_train_samples], cfg.max_length)

    result = fit(cfg, model, tokenizer, train_set, evaluator, run_dir, device, amp_dtype, resume_from=last,
                 on_epoch_end=on_epoch_end)

    model = load_trained_classifier(find_checkpoint(run_dir / "checkpoints" / "best")).to(device)
    head = head_origin(model)
    metrics = evaluator.final(model, run_dir, title=cfg.run_name or phase)
    metrics.update(summarize_fit(result, count_parameters(model)["parameters"], len(train_set)),
                   data={**splits.info, "truncated": truncated}, head=head)
    write_json(run_dir / "metrics.json", metrics)
    for split, scores in metrics.get("groups", {}).items():
        print(f"{split} macro-F1 per group: " + ", ".join(f"{g} {s['f1_macro']:.3f}" for g, s in scores.items()))
    print(f"{summarize_scores(metrics)}; run directory {run_dir}")
    return run_dir
