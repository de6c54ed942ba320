"""Loading Hugging Face tokenizers and sequence classifiers with errors that name the model.

A model that is neither a local directory nor reachable on the hub (offline, a typo)
gives one clear ConfigError instead of a long traceback from inside transformers. A
checkpoint's own classification head is never used under another label order (see
`load_classifier`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel,
                          PreTrainedTokenizerBase)
from transformers.modeling_outputs import SequenceClassifierOutput

from common.errors import ConfigError
from common.model_options import PRETRAINED_HEADS
from common.heads import build_mean_pooling_classifier  # also registers its model type with the Auto classes
from common.load_report import describe_loading, folded_load_report
import common.small_transformers  # noqa: F401  (registers the from-scratch encoders with the Auto classes)

GENERIC_LABEL = re.compile(r"LABEL_\d+")


def load_error(source: str, exc: Exception) -> ConfigError:
    return ConfigError(f"could not load model {source!r}: not a local model directory, and the hub could not "
                       f"provide it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """The tokenizer of `name_or_path`; one without a pad token (a decoder LLM's) pads with its
    eos token, noted in `tokenizer.pad_token_note` for the run's record."""
    from common.llm import add_pad_token

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not load a tokenizer from {name_or_path!r}: not a local model directory, "
                          f"and the hub could not provide it ({str(exc).splitlines()[0]})") from None
    tokenizer.pad_token_note = add_pad_token(tokenizer)
    return tokenizer


# Models whose position ids start after the padding index (RoBERTa's scheme): their table
# holds pad_token_id + 1 positions no input token reads.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text")


def model_positions(config) -> Optional[int]:
    """How many tokens a model reads at most (its position table), or None where its config
    does not say (an encoder-decoder, a model with relative positions)."""
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    if config.model_type in OFFSET_POSITIONS:
        positions -= (config.pad_token_id if config.pad_token_id is not None else 1) + 1
    return positions


def check_model_source(name_or_path: str, max_length: Optional[int] = None) -> None:
    """Fail now, with a clear error, if the model's config cannot be had (a typo, offline) or
    `max_length` is more tokens than the model has positions for (training would otherwise stop
    at the first long text): before a run directory exists. Weights are not read."""
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise load_error(name_or_path, exc) from None
    positions = model_positions(config)
    if max_length is not None and positions is not None and max_length > positions:
        raise ConfigError(f"max_length {max_length}: {name_or_path!r} reads at most {positions} tokens (its "
                          f"position embeddings); set --max_length {positions} or less")


def label_maps(label_names: Sequence[str]) -> dict:
    id2label = dict(enumerate(label_names))
    return {"num_labels": len(label_names), "id2label": id2label,
            "label2id": {name: i for i, name in id2label.items()}}


def head_modules(model: PreTrainedModel) -> dict[str, nn.Module]:
    """The modules outside the encoder: the classification head (and its dropout)."""
    return {name: child for name, child in model.named_children() if name != model.base_model_prefix}


def reinitialise(modules: Iterable[nn.Module], model: PreTrainedModel) -> None:
    """Fresh weights for `modules` by the model's own init scheme. Loaded parameters are
    flagged as initialised, and the scheme skips flagged ones, so the flag is cleared first."""
    for module in modules:
        for parameter in module.parameters():
            parameter._is_hf_initialized = False
        module.apply(model._init_weights)


def logits_layer(modules: dict[str, nn.Module], num_labels: int) -> Optional[nn.Linear]:
    layers = [m for module in modules.values() for m in module.modules()
              if isinstance(m, nn.Linear) and m.out_features == num_labels]
    return layers[0] if len(layers) == 1 else None


def checkpoint_labels(config) -> Optional[list[str]]:
    """The label names a checkpoint's head was trained with; None when they are the
    generic LABEL_i names (the order then means nothing that can be checked)."""
    names = [str(config.id2label[i]) for i in sorted(config.id2label)] if config.id2label else []
    return None if not names or all(GENERIC_LABEL.fullmatch(n) for n in names) else names


