"""Predict the sentiment of new (text, image) rows with a trained phase 5 model.

Usage:
    python -m phase5_multimodal_financial_sentiment.predict \
        --model runs/phase5_multimodal_financial_sentiment/concat_seed42/checkpoints/best \
        --manifest new_charts/manifest.csv [--split test] [--out predictions.csv]

The manifest has the training format (text, image relative to the manifest, optional
label and split). Rows with labels are also scored. Writes one row per example: text,
image, prediction, confidence and the probability of every class (plus label and
correct where labels were given).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import ConfigError, DataError
from common.records import write_csv
from common.text_data import SPLIT_ALIASES
from phase5_multimodal_financial_sentiment.config import MAX_IMAGE_PIXELS

def predict_manifest(checkpoint: Path, manifest: Path, split: Optional[str] = None, device: str = "auto",
                     batch_size: int = 64, num_workers: int = 0, max_image_pixels: int = MAX_IMAGE_PIXELS):
    """(prediction frame, metrics or None) for the rows of `manifest` (of one split if given)."""
    # torch, torchvision and transformers load here, not at import: `--help` starts without them.
    from common.checkpoint import find_checkpoint
    from common.device import resolve_amp_dtype, resolve_device
    from common.evaluation import prediction_frame
    from common.metrics import compute_metrics
    from common.models import load_tokenizer
    from common.training_steps import predict as predict_logits
    from phase5_multimodal_financial_sentiment.data import (ImageTransform, ManifestDataset, make_loader,
                                                            manifest_columns, read_manifest)
    from phase5_multimodal_financial_sentiment.models import load_trained_model

    found = find_checkpoint(Path(checkpoint))
    if found is None:
        raise DataError(f"{checkpoint} holds no saved model (expected a run's checkpoints/best)")
    torch_device = resolve_device(device)
    model = load_trained_model(found).to(torch_device).eval()
    config = model.config
    label_names = [config.id2label[i] for i in range(config.num_labels)]
    examples, splits = read_manifest(Path(manifest), label_names, with_labels=False, max_pixels=max_image_pixels)
    if split is not None:
        wanted = SPLIT_ALIASES.get(split.strip().lower())
        if wanted is None:
            raise DataError(f"--split {split!r}: not a split name (train, validation/val/dev or test)")
        examples = [e for e, s in zip(examples, splits) if s == wanted]
        if not examples:
            raise DataError(f"{manifest}: no rows of split {wanted!r} (the manifest has "
                            f"{', '.join(sorted({s for s in splits if s})) or 'no split column'})")
    tokenizer = load_tokenizer(str(found)) if config.uses_text else None
    transform = ImageTransform(config.image_size, config.image_mean, config.image_std) if config.uses_image else None
    dataset = ManifestDataset(examples, tokenizer, transform, config.text_max_length)
    loader = make_loader(dataset, tokenizer, batch_size, num_workers)
    logits, _ = predict_logits(model, loader, torch_device, amp_dtype=resolve_amp_dtype(torch_device), progress=True,
                               desc="predict")
    labelled = all(e.label >= 0 for e in examples)
    # Unlabelled rows get a placeholder label for the shared table builder; its columns are dropped.
    frame = prediction_frame(examples if labelled else [replace(e, label=0) for e in examples], logits, label_names,
                             manifest_columns)
    if not labelled:
        frame = frame.drop(columns=["label", "correct"])
    metrics = compute_metrics([e.label for e in examples], logits.argmax(-1), label_names) if labelled else None
    return frame, metrics


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="A run's checkpoints/best (or any saved phase 5 model).")
    parser.add_argument("--manifest", required=True, help="CSV/JSONL manifest of the rows to predict.")
    parser.add_argument("--split", default=None, help="Only the rows of this split (train, validation/val or test).")
    parser.add_argument("--out", default="predictions.csv", help="CSV file to write.")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_image_pixels", type=int, default=MAX_IMAGE_PIXELS,
                        help="Largest image (width x height) the manifest may name.")
    args = parser.parse_args(argv)

    def entry() -> None:
        if Path(args.out).is_dir():
            raise ConfigError(f"--out {args.out} is a folder; name the CSV file to write")
        frame, metrics = predict_manifest(Path(args.model), Path(args.manifest), args.split, args.device,
                                          args.batch_size, max_image_pixels=args.max_image_pixels)
        write_csv(Path(args.out), frame)
        counts = frame["prediction"].value_counts().to_dict()
        print(f"{len(frame)} rows -> {args.out}; predicted: {counts}")
        if metrics:
            recalls = ", ".join(f"{name} {scores['recall']:.3f}" for name, scores in metrics["per_class"].items())
            print(f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['f1_macro']:.4f} (recall: {recalls})")

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
