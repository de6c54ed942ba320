"""The rows a market model must beat, scored like every phase 5 run: the majority class,
the previous day's movement, and a logistic regression on the last 5 daily returns.

Usage:
    python -m phase5_multimodal_financial_sentiment.price_baselines --data_dir data/stocknet --labels down,up \
        --cluster_column date --run_prefix stocknet_

Each reads the manifest's `returns` column (the builders write it: the last 5 daily
returns the row's chart shows, oldest first) and nothing else of a row:
- `majority`: the commonest label of the train split, for every row;
- `previous_day`: the last return's sign: the second label (up, bullish) where it is >= 0,
  the first where it is below;
- `logistic_returns`: scikit-learn's logistic regression on the 5 returns (standardised),
  fitted on the train split (its `max_train_samples` subset where one is set, as the other
  rows of a table use).
Any other argument is a key of the phase's config (its data keys above all: `--data_dir`,
`--labels`, `--cluster_column`, `--leak_columns`, `--max_train_samples`), so each reads
exactly the splits a trained row reads. Writes `runs/phase5_multimodal_financial_sentiment/
<run_prefix><baseline>/` like a run (config, metrics with day-clustered intervals and
warnings, predictions), with `baseline.kind` naming it; nothing is trained by gradient.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import DataError

BASELINES = ("majority", "previous_day", "logistic_returns")
KINDS = {"majority": "majority class of train", "previous_day": "previous day's movement",
         "logistic_returns": "logistic regression on the last 5 returns"}


def returns_matrix(examples: Sequence, where: str):
    """The examples' `returns` as a float32 array (rows x days); an error naming the first
    row without them (a manifest no builder wrote)."""
    import numpy as np

    missing = next((i for i, e in enumerate(examples) if e.returns is None), None)
    if missing is not None:
        raise DataError(f"{where}: row {missing + 1} of the split has no `returns` column value; the price "
                        "baselines read the builders' `returns` (build_stocknet.py, build_stockemotions.py)")
    lengths = {len(e.returns) for e in examples}
    if len(lengths) != 1:
        raise DataError(f"{where}: rows hold different numbers of returns ({sorted(lengths)})")
    return np.array([e.returns for e in examples], dtype=np.float32)


class ReturnsDataset:
    """The examples' returns and labels as the phase's loaders batch them (a map-style dataset)."""

    def __init__(self, examples: Sequence, where: str):
        import torch

        self.returns = torch.from_numpy(returns_matrix(examples, where))
        self.labels = [e.label for e in examples]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"returns": self.returns[index], "labels": self.labels[index]}


def fit_baseline(kind: str, train: Sequence, num_labels: int, where: str):
    """The baseline `kind` as a torch module from `returns` to logits, fitted on `train`."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from phase5_multimodal_financial_sentiment.models import ReturnsClassifier

    returns = returns_matrix(train, where)
    labels = np.array([e.label for e in train])
    days = returns.shape[1]
    weight, bias = torch.zeros(num_labels, days), torch.zeros(num_labels)
    if kind == "majority":
        bias[int(np.bincount(labels, minlength=num_labels).argmax())] = 1.0
    elif kind == "previous_day":
        if num_labels != 2:
            raise DataError(f"{where}: the previous-day baseline needs two labels (down/up), got {num_labels}")
        weight[1, -1], bias[1] = 1.0, 1e-12  # logit(up) - logit(down) = last return (+ a tie to up at 0)
    else:
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(returns, labels)
        scaler, model = pipeline[0], pipeline[1]
        coef = torch.tensor(model.coef_ / scaler.scale_, dtype=torch.float32)  # on raw returns
        intercept = torch.tensor(model.intercept_ - (model.coef_ * scaler.mean_ / scaler.scale_).sum(-1),
                                 dtype=torch.float32)
        if num_labels == 2:  # scikit-learn's one row is the second label's logit against the first's
            weight[1], bias[1] = coef[0], intercept[0]
        else:
            weight, bias = coef, intercept
    return ReturnsClassifier(weight, bias)


def run_price_baseline(kind: str, config_args: Sequence[str], run_prefix: str = "") -> Path:
    """Fit and score one baseline on the phase's splits; its run directory."""
    from common.baseline import finish_untrained
    from common.config import parse_config
    from common.evaluation import Evaluator
    from common.run_lifecycle import open_run
    from phase5_multimodal_financial_sentiment.config import PHASE, PRESET_DIR, Phase5Config
    from phase5_multimodal_financial_sentiment.data import example_key, load_splits, make_loader, manifest_columns

    cfg, provenance = parse_config(Phase5Config, [*config_args, "--run_name", f"{run_prefix}{kind}",
                                                  "--report_to", "none"], PRESET_DIR)
    run = open_run(cfg, PHASE, load_splits, {**provenance, "baseline": KINDS[kind]}, tokenizer_from=None,
                   check_model=False, leak_key=example_key)  # no text is read: no tokenizer, no text encoder
    where = str(run.splits.info.get("source"))
    model = fit_baseline(kind, run.splits.train, len(run.splits.label_names), where).to(run.device)

    evaluator = Evaluator(run.splits, None, cfg, run.device, None, columns=manifest_columns,
                          make_loader=lambda examples: make_loader(ReturnsDataset(examples, where), None,
                                                                   cfg.eval_batch_size))
    return finish_untrained(cfg, run, model, evaluator, PHASE, fitted_on=len(run.splits.train),
                            baseline={"kind": KINDS[kind]}, data=run.splits.info)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                     epilog="Other arguments are the phase's config keys (--data_dir, --labels, ...).")
    parser.add_argument("--baselines", default=",".join(BASELINES), help=f"Comma-separated: {', '.join(BASELINES)}.")
    parser.add_argument("--run_prefix", default="", help="Prefix of the run directories' names (e.g. stocknet_).")
    args, config_args = parser.parse_known_args(argv)
    kinds = [kind.strip() for kind in args.baselines.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in BASELINES]
    if unknown:
        parser.error(f"--baselines: unknown {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    for kind in kinds:
        exit_on_bad_input(lambda kind=kind: print(f"{KINDS[kind]} -> "
                                                  f"{run_price_baseline(kind, config_args, args.run_prefix)}"))


if __name__ == "__main__":
    main()
