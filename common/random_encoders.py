"""Tiny, randomly initialised encoders with tokenizers made from the words of a data set:
smoke runs and tests need a real Hugging Face model directory, not a download.
Nothing they learn is meaningful; they show that the pipeline works end to end."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from common.bpe import train_byte_level_bpe


def write_tiny_bert(directory: Path, words: set[str], seed: int = 0, architecture: str = "distilbert",
                    dropout: float = 0.1) -> Path:
    """A 2-layer, 32-wide DistilBERT (random weights, seeded) whose WordPiece vocabulary is
    `words`; `architecture` "bert" writes a BERT of the same size instead (a BERT, unlike a
    DistilBERT, can also be the decoder of an encoder-decoder). `dropout` is every dropout
    probability of the model (the architectures' default, 0.1, unless given)."""
    import torch
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words | set("0123456789.,%!?@#"))
    # transformers 5 takes the vocabulary itself (`vocab=`); a `vocab_file=` is silently ignored.
    tokenizer = DistilBertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)  # the same weights whatever ran before in the process
    if architecture == "bert":
        BertModel(BertConfig(vocab_size=len(vocab), num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=128, pad_token_id=0,
                             hidden_dropout_prob=dropout,
                             attention_probs_dropout_prob=dropout)).save_pretrained(directory)
    else:
        DistilBertModel(DistilBertConfig(vocab_size=len(vocab), n_layers=2, dim=32, n_heads=2, hidden_dim=64,
                                         max_position_embeddings=128, pad_token_id=0, dropout=dropout,
                                         attention_dropout=dropout)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_tiny_roberta(directory: Path, texts: Iterable[str], seed: int = 0) -> Path:
    """A 2-layer, 32-wide RoBERTa (random weights) and a byte-level BPE tokenizer of `texts`."""
    import torch
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    tokenizer = train_byte_level_bpe(texts, 400, min_frequency=1, tokenizer_cls=RobertaTokenizerFast)
    vocab_size = len(tokenizer)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=160, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2)
    RobertaModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_tiny_bart(directory: Path, texts: Iterable[str], seed: int = 0) -> Path:
    """A 2+2-layer, 32-wide BART (random weights) with a byte-level BPE tokenizer of `texts`:
    an encoder-decoder that generates text, built from a config."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizerFast

    tokenizer = train_byte_level_bpe(texts, 400, min_frequency=1, tokenizer_cls=BartTokenizerFast)
    vocab_size = len(tokenizer)
    torch.manual_seed(seed)
    config = BartConfig(vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=160, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                        decoder_start_token_id=2, forced_bos_token_id=None)
    BartForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
