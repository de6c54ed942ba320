"""Fine-tune an encoder (RoBERTa by default) to classify medical abstracts by condition.

Usage:
    python -m phase4_medical_text_xai.train --preset roberta --data_dir ../shared/data/medical_abstracts
    python -m phase4_medical_text_xai.train --preset roberta --max_length 512       # less truncation
    python -m phase4_medical_text_xai.train --preset roberta --long_inputs chunks     # windows, logits pooled
    python -m phase4_medical_text_xai.train --dataset notes.csv --text_column note --label_column dx
    python -m phase4_medical_text_xai.explain --run runs/phase4_medical_text_xai/roberta_seed42 --n 20
    python -m phase4_medical_text_xai.train --help                                    # every key, with defaults

Writes runs/phase4_medical_text_xai/<run_name>/ (config, env, history, metrics with the
truncation rate per split and what long_inputs kept of the abstracts, predictions,
misclassified abstracts, plots, checkpoints); `explain` then adds explanations/ to that
directory without retraining.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from common.cli import run_cli
from phase4_medical_text_xai.config import PHASE, PRESET_DIR, Phase4Config

if TYPE_CHECKING:
    from common.fit import OnEpochEnd


def main(cfg: Phase4Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation macro-F1, evaluate it; return the run directory."""
    # torch and transformers load here, not at import: `--help` and `reproduce --check` start without them.
    from common.batching import make_eval_loader, make_train_loader
    from common.evaluation import Evaluator, encode_examples
    from common.fit import fit
    from common.models import head_origin, load_trained_classifier
    from common.run_lifecycle import finish_run, load_run_classifier, open_run, report_tokens
    from common.seeding import set_seed
    from phase4_medical_text_xai.data import load_splits
    from phase4_medical_text_xai.long_inputs import (WindowPooledClassifier, check_long_inputs, collate_windows,
                                                     describe_long_inputs, encode_documents)

    run = open_run(cfg, PHASE, load_splits, provenance, check_tokenizer=lambda t, _: check_long_inputs(cfg, t))
    set_seed(cfg.seed)  # before the new classification head is initialised
    tokenizer = run.tokenizer  # the model's own, checked with the data before the run directory was made
    model = load_run_classifier(cfg, run)
    # Abstracts are long: the share cut at max_length (per split), and what long_inputs keeps of them, are
    # part of the result.
    tokens = report_tokens(tokenizer, run.splits, cfg)
    long_inputs = describe_long_inputs(tokenizer, run.splits, cfg, list(tokens["truncated"]))
    train_examples = run.splits.train
    windowed = cfg.long_inputs != "head"
    if windowed:  # every text as its windows, scored through the pooled logits
        collate = collate_windows(tokenizer)
        # eval_batch_size counts windows: a batch holds eval_batch_size // max_chunks texts.
        eval_texts = max(1, cfg.eval_batch_size // (cfg.max_chunks if cfg.long_inputs == "chunks" else 1))
        evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype, make_loader=lambda examples:
                              make_eval_loader(encode_documents(tokenizer, examples, cfg), tokenizer, eval_texts,
                                               cfg.num_workers, collate_fn=collate))
        train_set = encode_documents(tokenizer, train_examples, cfg)
        train_loader = make_train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed, cfg.group_by_length,
                                         cfg.num_workers, collate_fn=collate)
        model = WindowPooledClassifier(model, cfg.chunk_pooling)
    else:
        evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype)
        train_set, train_loader = encode_examples(tokenizer, train_examples, cfg.max_length), None

    result = fit(cfg, run, model, tokenizer, train_set, evaluator, on_epoch_end=on_epoch_end,
                 train_loader=train_loader)

    # The best checkpoint is what `explain` reads later, with predictions.csv.
    model = load_trained_classifier(run.best_checkpoint()).to(run.device)
    finish_run(cfg, run, WindowPooledClassifier(model, cfg.chunk_pooling) if windowed else model, evaluator, result,
               len(train_set), PHASE, head=head_origin(model),
               data={**run.splits.info, **tokens, "long_inputs": long_inputs})
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, Phase4Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
