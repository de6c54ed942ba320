"""Loading Hugging Face tokenizers and sequence classifiers with errors that name the model.

A model that is neither a local directory nor reachable on the hub (offline, a typo)
gives one clear ConfigError instead of a long traceback from inside transformers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from common.errors import ConfigError


def load_error(source: str, exc: Exception) -> ConfigError:
    return ConfigError(f"could not load model {source!r}: not a local model directory, and the hub could not "
                       f"provide it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not load a tokenizer from {name_or_path!r}: not a local model directory, "
                          f"and the hub could not provide it ({str(exc).splitlines()[0]})") from None


def label_maps(label_names: Sequence[str]) -> dict:
    id2label = dict(enumerate(label_names))
    return {"num_labels": len(label_names), "id2label": id2label,
            "label2id": {name: i for i, name in id2label.items()}}


def load_classifier(name_or_path: str, label_names: Sequence[str]) -> PreTrainedModel:
    """A pretrained encoder with a new classification head for `label_names` (saved with
    the model as id2label, so pipelines print label names)."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(name_or_path, **label_maps(label_names))
    except (OSError, ValueError) as exc:
        raise load_error(name_or_path, exc) from None


def load_trained_classifier(checkpoint: Path, **kwargs) -> PreTrainedModel:
    """A classifier saved by a run (its head and label names included); `kwargs` go to
    `from_pretrained` (e.g. `attn_implementation="eager"` to read attention weights)."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(checkpoint), **kwargs)
    except (OSError, ValueError) as exc:
        raise load_error(str(checkpoint), exc) from None
