"""`attention_dropout` replaces a pretrained encoder's attention-probability dropout, and
only that: the other dropouts keep the checkpoint's value, and a model that has no such
setting is an error, never a value dropped without a word."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import GPT2Config, GPT2Model

from common.errors import ConfigError
from common.models import ATTENTION_DROPOUT_KEYS, attention_dropout_override, build_classifier
from common.random_encoders import write_tiny_bert
from phase1_financial_phrasebank.config import Phase1Config

LABELS = ["negative", "neutral", "positive"]


def dropouts(model: torch.nn.Module) -> tuple[set[float], set[float]]:
    """(attention-probability dropouts, the encoder's other dropouts) of `model`, as sets of p
    (the classification head's own dropout, e.g. DistilBERT's seq_classif_dropout, left out)."""
    attention, other = set(), set()
    for module in list(model.modules())[1:]:
        inner = getattr(module, "dropout", None)
        if isinstance(inner, torch.nn.Dropout):
            (attention if type(module).__name__.endswith("SelfAttention") else other).add(inner.p)
    return attention, other


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
@pytest.mark.parametrize("head", ["linear", "mean_mlp"])
def test_attention_dropout_replaces_only_the_attention_dropout(tmp_path, architecture, head):
    model_dir = write_tiny_bert(tmp_path / architecture, {"profit", "loss"}, architecture=architecture,
                                dropout=0.3)
    cfg = Phase1Config(model_name_or_path=str(model_dir), head=head, attention_dropout=0.0)
    model = build_classifier(cfg, LABELS)
    attention, other = dropouts(model)
    assert attention == {0.0}
    assert other == {0.3}  # embeddings, FFN and output dropouts: the checkpoint's
    # The checkpoint a run saves says how it was trained.
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    encoder = saved.get("encoder", saved)  # the mean_mlp head nests its encoder's config
    assert [encoder[key] for key in ATTENTION_DROPOUT_KEYS if key in encoder] == [0.0]

    kept = build_classifier(Phase1Config(model_name_or_path=str(model_dir), head=head), LABELS)
    assert dropouts(kept) == ({0.3}, {0.3})


def test_attention_dropout_on_a_model_without_one_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="attention_dropout: a 'gpt2' model has no attention dropout"):
        attention_dropout_override(GPT2Config(), 0.0)
    assert attention_dropout_override(GPT2Config(), None) == {}
    # Through the loader, the error is this one, not a failure to load the model.
    GPT2Model(GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2)).save_pretrained(tmp_path)
    for head in ("linear", "mean_mlp"):
        with pytest.raises(ConfigError, match="^attention_dropout: a 'gpt2' model"):
            build_classifier(Phase1Config(model_name_or_path=str(tmp_path), head=head, attention_dropout=0.0), LABELS)


def test_attention_dropout_with_a_small_transformer_is_an_error():
    with pytest.raises(ConfigError, match="attention_dropout: mini_transformer has one dropout"):
        Phase1Config(architecture="mini_transformer", attention_dropout=0.0)  # checked when built
    Phase1Config(architecture="mini_transformer")
