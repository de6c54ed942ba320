"""Train one phase 3 configuration: a phase 2 run (XLM-R on the multilingual tweets)
recorded under runs/phase3_hp_tuning_xlm_roberta/.

Usage:
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor --learning_rate 1e-4
    python -m phase3_hp_tuning_xlm_roberta.train --optimizer adafactor_relative --learning_rate none \
        --lr_scheduler constant --warmup_ratio 0
    python -m phase3_hp_tuning_xlm_roberta.train --preset runs/phase3_hp_tuning_xlm_roberta/sweep_lr/best_preset.json
    python -m phase3_hp_tuning_xlm_roberta.study --space phase3_hp_tuning_xlm_roberta/studies/learning_rate.yaml
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.cli import run_cli
from common.evaluation import Evaluator, encode_examples
from common.finetune import finish_run, load_run_classifier, open_run, report_tokens
from common.fit import OnEpochEnd, fit
from common.models import head_origin, load_trained_classifier
from common.seeding import set_seed
from phase2_multilingual_sentiment.data import load_splits
from phase3_hp_tuning_xlm_roberta.config import PHASE, PRESET_DIR, Phase3Config


def main(cfg: Phase3Config, provenance: Optional[dict] = None, on_epoch_end: Optional[OnEpochEnd] = None) -> Path:
    """One configuration of a study: phase 2's task, trained with the optimizer, learning
    rate, warmup, weight decay and schedule of `cfg`; return the run directory."""
    run = open_run(cfg, PHASE, load_splits, provenance)  # phase 2's tweets and language setup
    set_seed(cfg.seed)  # before the new classification head is initialised
    tokenizer = run.tokenizer  # the model's own, checked with the data before the run directory was made
    model = load_run_classifier(cfg, run)
    tokens = report_tokens(tokenizer, run.splits, cfg)
    evaluator = Evaluator(run.splits, tokenizer, cfg, run.device, run.amp_dtype)  # test unscored in trials
    train_set = encode_examples(tokenizer, run.splits.train[:cfg.max_train_samples], cfg.max_length)

    # The studied keys act here: fit builds the optimizer and schedule from them (common/optim.py),
    # and a study's pruner sees each epoch's validation score through on_epoch_end.
    result = fit(cfg, model, tokenizer, train_set, evaluator, run.run_dir, run.device, run.amp_dtype,
                 resume_from=run.resume_from, on_epoch_end=on_epoch_end, trackers=run.trackers)

    model = load_trained_classifier(run.best_checkpoint()).to(run.device)
    finish_run(cfg, run, model, evaluator, result, len(train_set), PHASE, head=head_origin(model),
               data={**run.splits.info, **tokens})
    return run.run_dir


if __name__ == "__main__":
    run_cli(main, Phase3Config, PRESET_DIR, description=__doc__.split("\n\n")[0])
