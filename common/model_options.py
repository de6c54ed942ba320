"""The model keys of the text configs: the classification head (`HeadOptions`, read by
common/heads.py and common/models.py), what becomes of a pretrained checkpoint
(`PretrainedOptions`, common/models.py and common/fit.py), the memory levers of large
models (`MemoryOptions`, common/llm.py), a decoder LLM prompted for its answer
(`PromptOptions`, common/llm.py) and the small encoders trained from scratch
(`ScratchOptions`, common/scratch.py), each checked when a config is built.

They live apart from the torch code that reads them so that a config, its `--help` and
`reproduce --check` are built without importing torch or transformers (seconds each).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from common.config import option
from common.errors import ConfigError

PRETRAINED_HEADS = ("map_by_name", "new")
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZATIONS = ("none", "8bit", "4bit")
LLM_FORMATS = ("head", "instruction")
DEFAULT_PROMPT = ("Instruction: What is the sentiment of this text? Answer with one of: {labels}.\n"
                  "Input: {text}\nAnswer:")

# Sizes of the from-scratch encoders (parameter counts, with the 30,522-token uncased
# WordPiece vocabulary, are in phase 1's README).
SMALL_ARCHITECTURES = {
    "mini_transformer": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "tiny_transformer": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
}


@dataclass
class HeadOptions:
    """The keys of a text classifier's head (read by common/models.py `build_classifier`)."""

    head: str = option("linear", "'linear': the model's own head on the first token; 'mean_mlp': mean pooling "
                       "over tokens, then a dropout-MLP (what sentence-embedding encoders such as MiniLM expect).",
                       ("linear", "mean_mlp"))
    head_hidden_size: int = option(256, "Hidden width of the mean_mlp head.", at_least=1)
    head_dropout: float = option(0.1, "Dropout of the mean_mlp head.", at_least=0, below=1)


@dataclass
class PretrainedOptions:
    """The keys that say what becomes of a pretrained checkpoint: its attention dropout, its
    embedding matrix and its own classification head (read by common/models.py and common/fit.py)."""

    attention_dropout: Optional[float] = option(None, "Dropout on the pretrained encoder's attention "
                                                "probabilities in training, in place of its config's (e.g. 0: no "
                                                "mask drawn over every head's length x length map, the largest "
                                                "cost outside the matmuls on a CPU); unset keeps the checkpoint's.",
                                                at_least=0, below=1)
    freeze_embeddings: bool = option(False, "Keep the pretrained encoder's input (token) embedding matrix as it "
                                     "is: no gradient, no optimizer state (for multilingual-e5-small 96M of its "
                                     "118M parameters, its 250k-piece vocabulary).")
    pretrained_head: str = option("map_by_name", "A checkpoint that already has a trained classification head: "
                                  "map_by_name keeps it when its label names are the data's (rows put in the "
                                  "data's order), else gives a new head; new: always a new head.", PRETRAINED_HEADS)


@dataclass
class MemoryOptions:
    """What a large model's weights, activations and optimizer cost in memory (read by
    common/llm.py); gradient accumulation is TrainConfig's grad_accum_steps."""

    model_dtype: str = option("auto", "dtype of the weights as loaded: auto keeps the checkpoint's; bfloat16 or "
                              "float16 halve their memory (training in them is the user's choice: precision "
                              "sets autocast).", DTYPES)
    quantization: str = option("none", "Load the frozen base weights in 8bit or 4bit through bitsandbytes (4bit: "
                               "QLoRA's NF4 with double quantisation and bf16 compute), CUDA only; needs lora.",
                               QUANTIZATIONS)
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass instead of keeping "
                                          "them (about a third more compute for much less activation memory).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quantization != "none" and not getattr(self, "lora", False):
            raise ConfigError(f"quantization {self.quantization} freezes the base weights in {self.quantization}: "
                              "train LoRA adapters on them (lora true), QLoRA")


