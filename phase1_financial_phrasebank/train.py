"""Fine-tune and evaluate a phase 1 model: sentiment on Financial PhraseBank, the FiQA 2018
tasks (sentiment, its score, aspects), or any text-classification data set.

Usage:
    python -m phase1_financial_phrasebank.train --preset distilbert
    python -m phase1_financial_phrasebank.train --preset mini --data_dir ../shared/data/financial_phrasebank
    python -m phase1_financial_phrasebank.train --preset head_only          # or full, head_then_full, gradual_unfreeze
    python -m phase1_financial_phrasebank.train --preset lora --merge       # LoRA, then a merged plain model
    python -m phase1_financial_phrasebank.train --preset fiqa_sentiment_aspect --data_dir ../shared/data/fiqa_2018
    python -m phase1_financial_phrasebank.train --dataset reviews.csv --text_column review --label_column stars
    python -m phase1_financial_phrasebank.train --preset distilbert --resume  # continue an interrupted run
    python -m phase1_financial_phrasebank.train --help                        # every key, with defaults

Writes runs/phase1_financial_phrasebank/<run_name>/ (config, env, history, metrics,
predictions, misclassified examples, plots, checkpoints/{best,last}[,merged]).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from common.cli import run_cli
from phase1_financial_phrasebank.config import PHASE, PRESET_DIR, Phase1Config, is_regression

if TYPE_CHECKING:
    import torch

    from common.fit import OnEpochEnd


def training_examples_and_loss(cfg: Phase1Config, splits, device: torch.device) -> tuple[list, Callable, dict]:
    """The training examples (oversampled, if asked), the loss (cross-entropy, class-weighted
    if asked; MSE for the score regression) and what metrics.json records of them."""
    import functools

    import torch
    import torch.nn.functional as F

    from common.regression import mse_loss
    from phase1_financial_phrasebank.imbalance import inverse_frequency_weights, oversample

    examples = splits.train
    if is_regression(cfg):
        return examples, mse_loss, {}
    labels = [e.label for e in examples]
    weights = inverse_frequency_weights(labels, len(splits.label_names))
    loss_fn = F.cross_entropy
    if cfg.class_weighting == "inverse_frequency":
        loss_fn = functools.partial(F.cross_entropy, weight=torch.tensor(weights, device=device))
    if cfg.oversample:
        examples = oversample(examples, labels, cfg.seed)
    return examples, loss_fn, {"class_weights": dict(zip(splits.label_names, weights))}


def main(cfg: Phase1Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """Train, keep the best epoch by its validation score (macro-F1; R² for the score
    regression), evaluate it; return the run directory."""
    # torch, transformers and peft load here, not at import: `--help` and `reproduce --check` start without them.
    import copy
    import functools

    from common.checkpoint import save_checkpoint
    from common.evaluation import Evaluator, RegressionEvaluator, encode_examples
    from common.fit import fit
    from common.llm import check_prompting, describe_prompt, encode_prompts, prompt_format, prompt_loader_factory
    from common.lora import merge_lora
    from common.models import head_origin
    from common.run_lifecycle import finish_run, open_run, report_tokens
    from common.scratch import run_tokenizer, tokenizer_source
    from common.seeding import set_seed
    from phase1_financial_phrasebank.data import load_splits
    from phase1_financial_phrasebank.models import build_model
    from phase1_financial_phrasebank.regimes import apply_regime

    # Data, tokenizer and model source are checked before a run directory exists.
    run = open_run(cfg, PHASE, load_splits, provenance, check_model=cfg.architecture == "pretrained",
                   tokenizer_from=tokenizer_source(cfg),
                   check_tokenizer=functools.partial(check_prompting, cfg) if cfg.llm_format == "instruction" else None)
    tokenizer, tokenizer_record = run_tokenizer(cfg, run)  # loaded above, or trained on the train split
    set_seed(cfg.seed)  # before the model and its new head are built
    model = build_model(cfg, tokenizer, run.splits.label_names, checkpoint=run.resume_from).to(run.device)
    tokens = report_tokens(tokenizer, run.splits, cfg)  # truncation and unknown tokens per split
    if cfg.llm_format == "instruction":  # prompts in, each label's answer scored (common/llm.py)
        prompt = prompt_format(cfg, run.splits.label_names, run.splits.train)
        cut: list = []
        evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype,
                              make_loader=prompt_loader_factory(tokenizer, prompt, cfg, cut))
        train_examples, loss_fn = run.splits.train, model.answer_loss
        train_set, shortened = encode_prompts(tokenizer, train_examples, prompt, cfg.max_length)
        cut.append(shortened)
        records = {"prompt": describe_prompt(prompt, tokenizer, cut)}  # the evaluator encoded its sets above
    else:
        # Scores of a classifier (and every agreement level's test), or of FiQA's score regression.
        evaluator = (RegressionEvaluator if is_regression(cfg) else Evaluator)(run.splits, tokenizer, cfg,
                                                                              run.device, run.amp_dtype)
        train_examples, loss_fn, records = training_examples_and_loss(cfg, run.splits, run.device)
        train_set = encode_examples(tokenizer, train_examples, cfg.max_length)

    def set_stage(epoch: int) -> dict:
        return {"stage": apply_regime(model, cfg.regime, epoch, cfg.head_epochs, cfg.unfreeze_layers_per_epoch)}

    result = fit(cfg, run, model, tokenizer, train_set, evaluator, loss_fn=loss_fn, before_epoch=set_stage,
                 on_epoch_end=on_epoch_end)

    model = build_model(cfg, tokenizer, run.splits.label_names, checkpoint=run.best_checkpoint()).to(run.device)
    if cfg.merge:  # merged from a copy: the evaluation below scores the adapter model itself
        save_checkpoint(run.run_dir / "checkpoints" / "merged", merge_lora(copy.deepcopy(model)), tokenizer)
    # An instruction-tuned model answers in words: the text-generation pipeline serves it.
    pipeline_tag = "text-generation" if cfg.llm_format == "instruction" else None
    finish_run(cfg, run, model, evaluator, result, len(train_set), PHASE, pipeline_tag, head=head_origin(model),
               data={**run.splits.info, **tokens, **tokenizer_record}, **records)
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, Phase1Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
