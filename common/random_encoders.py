"""Tiny, randomly initialised encoders (and decoder LLMs of the Llama, Qwen2 and Gemma 3
families) with tokenizers made from the words of a data set: smoke runs and tests need a
real Hugging Face model directory, not a download. Nothing they learn is meaningful; they
show that the pipeline works end to end."""
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


DECODER_CONFIGS = {  # two layers, 32 wide, grouped-query attention as in the real families
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "gemma3_text": ("Gemma3TextConfig", "Gemma3ForCausalLM", {"head_dim": 8, "sliding_window": 64}),
}
TINY_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
                      "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def write_tiny_decoder(directory: Path, texts: Iterable[str], model_type: str = "llama", seed: int = 0) -> Path:
    """A 2-layer, 32-wide causal LM of `model_type` (llama, qwen2, gemma3_text; random weights)
    with a byte-level BPE tokenizer of `texts` that, like a decoder LLM's, has bos/eos tokens
    and a chat template but no pad token."""
    import torch
    import transformers
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=400, min_frequency=1,
                            special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>")
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config_name, model_name, extra = DECODER_CONFIGS[model_type]
    config = getattr(transformers, config_name)(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=None, tie_word_embeddings=True, **extra)
    config.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    # Read back as the family's own tokenizer class would read it (Qwen2's adds its <|endoftext|>):
    # the embedding table covers every id that tokenizer gives.
    config.vocab_size = len(transformers.AutoTokenizer.from_pretrained(directory))
    torch.manual_seed(seed)
    getattr(transformers, model_name)(config).save_pretrained(directory)
    return directory
