"""The steps of a run that the phases' train.py call by name, in this order: `open_run`
(device and data checked before the run directory exists), the model (for a pretrained
classifier, `load_run_classifier`), `common.fit.fit`, then `finish_run` (the best
checkpoint's final evaluation and records).

metrics.json records, beside the scores, how the data was read and cleaned, and (through
`report_tokens`) how often `max_length` cut an input and how well the tokenizer reads each
split and group.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from common.batching import summarize_counts, token_counts
from common.checkpoint import check_checkpoint, find_checkpoint
from common.device import peak_memory, resolve_amp_dtype, resolve_device
from common.diagnostics import count_leaks, data_warnings, diagnose, print_warnings
from common.distributed import decide_on_main, init_distributed, world
from common.training_steps import count_parameters
from common.errors import ConfigError, DataError, describe
from common.evaluation import Evaluator, summarize_scores
from common.fit import FitResult, summarize_fit
from common.known_overlap import check_known_overlap
from common.model_card import write_model_cards
from common.models import check_model_source, load_tokenizer, load_trained_classifier
from common.offline_models import stand_in_of
from common.plots import drain_figure_failures
from common.run_lock import release
from common.records import run_dir_for, start_run, write_json
from common.scratch import build_new_classifier
from common.splits import Splits, draw_subsets, text_key
from common.tracking import NO_TRACKERS, Trackers, check_trackers, open_trackers


SAME_AS_MODEL = "model_name_or_path"


@dataclass
class RunStart:
    device: torch.device
    amp_dtype: Optional[torch.dtype]
    splits: Splits
    tokenizer: Optional[PreTrainedTokenizerBase]
    run_dir: Path
    resume_from: Optional[Path]  # checkpoints/last of an interrupted run, with --resume
    trackers: Trackers = NO_TRACKERS  # the live logs of `report_to` (common/tracking.py)

    def best_checkpoint(self) -> Path:
        """The checkpoint of the best validation epoch (after `fit`)."""
        return require_checkpoint(find_checkpoint(self.run_dir / "checkpoints" / "best"),
                                  self.run_dir / "checkpoints" / "best")


SHARED_OUTPUT = ("under torchrun on several machines, --output_dir must be on a filesystem every machine mounts "
                 "(rank 0 writes the checkpoints, every rank reads them)")


def require_checkpoint(found: Optional[Path], wanted: Path) -> Path:
    """`found`, which must exist on this machine: a missing checkpoint is an error, never a fresh model."""
    if found is None or not found.exists():
        hint = f"; {SHARED_OUTPUT}" if world().size > 1 else ""
        raise ConfigError(f"no checkpoint at {found or wanted}{hint}")
    return found


def open_run(cfg, phase: str, load_splits: Callable, provenance: Optional[dict] = None, *,
             tokenizer_from: Optional[str] = SAME_AS_MODEL, check_model: bool = True,
             leak_key: Callable = text_key, check_tokenizer: Optional[Callable] = None) -> RunStart:
    """Check every input first: the model/data pairing, the device, the data, the tokenizer
    (`tokenizer_from`: a name, the model's by default, or None for none) and the model's
    config (unless `check_model` is false: a model built from scratch), and whatever the phase
    checks of the config with that tokenizer and the data (`check_tokenizer(tokenizer, splits)`). Bad input fails here,
    before a run directory exists; then the directory is created (or reopened with
    --resume; by rank 0 under torchrun, which joins the process group here) and the
    checkpoint to resume from is found. `max_train_samples` / `max_eval_samples` subsets are
    drawn here (common.splits.draw_subsets; recorded as `data.subset`), a training split of one
    class is an error, and how many val/test examples also occur in train (by `leak_key`) goes
    into the data's info, with a warning."""
    output = Path(cfg.output_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output_dir {cfg.output_dir!r} is a file, not a folder: runs are written to "
                          "<output_dir>/<phase>/<run_name>/")
    check_known_overlap(cfg.model_name_or_path, getattr(cfg, "dataset", None), cfg.allow_known_overlap)
    device = init_distributed(cfg.device) or resolve_device(cfg.device)  # under torchrun: LOCAL_RANK's GPU
    amp_dtype = resolve_amp_dtype(device, cfg.precision)
    splits = load_splits(cfg)
    # Debug and budget subsets are drawn once, here (stratified, seeded by split_seed, so every
    # seed and every use of a split sees the same examples), never cut from the file's order.
    subset = draw_subsets(splits, cfg.max_train_samples, cfg.max_eval_samples, getattr(cfg, "split_seed", 42))
    if subset:
        splits.info["subset"] = subset
    check_classes(splits)
    splits.info["leaks"] = count_leaks(splits, leak_key)
    print_warnings(data_warnings(splits.info))
    name = cfg.model_name_or_path if tokenizer_from == SAME_AS_MODEL else tokenizer_from
    tokenizer = load_tokenizer(name) if name else None
    if check_tokenizer and tokenizer is not None:
        check_tokenizer(tokenizer, splits)
    if check_model:
        check_model_source(cfg.model_name_or_path, getattr(cfg, "max_length", None))
    check_trackers(cfg.report_to)
    existed = run_dir_for(cfg, phase).exists()  # a fresh run asked to resume (as reproduce asks) just starts
    previous = find_checkpoint(run_dir_for(cfg, phase) / "checkpoints" / "last") if cfg.resume and existed else None
    if previous is not None:
        check_checkpoint(previous)  # a damaged one is an error before the run directory is reopened
    run_dir = decide_on_main(lambda: start_run(cfg, phase, device, provenance))  # rank 0 makes it, once
    # Rank 0 decides whether the run resumes; every rank must then find that checkpoint.
    last = decide_on_main(lambda: find_checkpoint(run_dir / "checkpoints" / "last")) if cfg.resume else None
    if cfg.resume and last is None and existed:
        print(f"--resume: no checkpoint in {run_dir / 'checkpoints'}, starting from scratch")
    elif last is not None:
        require_checkpoint(last, last)
    trackers = open_trackers(cfg, run_dir, phase, provenance)
    return RunStart(device, amp_dtype, splits, tokenizer, run_dir, last, trackers)


def check_classes(splits: Splits) -> None:
    """A classifier's training split needs two classes at least: with one, every prediction is
    that class and every score is perfect, which measures nothing."""
    labels = {getattr(example, "label", None) for example in splits.train}  # a target extractor's have none
    if labels and all(isinstance(label, int) for label in labels) and len(labels) < 2:
        (only,) = labels
        raise DataError(f"the training split holds one class only ({splits.label_names[only]!r}, "
                        f"{len(splits.train)} examples): there is nothing to tell apart; check the label column")


def load_run_classifier(cfg, run: RunStart, tokenizer=None) -> PreTrainedModel:
    """The classifier to train, on the run's device: the interrupted run's last checkpoint
    with --resume, else the pretrained encoder with a head (`cfg.head`) for the data's labels,
    or a small encoder from scratch (`cfg.architecture`) sized to `tokenizer` (default: the run's)."""
    if run.resume_from:
        return load_trained_classifier(run.resume_from).to(run.device)
    return build_new_classifier(cfg, tokenizer or run.tokenizer, run.splits.label_names).to(run.device)


def measure_tokens(tokenizer, splits: Splits, max_length: int, names: Sequence[str]) -> dict:
    """`summarize_counts` of each split, and of each group within it where examples have groups
    (so "the tokenizer cannot read this language" shows in the record)."""
    stats = {}
    for name in names:
        examples = splits.split(name)
        counts = token_counts(tokenizer, [e.text for e in examples], [e.pair for e in examples])  # tokenized once
        entry = summarize_counts(counts, max_length)
        groups = list(dict.fromkeys(e.group for e in examples if e.group is not None))
        if groups:
            entry["groups"] = {group: summarize_counts([c for c, e in zip(counts, examples) if e.group == group],
                                                       max_length) for group in groups}
        stats[name] = entry
    return stats


def report_tokens(tokenizer, splits: Splits, cfg) -> dict:
    """`measure_tokens` of the splits the run scores, printed; for metrics.json's `data`:
    `truncated` (share per split), `tokens` (the full statistics) and, for a tokenizer that
    had none, what pads (`pad_token`)."""
    note = getattr(tokenizer, "pad_token_note", None)
    if note:
        print(note)
    stats = measure_tokens(tokenizer, splits, cfg.max_length,
                           ("train", "val", "test") if cfg.evaluate_test else ("train", "val"))
    print(f"examples longer than max_length {cfg.max_length} (truncated): "
          + ", ".join(f"{name} {entry['truncated']:.1%}" for name, entry in stats.items()))
    for name, entry in stats.items():
        if "groups" in entry:
            print(f"{name} per group: " + ", ".join(
                f"{group} {g['truncated']:.1%} truncated, {g['unknown_token_rate']:.1%} unknown tokens, "
                f"{g['mean_tokens']:.0f} tokens" for group, g in entry["groups"].items()))
    return {"truncated": {name: entry["truncated"] for name, entry in stats.items()}, "tokens": stats,
            **({"pad_token": note} if note else {})}


def finish_run(cfg, run: RunStart, model: torch.nn.Module, evaluator: Evaluator, result: FitResult,
               train_examples: int, phase: str, pipeline_tag: Optional[str] = None, **records) -> dict:
    """Evaluate the best checkpoint's `model`, write metrics.json (scores, training figures,
    `records`, the label names, what an offline stand-in model is, and the warnings of
    common.diagnostics, of figures that could not be drawn and of trackers that failed) with
    the predictions and plots, a model card beside every saved model (common/model_card.py;
    `pipeline_tag`: its task, where not the phase's), give the final scores and plots to the
    run's trackers and close them, print the summary, warnings last, and release the run
    directory's lock (common/run_lock.py); return the metrics."""
    metrics = evaluator.final(model, run.run_dir, title=cfg.run_name or phase)
    metrics.update(summarize_fit(result, count_parameters(model)["parameters"], train_examples), **records)
    metrics["labels"] = list(run.splits.label_names)  # what the report's titles count
    metrics["memory"] = peak_memory(run.device)
    stand_in = stand_in_of(getattr(model, "config", None))
    if stand_in:  # an offline conversion (common/offline_models.py): tables and cards say what it is
        metrics["stand_in"] = stand_in
    metrics["warnings"] = diagnose(metrics, run.splits.label_names, run.splits.info) + drain_figure_failures()
    final = {key: value for key, value in metrics.items() if key.startswith(("val_", "test_", "before_"))}
    steps = sum(row["steps"] for row in result.history)
    try:  # the live logs are extras: their failure is a warning, never the loss of the run's records
        run.trackers.log_metrics({f"final/{key}": value for key, value in final.items()}, steps)
        run.trackers.log_images(sorted(run.run_dir.glob("*.png")), steps)
    except Exception as exc:
        metrics["warnings"].append(f"the trackers ({', '.join(cfg.report_to)}) did not take the final scores and "
                                   f"plots ({describe(exc)}); metrics.json has them")
    write_json(run.run_dir / "metrics.json", metrics)
    write_model_cards(run.run_dir, cfg, metrics, phase, pipeline_tag)
    try:
        run.trackers.close(final)
    except Exception as exc:
        print(f"WARNING: the trackers did not close cleanly ({describe(exc)})")
    for split, scores in metrics.get("groups", {}).items():
        print(f"{split} macro-F1 per group: " + ", ".join(f"{g} {s['f1_macro']:.3f}" for g, s in scores.items()))
    print(f"{summarize_scores(metrics, evaluator.headline)}; run directory {run.run_dir}")
    print_warnings(metrics["warnings"])
    release(run.run_dir)  # the run is finished: another process may resume or overwrite it now
    return metrics