@dataclass
class PromptOptions:
    """A decoder LLM asked for the label in words (common/llm.py): the prompt, the chat
    template and solved examples from the train split."""

    llm_format: str = option("head", "head: a classification head on the last real token (any model); "
                             "instruction: a causal LM prompted with prompt_template, trained on the answer's "
                             "tokens and scored by each label's answer log-likelihood.", LLM_FORMATS)
    prompt_template: str = option(DEFAULT_PROMPT, "instruction: the prompt; {text} is the example (its context "
                                  "column on the next line), {labels} the label names; the answer is ' <label>'.")
    chat_template: bool = option(False, "instruction: wrap the prompt in the tokenizer's chat template (a user "
                                 "turn, then the assistant's answer), for chat models.")
    few_shot: int = option(0, "instruction: solved examples from the train split (drawn with seed, every label in "
                           "turn) shown before each question.", at_least=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.llm_format != "instruction" and (self.few_shot or self.chat_template):
            raise ConfigError("few_shot and chat_template shape the prompt of llm_format instruction; set "
                              "llm_format instruction or leave them unset")
        if "{text}" not in self.prompt_template:
            raise ConfigError(f"prompt_template must hold {{text}}, where the example goes: {self.prompt_template!r}")
        try:
            self.prompt_template.format(text="", labels="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"prompt_template {self.prompt_template!r} is not a template of {{text}} and "
                              f"{{labels}} ({type(exc).__name__}: {exc}); write a literal brace as {{{{ or }}}}"
                              ) from None


ARCHITECTURES = ("pretrained", *SMALL_ARCHITECTURES)


@dataclass
class ScratchOptions:
    """The keys that train one of the small encoders from scratch instead of fine-tuning
    model_name_or_path, and choose its tokenizer."""

    architecture: str = option("pretrained", "'pretrained' fine-tunes model_name_or_path; 'mini_transformer' "
                               "and 'tiny_transformer' train a small encoder from scratch, with the tokenizer "
                               "of tokenizer_name_or_path (default: model_name_or_path) or one trained on the "
                               "train split (train_tokenizer).", ARCHITECTURES)
    tokenizer_name_or_path: Optional[str] = option(None, "Tokenizer to use; default: model_name_or_path.")
    train_tokenizer: bool = option(False, "Train a byte-level BPE tokenizer (the `tokenizers` library) on the "
                                   "train split's texts and train a small encoder on it: for scripts a "
                                   "pretrained vocabulary reads as unknown tokens. Needs a small architecture.")
    tokenizer_vocab_size: int = option(8000, "train_tokenizer: most tokens in the vocabulary.", at_least=300)
    tokenizer_min_frequency: int = option(2, "train_tokenizer: a pair of tokens is merged only when it occurs "
                                          "at least this often in the train split.", at_least=1)

    def __post_init__(self) -> None:
        super().__post_init__()  # the base config's checks (each key's domain) first
        check_scratch_options(self)


def check_scratch_options(cfg) -> None:
    """Scratch keys that each key allows alone but that together are meaningless."""
    if cfg.train_tokenizer and cfg.architecture not in SMALL_ARCHITECTURES:
        raise ConfigError("train_tokenizer trains a new vocabulary, which only a model trained from scratch can "
                          f"use: set architecture to one of {', '.join(SMALL_ARCHITECTURES)}")
    if cfg.train_tokenizer and cfg.tokenizer_name_or_path:
        raise ConfigError("choose one of train_tokenizer and tokenizer_name_or_path")
    if getattr(cfg, "attention_dropout", None) is not None and cfg.architecture in SMALL_ARCHITECTURES:
        raise ConfigError(f"attention_dropout: {cfg.architecture} has one dropout for its whole encoder (its torch "
                          "TransformerEncoderLayer's); leave attention_dropout unset")
    if getattr(cfg, "freeze_embeddings", False) and cfg.architecture in SMALL_ARCHITECTURES:
        raise ConfigError(f"freeze_embeddings keeps pretrained embeddings; {cfg.architecture} is trained from "
                          "scratch, so its embeddings would stay random: leave freeze_embeddings false")
