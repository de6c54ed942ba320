"""Tiny, randomly initialised encoders with tokenizers made from the words of a data set:
smoke runs and tests need a real Hugging Face model directory, not a download.
Nothing they learn is meaningful; they show that the pipeline works end to end."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable


def write_tiny_bert(directory: Path, words: set[str], seed: int = 0) -> Path:
    """A 2-layer, 32-wide DistilBERT (random weights, seeded) whose WordPiece vocabulary is `words`."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words | set("0123456789.,%!?@#"))
    # transformers 5 takes the vocabulary itself (`vocab=`); a `vocab_file=` is silently ignored.
    tokenizer = DistilBertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    config = DistilBertConfig(vocab_size=len(vocab), n_layers=2, dim=32, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128, pad_token_id=0)
    torch.manual_seed(seed)  # the same weights whatever ran before in the process
    DistilBertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_tiny_roberta(directory: Path, texts: Iterable[str], seed: int = 0) -> Path:
    """A 2-layer, 32-wide RoBERTa (random weights) and a byte-level BPE tokenizer of `texts`."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    directory.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(directory))
    merges = [tuple(line.split()) for line in (directory / "merges.txt").read_text().splitlines()[1:] if line]
    tokenizer = RobertaTokenizerFast(vocab=bpe.get_vocab(), merges=merges)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(bpe.get_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=160, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2)
    RobertaModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
