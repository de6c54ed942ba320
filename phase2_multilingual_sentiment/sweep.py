"""Tune a phase 2 model with an Optuna sweep; each trial is an ordinary phase 2 run.

Usage:
    python -m phase2_multilingual_sentiment.sweep --space phase2_multilingual_sentiment/sweeps/xlmr_grid.yaml \
        --preset xlmr --data_dir ../shared/data/tweet_sentiment_multilingual
    python -m phase2_multilingual_sentiment.sweep --space ... --workers 2 --devices cuda:0,cuda:1
    # on each machine:
    python -m phase2_multilingual_sentiment.sweep --space ... --storage postgresql://user:pw@host/sweeps
    python -m phase2_multilingual_sentiment.sweep --help

The objective is validation macro-F1 over the training languages; the best parameters are
then re-run with the test split (see common/sweep.py for the layout of the sweep directory).
"""
from __future__ import annotations

from common.cli import exit_on_bad_input
from common.sweep import sweep_cli
from phase2_multilingual_sentiment.config import PHASE

if __name__ == "__main__":
    exit_on_bad_input(lambda: sweep_cli(PHASE, description=__doc__.split("\n\n")[0]))
