"""Training one of the study's small encoders from scratch, and the one place a run's new
classifier is built: the run's tokenizer (loaded, or a byte-level BPE vocabulary trained
on the train split), the hub models a run reads, and `build_new_classifier` (a small
encoder, or a pretrained one with a new head).

The keys that choose the architecture and its tokenizer (`ScratchOptions`) are in
common/model_options.py; the architectures themselves in common/small_transformers.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from common.bpe import describe_bpe, train_byte_level_bpe
from common.hub import HubRef, model_ref
from common.model_options import SMALL_ARCHITECTURES

if TYPE_CHECKING:  # what a config asks of the hub is answered without torch; models load in the functions below
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def tokenizer_source(cfg) -> Optional[str]:
    """Where the run's tokenizer is loaded from before the run starts; None when it is
    trained on the run's train split (`run_tokenizer`)."""
    if getattr(cfg, "train_tokenizer", False):
        return None
    return getattr(cfg, "tokenizer_name_or_path", None) or cfg.model_name_or_path


def run_tokenizer(cfg, run) -> tuple[PreTrainedTokenizerBase, dict]:
    """The run's tokenizer and what metrics.json records of it: the one `open_run` loaded,
    or (train_tokenizer) a byte-level BPE vocabulary of the train split's texts and pairs
    (the texts the model trains on; validation and test texts are never read). It is saved
    with every checkpoint; a resumed run reads its checkpoint's instead of training anew.
    For a small model its `model_max_length` is the run's max_length."""
    from common.models import load_tokenizer

    if run.tokenizer is not None:
        tokenizer, record = run.tokenizer, {}
    else:
        examples = run.splits.train
        texts = [e.text for e in examples] + [e.pair for e in examples if e.pair]
        if run.resume_from:
            tokenizer = load_tokenizer(str(run.resume_from))
        else:
            tokenizer = train_byte_level_bpe(texts, cfg.tokenizer_vocab_size, cfg.tokenizer_min_frequency)
        record = {"tokenizer": describe_bpe(tokenizer, len(texts))}
    if getattr(cfg, "architecture", "pretrained") in SMALL_ARCHITECTURES:
        # A small model has max_length positions: its saved tokenizer says so, so that
        # truncation=True (in a pipeline, say) cuts there instead of at the vocabulary's 512.
        tokenizer.model_max_length = cfg.max_length
    return tokenizer, record


def encoder_refs(cfg) -> list[HubRef]:
    """The hub models a run reads: the encoder (and another tokenizer, if named), only the
    tokenizer of a model trained from scratch, or nothing with a trained tokenizer."""
    tokenizer = tokenizer_source(cfg)
    if getattr(cfg, "architecture", "pretrained") in SMALL_ARCHITECTURES:
        return model_ref(tokenizer, "", weights=False) if tokenizer else []
    refs = model_ref(cfg.model_name_or_path, "")
    return refs + (model_ref(cfg.tokenizer_name_or_path, "", weights=False) if cfg.tokenizer_name_or_path else [])


def build_new_classifier(cfg, tokenizer: PreTrainedTokenizerBase, label_names: Sequence[str]) -> PreTrainedModel:
    """A classifier with a freshly initialised head (and, for the small models, encoder)."""
    from common.models import build_classifier, label_maps
    from common.small_transformers import SmallTransformerConfig, SmallTransformerForSequenceClassification

    architecture = getattr(cfg, "architecture", "pretrained")
    if architecture in SMALL_ARCHITECTURES:
        config = SmallTransformerConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                        max_position_embeddings=cfg.max_length, **label_maps(label_names),
                                        **SMALL_ARCHITECTURES[architecture])
        return SmallTransformerForSequenceClassification(config)
    return build_classifier(cfg, label_names, tokenizer.pad_token_id)