def adopt_head(model: PreTrainedModel, loaded: list[str], label_names: Sequence[str], policy: str) -> str:
    """Keep a loaded head only with the data's labels, its rows put in the data's order;
    otherwise reinitialise it. Returns what was done, in words."""
    head = head_modules(model)
    wanted = [name.strip().lower() for name in label_names]
    have = [name.strip().lower() for name in loaded]
    layer = logits_layer(head, len(label_names))
    if policy == "map_by_name" and sorted(have) == sorted(wanted) and layer is not None:
        order = [have.index(name) for name in wanted]  # data label i comes from checkpoint row order[i]
        with torch.no_grad():
            layer.weight.copy_(layer.weight[order].clone())
            layer.bias.copy_(layer.bias[order].clone())
        if order == list(range(len(order))):
            return f"pretrained head kept: its labels {loaded} are the data's, in the same order"
        return f"pretrained head kept, mapped by label name from the checkpoint's order {loaded} to {list(label_names)}"
    reinitialise(head.values(), model)
    reason = ("pretrained_head new" if policy == "new" else
              f"the checkpoint's labels {loaded} are not the data's {list(label_names)}")
    return f"new head: the checkpoint's trained head was discarded ({reason})"


# Where each architecture keeps the dropout on its attention probabilities: BERT, RoBERTa,
# XLM-R (attention_probs_dropout_prob); DistilBERT and others (attention_dropout).
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def attention_dropout_override(config, value: Optional[float]) -> dict:
    """The `from_pretrained` keyword that sets the attention-probability dropout of a model
    with `config` to `value` (nothing when `value` is None). A config with no such key is an
    error: the value would otherwise be dropped without a word."""
    if value is None:
        return {}
    for key in ATTENTION_DROPOUT_KEYS:
        if hasattr(config, key):
            return {key: value}
    raise ConfigError(f"attention_dropout: a {config.model_type!r} model has no attention dropout in its config "
                      f"(none of {', '.join(ATTENTION_DROPOUT_KEYS)}); leave attention_dropout unset")


def load_classifier(name_or_path: str, label_names: Sequence[str], pretrained_head: str = "map_by_name",
                    attention_dropout: Optional[float] = None, loading: Optional[dict] = None,
                    pad_token_id: Optional[int] = None) -> PreTrainedModel:
    """A pretrained encoder with a classification head for `label_names` (saved with the
    model as id2label, so pipelines print label names).

    A checkpoint may already carry a trained head (ProsusAI/finbert's is positive,
    negative, neutral). transformers would load it under the data's id2label whatever
    its order, so: with `pretrained_head` map_by_name, a head whose label names are the
    data's is kept with its rows permuted into the data's order; any other trained head
    (other or generic names, another size, or pretrained_head new) is replaced by a new
    one. What was done is printed and kept in the model's config (`head_origin`), so that
    every checkpoint's config.json says how its head began. `attention_dropout`, when set,
    replaces the encoder's attention-probability dropout (`attention_dropout_override`);
    `loading` adds `from_pretrained` options (dtype, quantisation: common/llm.py).

    A decoder LLM's head reads the last real token, found through the config's
    `pad_token_id`: a config without one takes `pad_token_id` (the run's tokenizer's, which
    may be a token of its own, Qwen2's <|endoftext|>), else its eos token's, the token
    `load_tokenizer` pads a tokenizer without one with."""
    if pretrained_head not in PRETRAINED_HEADS:
        raise ConfigError(f"pretrained_head: {pretrained_head!r} is not one of {', '.join(PRETRAINED_HEADS)}")
    try:
        source = AutoConfig.from_pretrained(name_or_path)
        with folded_load_report():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, **label_maps(label_names), **attention_dropout_override(source, attention_dropout),
                **(loading or {}), output_loading_info=True, ignore_mismatched_sizes=True)
    except ConfigError:  # a ValueError too, but ours: it already names what is wrong
        raise
    except (OSError, ValueError) as exc:
        raise load_error(name_or_path, exc) from None
    head_keys = {key for key in model.state_dict() if not key.startswith(f"{model.base_model_prefix}.")}
    loading = describe_loading(name_or_path, info, head_keys)
    if loading:
        print(loading)
    not_loaded = set(info["missing_keys"]) | {entry[0] for entry in info["mismatched_keys"]}
    if head_keys & not_loaded:
        reinitialise(head_modules(model).values(), model)  # all of it, also a part that did load
        trained = checkpoint_labels(source) if head_keys & {entry[0] for entry in info["mismatched_keys"]} else None
        origin = (f"new head (the checkpoint's head, for {len(trained)} labels {trained}, does not fit)" if trained
                  else "new head (the checkpoint has none)")
    else:
        loaded = checkpoint_labels(source)
        if loaded is None:
            reinitialise(head_modules(model).values(), model)
            origin = "new head: the checkpoint's trained head was discarded (its labels have no names to match)"
        else:
            origin = adopt_head(model, loaded, label_names, pretrained_head)
    print(f"classification head: {origin}")
    model.config.head_origin = origin
    if model.config.pad_token_id is None:
        eos = model.config.eos_token_id
        model.config.pad_token_id = pad_token_id if pad_token_id is not None else (
            eos[0] if isinstance(eos, (list, tuple)) else eos)
    return model


