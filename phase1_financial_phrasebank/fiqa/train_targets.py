"""FiQA 2018 target extraction: fine-tune a seq2seq model to write each entry's target from
its sentence (optionally with its aspect), or the extractive baseline, a span tagger.

Usage:
    python -m phase1_financial_phrasebank.fiqa.train_targets --preset flan_t5_lora --data_dir ../shared/data/fiqa_2018
    python -m phase1_financial_phrasebank.fiqa.train_targets --preset flan_t5_lora --num_beams 4 --data_dir ...
    python -m phase1_financial_phrasebank.fiqa.train_targets --preset minilm_encoder_decoder \\
        --model_name_or_path /path/to/local/bert-like/encoder --data_dir ../shared/data/fiqa_2018
    python -m phase1_financial_phrasebank.fiqa.train_targets --preset span_tagger --data_dir ...
    python -m phase1_financial_phrasebank.fiqa.train_targets --help

Writes runs/phase1_financial_phrasebank/<run_name>/ like every run: metrics.json (exact
match, token F1, in-sentence share, before and after training), predictions.csv (input,
gold and predicted target), checkpoints/{best,last}[,merged]; a seq2seq checkpoint loads
with `AutoModelForSeq2SeqLM.from_pretrained` (transformers 5 has no text2text pipeline).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from common.cli import run_cli
from phase1_financial_phrasebank.config import PHASE
from phase1_financial_phrasebank.fiqa.data import target_splits
from phase1_financial_phrasebank.fiqa.target_config import PRESET_DIR, TargetConfig

if TYPE_CHECKING:
    from common.fit import OnEpochEnd

PIPELINE_TAGS = {"seq2seq": "text2text-generation", "span_tagger": "token-classification"}  # the hub's task tags


def load_splits(cfg: TargetConfig):
    return target_splits(cfg.data_dir, list(cfg.context_columns), cfg.fiqa_aspect_level, cfg.split_seed)


def main(cfg: TargetConfig, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by validation token F1, evaluate it; return the run directory."""
    # torch, transformers and peft load here, not at import: `--help` starts without them.
    import copy

    from common.checkpoint import save_checkpoint
    from common.fit import fit
    from common.lora import merge_lora
    from common.run_lifecycle import finish_run, open_run, report_tokens
    from common.seeding import set_seed
    from phase1_financial_phrasebank.fiqa.target_evaluation import (TargetEvaluator, make_target_train_loader,
                                                                    token_loss)
    from phase1_financial_phrasebank.fiqa.target_models import build_target_model

    run = open_run(cfg, PHASE, load_splits, provenance)  # data, tokenizer and model checked first
    set_seed(cfg.seed)  # before the model (and any new head or cross-attention) is built
    tokenizer = run.tokenizer
    model = build_target_model(cfg, tokenizer, checkpoint=run.resume_from).to(run.device)
    tokens = report_tokens(tokenizer, run.splits, cfg)
    # The base model's own extractions are the "before" scores: flan-t5 already answers the prompt.
    evaluator = TargetEvaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype, model)
    train_examples = run.splits.train
    train_loader = make_target_train_loader(cfg, tokenizer, model, train_examples)

    result = fit(cfg, run, model, tokenizer, None, evaluator, loss_fn=token_loss, on_epoch_end=on_epoch_end,
                 train_loader=train_loader)

    model = build_target_model(cfg, tokenizer, checkpoint=run.best_checkpoint()).to(run.device)
    if cfg.merge:  # merged from a copy: the evaluation below scores the adapter model itself
        save_checkpoint(run.run_dir / "checkpoints" / "merged", merge_lora(copy.deepcopy(model)), tokenizer)
    finish_run(cfg, run, model, evaluator, result, len(train_examples), PHASE, PIPELINE_TAGS[cfg.extractor],
               extractor=cfg.extractor, data={**run.splits.info, **tokens})
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, TargetConfig, PRESET_DIR, description=__doc__.split("\n\n")[0])
