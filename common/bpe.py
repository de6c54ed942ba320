"""A byte-level BPE tokenizer trained on a run's own texts (Hugging Face `tokenizers`).

For models trained from scratch on text a pretrained vocabulary reads badly: an English
WordPiece vocabulary turns most Arabic or Hindi characters into the unknown token, while
byte-level BPE (GPT-2's and RoBERTa's scheme) starts from the 256 bytes and so can write
any text, in any script, without an unknown token.
"""
from __future__ import annotations

import json
from typing import Iterable

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's special tokens, in its id order


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2, tokenizer_cls=None):
    """A byte-level BPE vocabulary of at most `vocab_size` tokens (merges of pairs seen at
    least `min_frequency` times in `texts`), as a `tokenizer_cls` (default RoBERTa's fast
    tokenizer: `<s> text </s>`, pair inputs `<s> a </s></s> b </s>`). Training is
    deterministic: the same texts give the same vocabulary."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=min_frequency,
                            special_tokens=SPECIAL_TOKENS, show_progress=False)
    merges = [tuple(pair) if isinstance(pair, list) else tuple(pair.split())
              for pair in json.loads(bpe.to_str())["model"]["merges"]]  # lists, or "a b" strings in older files
    return (tokenizer_cls or RobertaTokenizerFast)(vocab=bpe.get_vocab(), merges=merges)


def describe_bpe(tokenizer, texts: int) -> dict:
    """What metrics.json records of a tokenizer trained on the run's train split (`texts` of them)."""
    return {"kind": "byte-level BPE", "vocab_size": len(tokenizer), "trained_on_texts": texts,
            "trained_on": "the run's train split"}