def build_classifier(cfg, label_names: Sequence[str], pad_token_id: Optional[int] = None) -> PreTrainedModel:
    """The pretrained encoder `cfg.model_name_or_path` with a classification head for
    `label_names`: its own kind of head (`head linear`, `load_classifier`), or mean pooling
    and an MLP (`head mean_mlp`, common/heads.py), always new; with the attention dropout
    `cfg.attention_dropout` when that is set; `pad_token_id` is the run tokenizer's (see
    `load_classifier`)."""
    if cfg.head == "mean_mlp":
        try:
            override = attention_dropout_override(AutoConfig.from_pretrained(cfg.model_name_or_path),
                                                  cfg.attention_dropout) if cfg.attention_dropout is not None else {}
            return build_mean_pooling_classifier(cfg.model_name_or_path, dict(enumerate(label_names)),
                                                 cfg.head_hidden_size, cfg.head_dropout, **override)
        except ConfigError:  # as in load_classifier
            raise
        except (OSError, ValueError) as exc:
            raise load_error(cfg.model_name_or_path, exc) from None
    from common.llm import loading_options, prepare_for_training

    model = load_classifier(cfg.model_name_or_path, label_names, cfg.pretrained_head, cfg.attention_dropout,
                            loading_options(cfg), pad_token_id)
    return prepare_for_training(model, cfg)


def freeze_input_embeddings(model: nn.Module) -> int:
    """Stop training the input (token) embedding matrix of `model` (a classifier, or a peft
    wrapper of one): it gets no gradient, so the optimizer keeps no state for it. Returns its
    parameter count."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embeddings = base.get_input_embeddings() if hasattr(base, "get_input_embeddings") else None
    if embeddings is None:
        raise ConfigError(f"freeze_embeddings: {type(base).__name__} has no input embeddings to freeze")
    embeddings.weight.requires_grad_(False)
    return embeddings.weight.numel()


def head_origin(model) -> str:
    """How the classification head of `model` (or of the checkpoint it was loaded from) began."""
    return getattr(model.config, "head_origin", None) or "new head"


def load_trained_classifier(checkpoint: Path, **kwargs) -> PreTrainedModel:
    """A classifier saved by a run (its head and label names included); `kwargs` go to
    `from_pretrained` (e.g. `attn_implementation="eager"` to read attention weights)."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(checkpoint), **kwargs)
    except (OSError, ValueError) as exc:
        raise load_error(str(checkpoint), exc) from None


class LabelMappedClassifier(nn.Module):
    """A classifier's probabilities summed onto another label set (`matrix`: its labels x
    those labels, 0/1), returned as log-probabilities, the logits the evaluation expects
    (common/baseline.py scores an off-the-shelf model on a phase's labels with it)."""

    def __init__(self, model: nn.Module, matrix: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("matrix", matrix)

    def forward(self, **batch) -> SequenceClassifierOutput:
        probabilities = self.model(**batch).logits.float().softmax(-1) @ self.matrix
        return SequenceClassifierOutput(logits=probabilities.clamp_min(1e-12).log())
