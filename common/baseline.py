"""An off-the-shelf classifier, scored zero-shot on a phase's test split: the baseline row
beside the fine-tuned ones.

Usage:
    python -m common.baseline --phase 2 --model nlptown/bert-base-multilingual-uncased-sentiment \
        --label_map "1 star:negative,2 stars:negative,3 stars:neutral,4 stars:positive,5 stars:positive"
    python -m common.baseline --phase 1 --model ProsusAI/finbert --data_dir ../shared/data/financial_phrasebank
    python -m common.baseline --phase 4 --model DIR --label_map ... --dataset notes.csv --label_column dx

The model keeps its own head. Each of its labels is mapped onto one of the data's labels
(`--label_map "its label:data label,..."`; labels with the same name map by themselves);
a label of the model left unmapped, or mapped onto a label the data lacks, is an error
that lists both sets. The data's probability of a label is the sum of the model's
probabilities of the labels mapped onto it. Any other argument is a key of the phase's
config (its data keys above all), so the baseline reads exactly the split a fine-tuned
run of the phase reads. Writes `runs/<phase>/baseline_<model>/` like a run (config, env,
metrics with intervals and warnings, predictions, confusion matrix), which the tables
show as a row of its own; nothing is trained.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import ConfigError
from common.phases import choose_phases

if TYPE_CHECKING:  # torch and transformers load when a baseline runs, not for `--help`
    import torch


def parse_label_map(text: Optional[str]) -> dict[str, str]:
    """"a:b,c:d" -> {"a": "b", "c": "d"} (names may hold spaces; the last ':' splits)."""
    mapping = {}
    for part in (text or "").split(","):
        if part.strip():
            source, sep, target = part.rpartition(":")
            if not sep or not source.strip() or not target.strip():
                raise ConfigError(f"--label_map: {part.strip()!r} is not '<model label>:<data label>'")
            mapping[source.strip()] = target.strip()
    return mapping


def label_matrix(model_labels: Sequence[str], data_labels: Sequence[str], mapping: dict[str, str]) -> torch.Tensor:
    """(model labels x data labels) 0/1 matrix: where each of the model's labels goes."""
    unknown = sorted(set(mapping) - set(model_labels))
    if unknown:
        raise ConfigError(f"--label_map names {', '.join(map(repr, unknown))}, which the model does not have "
                          f"(its labels: {', '.join(model_labels)})")
    full = {label: mapping.get(label, label if label in data_labels else None) for label in model_labels}
    unmapped = [label for label, target in full.items() if target is None]
    if unmapped:
        raise ConfigError(f"the model's label(s) {', '.join(map(repr, unmapped))} map onto no label of the data "
                          f"(its labels: {', '.join(data_labels)}); give --label_map for every label of the "
                          f"model ({', '.join(model_labels)})")
    absent = sorted({target for target in full.values() if target not in data_labels})
    if absent:
        raise ConfigError(f"--label_map maps onto {', '.join(map(repr, absent))}, not a label of the data "
                          f"({', '.join(data_labels)})")
    import torch

    matrix = torch.zeros(len(model_labels), len(data_labels))
    for row, label in enumerate(model_labels):
        matrix[row, list(data_labels).index(full[label])] = 1.0
    return matrix


def model_labels(config) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


def text_phase(phase_name: str):
    """The one phase `phase_name` names, which must have a text classification data path."""
    chosen = choose_phases(phase_name, "--phase")
    if len(chosen) != 1:
        raise ConfigError(f"--phase: one phase, got {phase_name!r}")
    phase = chosen[0]
    if phase.runner.load_splits is None:
        raise ConfigError(f"{phase.name} has no text classification data path for a baseline")
    return phase


def finish_untrained(cfg, run, model, evaluator, phase_name: str, pipeline_tag: Optional[str] = None,
                     fitted_on: int = 0, **records) -> Path:
    """Score a model no gradient trained on the run's splits and write its records like a run's;
    `fitted_on`: the training examples it was fitted on otherwise (a price baseline's regression),
    recorded as its `train_examples`."""
    from common.fit import FitResult
    from common.run_lifecycle import finish_run

    finish_run(cfg, run, model, evaluator, FitResult(history=[], best_epoch=0, train_seconds=0.0, before={}),
               fitted_on, phase_name, pipeline_tag, **records)
    return run.run_dir


def run_baseline(phase_name: str, model_id: str, label_map: Optional[str], config_args: Sequence[str],
                 run_name: Optional[str] = None) -> Path:
    """Score `model_id` zero-shot on the test split of the phase's config; the run directory."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from common.evaluation import Evaluator
    from common.models import LabelMappedClassifier, load_error
    from common.run_lifecycle import open_run

    phase = text_phase(phase_name)
    name = run_name or f"baseline_{Path(model_id.rstrip('/')).name}"
    cfg, provenance = phase.runner.parse([*config_args, "--model_name_or_path", model_id, "--run_name", name,
                                          "--report_to", "none"])  # nothing trains: no curves to log
    mapping = parse_label_map(label_map)
    try:
        labels = model_labels(AutoConfig.from_pretrained(model_id))
    except (OSError, ValueError) as exc:
        raise load_error(model_id, exc) from None

    mapped = {}

    def load_checked_splits(config):  # the label map is checked with the data, before the run directory exists
        splits = phase.runner.load_splits(config)
        mapped["matrix"] = label_matrix(labels, splits.label_names, mapping)
        return splits

    run = open_run(cfg, phase.name, load_checked_splits, {**provenance, "baseline": model_id})
    matrix = mapped["matrix"]
    classifier = AutoModelForSequenceClassification.from_pretrained(model_id)
    model = LabelMappedClassifier(classifier, matrix).to(run.device).eval()
    evaluator = Evaluator(run.splits, run.tokenizer, cfg, run.device, run.amp_dtype)
    return finish_untrained(cfg, run, model, evaluator, phase.name,
                            baseline={"model": model_id, "model_labels": labels,
                                      "label_map": {label: run.splits.label_names[int(matrix[i].argmax())]
                                                    for i, label in enumerate(labels)}})


def untrained_parser(doc: str, phases: str, model: str, run_name: str) -> argparse.ArgumentParser:
    """The command line of a row scored without training (this module, common/prompting.py):
    --phase, --model, --run_name; every other argument is a key of the phase's config."""
    parser = argparse.ArgumentParser(allow_abbrev=False, description=doc.split("\n\n")[0],
                                     epilog="Other arguments are the phase's config keys (--data_dir, --dataset, ...).")
    parser.add_argument("--phase", required=True, help=f"Phase number or package name ({phases}).")
    parser.add_argument("--model", required=True, help=f"Hub id or local directory of {model}.")
    parser.add_argument("--run_name", default=None, help=f"Run directory name (default {run_name}).")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = untrained_parser(__doc__, "1-4", "a trained classifier", "baseline_<model>")
    parser.add_argument("--label_map", default=None, help="'<model label>:<data label>,...'")
    args, config_args = parser.parse_known_args(argv)
    exit_on_bad_input(lambda: print("baseline written to "
                                    + str(run_baseline(args.phase, args.model, args.label_map, config_args,
                                                       args.run_name))))


if __name__ == "__main__":
    main()
