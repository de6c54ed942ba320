"""Train and evaluate a phase 5 model: text + image fusion, or one modality alone.

Usage:
    python -m phase5_multimodal_financial_sentiment.make_synthetic --out data/synthetic_charts --n 3000
    python -m phase5_multimodal_financial_sentiment.train --preset concat --data_dir data/synthetic_charts
    python -m phase5_multimodal_financial_sentiment.train --preset gated --data_dir <dir> --freeze_text
    python -m phase5_multimodal_financial_sentiment.train --preset text_only --data_dir <dir>     # ablations
    python -m phase5_multimodal_financial_sentiment.train --preset image_only --data_dir <dir>
    python -m phase5_multimodal_financial_sentiment.train --preset attention,synthetic_cpu --data_dir <dir> \
        --model_name_or_path <local encoder>                 # small, from-scratch ResNet-18 on a CPU
    python -m phase5_multimodal_financial_sentiment.predict \
        --model runs/phase5_multimodal_financial_sentiment/concat_seed42/checkpoints/best --manifest new.csv
    python -m phase5_multimodal_financial_sentiment.train --help

Writes runs/phase5_multimodal_financial_sentiment/<run_name>/ (config, env, history,
metrics with per-class recall, predictions with each row's image, misclassified rows,
confusion matrix, learning curves, checkpoints/{best,last}).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from common.cli import run_cli
from phase5_multimodal_financial_sentiment.config import PHASE, PRESET_DIR, Phase5Config

if TYPE_CHECKING:
    from common.fit import OnEpochEnd


def loader_factory(model, tokenizer, cfg: Phase5Config, device, store=None):
    """`make(examples, batch_size, seed)`: a loader of exactly what the model reads; with a
    `store` (a frozen text encoder) the texts' vectors from it instead of their tokens."""
    from phase5_multimodal_financial_sentiment.data import ImageTransform, ManifestDataset, make_loader
    from phase5_multimodal_financial_sentiment.text_features import text_encoding

    model_config = model.config
    transform = (ImageTransform(model_config.image_size, model_config.image_mean, model_config.image_std)
                 if model_config.uses_image else None)
    text_tokenizer = tokenizer if model_config.uses_text else None
    encode = text_encoding(model, tokenizer, cfg.max_length, device) if store is not None else None

    def make(examples, batch_size: int = cfg.eval_batch_size, seed: Optional[int] = None):
        features = (store.features([e.text for e in examples], encode, cfg.eval_batch_size, cfg.progress)
                    if store is not None else None)
        dataset = ManifestDataset(examples, text_tokenizer, transform, cfg.max_length, cfg.cache_images, cfg.progress,
                                  features)
        return make_loader(dataset, text_tokenizer, batch_size, cfg.num_workers, seed)

    return make


def feature_store(cfg: Phase5Config, model):
    """The store of the frozen text encoder's vectors (text_features.py), or None where the
    text encoder trains or is absent."""
    from phase5_multimodal_financial_sentiment.text_features import TextFeatureStore, encoder_key

    if not (cfg.freeze_text and model.config.uses_text):
        return None
    key = encoder_key(cfg.model_name_or_path, model.config.text_config, cfg.max_length)
    return TextFeatureStore(Path(cfg.output_dir) / PHASE / ".cache" / "text_features", key)


def main(cfg: Phase5Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    # torch and transformers load here, not at import: `--help` and `reproduce --check` start without them.
    from common.evaluation import Evaluator
    from common.fit import fit
    from common.run_lifecycle import finish_run, open_run
    from common.seeding import set_seed
    from phase5_multimodal_financial_sentiment.data import example_key, load_splits, manifest_columns
    from phase5_multimodal_financial_sentiment.models import build_model, load_trained_model

    uses_text = cfg.modality != "image"
    # Every manifest row and image, the tokenizer and the text encoder's source are checked first.
    run = open_run(cfg, PHASE, load_splits, provenance, tokenizer_from=cfg.model_name_or_path if uses_text else None,
                   check_model=uses_text, leak_key=example_key)
    set_seed(cfg.seed)  # before the ResNet (from scratch) and the head are initialised
    tokenizer = run.tokenizer
    model = (load_trained_model(run.resume_from) if run.resume_from else build_model(cfg, run.splits.label_names))
    model = model.to(run.device)
    store = feature_store(cfg, model)
    make = loader_factory(model, tokenizer, cfg, run.device, store)
    evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype, make_loader=make,
                          columns=manifest_columns)
    train_loader = make(run.splits.train, cfg.batch_size, seed=cfg.seed)

    # Pretrained text encoder: a small step; ResNet and head (new or from scratch): larger ones.
    rates = {"text_encoder.": cfg.learning_rate, "image_encoder.": cfg.image_learning_rate,
             "head.": cfg.head_learning_rate}
    result = fit(cfg, run, model, tokenizer, None, evaluator, on_epoch_end=on_epoch_end, train_loader=train_loader,
                 learning_rates=rates)

    model = load_trained_model(run.best_checkpoint()).to(run.device)
    metrics = finish_run(cfg, run, model, evaluator, result, len(train_loader.dataset), PHASE, data=run.splits.info,
                         image_weights=model.config.image_weights if model.config.uses_image else None,
                         text_features=store.record if store is not None else None)
    if "test_recall_neutral" in metrics:
        print("test recall per class: " + ", ".join(f"{name} {metrics[f'test_recall_{name}']:.3f}"
                                                       for name in run.splits.label_names))
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, Phase5Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
