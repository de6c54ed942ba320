"""Decoder LLMs (Llama, Qwen2/3, Mistral, Gemma 3, SmolLM) as text classifiers, two ways
(`llm_format`, common/model_options.py `PromptOptions`):

- `head`: `AutoModelForSequenceClassification`, a linear `score` head on the hidden state
  of the last real token (transformers finds it from `pad_token_id`, under left or right
  padding). A tokenizer without a pad token pads with its eos token (`add_pad_token`,
  recorded in metrics.json), and the model's config takes the run tokenizer's pad id
  (common/models.py `load_classifier`).
- `instruction`: the model stays a causal LM. Each example becomes a prompt
  (`prompt_template`, optionally in the tokenizer's chat template and after `few_shot`
  solved examples of the train split), training is the LM loss on the gold answer's tokens
  only, and prediction scores every label's answer by its log-likelihood under the prompt
  (no free-running generation): `AnswerScorer` returns those scores as the classifier's
  logits, so probabilities, every metric, interval and predictions.csv work as for a head.

The memory levers (weights' dtype, 8-bit and 4-bit loading: `loading_options`; gradient
checkpointing and k-bit preparation: `prepare_for_training`) apply to both ways, through
`load_causal_lm` here and common/models.py `build_classifier`; bitsandbytes quantisation
runs on CUDA only and is refused elsewhere before anything loads.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerBase
from transformers.modeling_outputs import SequenceClassifierOutput

from common.batching import EncodedDataset
from common.errors import ConfigError
from common.load_report import folded_load_report
from common.splits import Example

# Encoders that transformers can also load as causal LMs (with is_decoder): never decoders here.
ENCODERS_WITH_LM_HEADS = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie", "data2vec-text",
                          "bert-generation", "xlm-roberta-xl", "rembert", "roc_bert", "megatron-bert")


def is_decoder_model(name_or_path: str) -> bool:
    """Whether `name_or_path` is a decoder-only causal LM (Llama, Qwen2/3, Mistral, Gemma 3, ...):
    its config maps to a causal-LM class, and it is neither an encoder-decoder nor an encoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return False
    return (config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(config, "is_encoder_decoder", False)
            and config.model_type not in ENCODERS_WITH_LM_HEADS)


def add_pad_token(tokenizer: PreTrainedTokenizerBase) -> Optional[str]:
    """Give a tokenizer without a pad token its eos token as one (decoder LLMs ship none);
    return what was done, for the record, or None when it had one."""
    if tokenizer.pad_token is not None:
        return None
    if tokenizer.eos_token is None:
        raise ConfigError(f"the tokenizer of {tokenizer.name_or_path} has neither a pad nor an eos token: batches "
                          "cannot be padded")
    tokenizer.pad_token = tokenizer.eos_token
    return f"the tokenizer has no pad token: its eos token {tokenizer.eos_token!r} pads"


def torch_dtype(name: str) -> Optional[torch.dtype]:
    """The weights' dtype of `model_dtype` (None: the checkpoint's own, transformers' "auto")."""
    return {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def quantization_config(cfg):
    """bitsandbytes' config for `quantization` 8bit or 4bit (QLoRA: NF4, double quantisation,
    bf16 compute), None for none; an error off CUDA or without bitsandbytes."""
    if cfg.quantization == "none":
        return None
    if cfg.device.startswith("cpu") or not torch.cuda.is_available():
        where = "--device cpu" if cfg.device.startswith("cpu") else "this machine has no CUDA GPU"
        raise ConfigError(f"quantization {cfg.quantization} loads the weights through bitsandbytes, which runs on "
                          f"CUDA GPUs only ({where}); use quantization none, and model_dtype bfloat16 to halve "
                          "the weights' memory")
    try:
        import bitsandbytes  # noqa: F401  (transformers needs it installed; checked here for a clear error)
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise ConfigError(f"quantization {cfg.quantization} needs bitsandbytes: pip install bitsandbytes") from None
    if cfg.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def loading_options(cfg) -> dict:
    """`from_pretrained` keyword arguments of the memory keys (none for a config without them)."""
    options = {}
    dtype = torch_dtype(getattr(cfg, "model_dtype", "auto"))
    if dtype is not None:
        options["dtype"] = dtype
    quantization = quantization_config(cfg) if getattr(cfg, "quantization", "none") != "none" else None
    if quantization is not None:  # bitsandbytes places the weights itself: on this process's GPU
        options.update(quantization_config=quantization, device_map={"": torch.cuda.current_device()})
    return options


def prepare_for_training(model: nn.Module, cfg) -> nn.Module:
    """Gradient checkpointing (activations recomputed in backward) and, for a quantised
    model, peft's preparation for k-bit training (norms in fp32, inputs that need grads)."""
    if getattr(cfg, "quantization", "none") != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif getattr(cfg, "gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False  # a cache of keys and values is for generation; training recomputes them
        if getattr(cfg, "lora", False):  # frozen embeddings: the checkpointed blocks need inputs with grads
            model.enable_input_require_grads()
    return model


# --- instruction mode -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptFormat:
    """How an example becomes a prompt and a label an answer."""

    template: str  # holds {text} and may hold {labels}; an example's pair (a context column) follows the text
    label_names: tuple[str, ...]
    chat: bool = False  # wrap the prompt in the tokenizer's chat template (a user turn, then the assistant's)
    demonstrations: tuple[Example, ...] = ()  # solved examples shown before the question (k-shot)

    def question(self, text: str) -> str:
        return self.template.format(text=text, labels=", ".join(self.label_names))

    def answer(self, label: int) -> str:
        return f" {self.label_names[label]}"

    def prompt(self, text: str, tokenizer: PreTrainedTokenizerBase) -> str:
        shots = "".join(f"{self.question(join_pair(e))}{self.answer(e.label)}\n\n" for e in self.demonstrations)
        body = shots + self.question(text)
        if not self.chat:
            return body
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"chat_template true, but the tokenizer of {tokenizer.name_or_path} has no chat "
                              "template; set chat_template false")
        return tokenizer.apply_chat_template([{"role": "user", "content": body}], tokenize=False,
                                             add_generation_prompt=True)


def join_pair(example: Example) -> str:
    return f"{example.text}\n{example.pair}" if example.pair else example.text


def draw_demonstrations(train: Sequence[Example], shots: int, seed: int) -> tuple[Example, ...]:
    """`shots` solved examples from the train split (never validation or test), drawn with
    `seed` round-robin over the labels (so 5-shot on 3 labels shows every label), shuffled."""
    if shots == 0:
        return ()
    if shots > len(train):
        raise ConfigError(f"few_shot {shots}: the train split has only {len(train)} examples")
    rng = random.Random(seed)
    by_label: dict[int, list[Example]] = defaultdict(list)
    for example in train:
        by_label[example.label].append(example)
    pools = [rng.sample(members, len(members)) for _, members in sorted(by_label.items())]
    drawn = []
    while len(drawn) < shots:
        for pool in pools:
            if pool and len(drawn) < shots:
                drawn.append(pool.pop())
    rng.shuffle(drawn)
    return tuple(drawn)


def encode_prompts(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], prompt: PromptFormat,
                   max_length: int) -> tuple[EncodedDataset, int]:
    """The prompts' token ids (the answer is added by `AnswerScorer`) and how many texts were
    cut: a text is shortened, never the instruction or its "Answer:", so that every prompt
    ends where an answer starts. `max_length` bounds the prompt and the longest answer."""
    budget, answer_room = text_budget(tokenizer, prompt, max_length)
    limit, rows, cut = max_length - answer_room, [], 0
    for example in examples:
        text = join_pair(example)
        ids = tokenizer(prompt.prompt(text, tokenizer))["input_ids"]
        if len(ids) > limit:
            cut += 1
            text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            keep = min(budget, len(text_ids))
            while True:  # a cut text tokenized again inside the prompt may take a token more: cut further
                ids = tokenizer(prompt.prompt(tokenizer.decode(text_ids[:keep]), tokenizer))["input_ids"]
                if len(ids) <= limit or keep == 0:
                    break
                keep = max(0, keep - (len(ids) - limit))
        rows.append(ids)
    return EncodedDataset({"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows]},
                          [e.label for e in examples]), cut


MIN_TEXT_TOKENS = 8  # a prompt that leaves fewer for the text asks about almost nothing


def text_budget(tokenizer: PreTrainedTokenizerBase, prompt: PromptFormat, max_length: int) -> tuple[int, int]:
    """(tokens left for an example's text, tokens of the longest answer) within `max_length`;
    an error where the prompt and answer leave too little."""
    answer_room = max(len(ids) for ids in answer_ids(tokenizer, prompt))
    empty = len(tokenizer(prompt.prompt("", tokenizer))["input_ids"])
    budget = max_length - answer_room - empty
    if budget < MIN_TEXT_TOKENS:
        raise ConfigError(f"max_length {max_length} leaves {budget} tokens for the text after the prompt ({empty} "
                          f"tokens with {len(prompt.demonstrations)} demonstration(s)) and the answer ({answer_room}); "
                          "raise max_length or shorten prompt_template / few_shot")
    return budget, answer_room


def check_prompting(cfg, tokenizer: PreTrainedTokenizerBase, splits) -> None:
    """Before a run directory exists: the model is a decoder, the labels make distinct
    answers and the prompt leaves room for the text."""
    check_decoder(cfg.model_name_or_path)
    text_budget(tokenizer, prompt_format(cfg, splits.label_names, splits.train), cfg.max_length)


def answer_ids(tokenizer: PreTrainedTokenizerBase, prompt: PromptFormat) -> list[list[int]]:
    """Each label's answer as tokens (encoded apart from the prompt, as it is scored)."""
    answers = [tokenizer(prompt.answer(i), add_special_tokens=False)["input_ids"]
               for i in range(len(prompt.label_names))]
    if any(not ids for ids in answers) or len({tuple(ids) for ids in answers}) < len(answers):
        raise ConfigError(f"the labels {list(prompt.label_names)} do not tokenize into distinct non-empty answers")
    return answers


class AnswerScorer(nn.Module):
    """A causal LM as a classifier: the logit of a label is the log-likelihood of its answer's
    tokens after the prompt, sum over the tokens. `answer_loss` is the LM loss of the gold
    answers' tokens (the prompt's tokens are never scored).

    Where every answer is one token (" positive", " negative"), one pass over the prompts
    scores them all; otherwise each (prompt, answer) pair is one sequence of a batch of
    batch x labels. Both give the same numbers (a test checks them against a sum by hand)."""

    def __init__(self, model: nn.Module, answers: Sequence[Sequence[int]], pad_token_id: int):
        super().__init__()
        self.model = model
        self.answers = [list(ids) for ids in answers]
        self.answer_lengths = torch.tensor([len(ids) for ids in answers], dtype=torch.float32)
        self.pad_token_id = pad_token_id
        self.config = model.config  # what the run records and the cards read

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> SequenceClassifierOutput:
        prompts = [row[mask.bool()].tolist() for row, mask in zip(input_ids, attention_mask)]  # either padding side
        if all(len(ids) == 1 for ids in self.answers):
            return SequenceClassifierOutput(logits=self.score_single_tokens(prompts, input_ids.device))
        return SequenceClassifierOutput(logits=self.score_sequences(prompts, input_ids.device))

    def padded(self, rows: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row) for row in rows)
        ids = torch.tensor([row + [self.pad_token_id] * (width - len(row)) for row in rows], device=device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
        return ids, mask

    def score_single_tokens(self, prompts: list[list[int]], device: torch.device) -> torch.Tensor:
        ids, mask = self.padded(prompts, device)  # right padding: the last real token is at length - 1
        logits = self.model(input_ids=ids, attention_mask=mask).logits
        last = torch.tensor([len(p) - 1 for p in prompts], device=device)
        next_token = logits[torch.arange(len(prompts), device=device), last].float().log_softmax(-1)
        return next_token[:, [ids_[0] for ids_ in self.answers]]

    def score_sequences(self, prompts: list[list[int]], device: torch.device) -> torch.Tensor:
        rows = [prompt + answer for prompt in prompts for answer in self.answers]
        ids, mask = self.padded(rows, device)
        log_probs = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)
        token_scores = log_probs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # position t scores token t + 1
        answer_mask = torch.zeros_like(token_scores)
        for row, (prompt, answer) in enumerate((p, a) for p in prompts for a in self.answers):
            answer_mask[row, len(prompt) - 1:len(prompt) - 1 + len(answer)] = 1
        return (token_scores * answer_mask).sum(-1).view(len(prompts), len(self.answers))

    def answer_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per gold answer token (the LM loss on answers only)."""
        gold = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
        return -gold.sum() / self.answer_lengths.to(logits.device)[labels].sum()

    def save_pretrained(self, directory, **kwargs) -> None:
        """The causal LM (or its LoRA adapter) as a Hugging Face folder: `pipeline("text-generation")`
        serves it, and `build_answer_scorer` makes a classifier of it again."""
        self.model.save_pretrained(directory, **kwargs)

    def merge_and_unload(self) -> "AnswerScorer":
        """The same scorer over the causal LM with its LoRA adapters merged into the weights."""
        return AnswerScorer(self.model.merge_and_unload(), self.answers, self.pad_token_id)


def prompt_format(cfg, label_names: Sequence[str], train: Sequence[Example] = ()) -> PromptFormat:
    """The run's prompt: its template, chat template and `few_shot` demonstrations from `train`."""
    return PromptFormat(cfg.prompt_template, tuple(label_names), cfg.chat_template,
                        draw_demonstrations(train, cfg.few_shot, cfg.seed))


def check_decoder(name_or_path: str) -> None:
    if not is_decoder_model(name_or_path):
        raise ConfigError(f"llm_format instruction scores answers with a decoder LLM's next-token probabilities; "
                          f"{name_or_path} is not a decoder-only causal LM (use llm_format head for encoders)")


def build_answer_scorer(cfg, tokenizer: PreTrainedTokenizerBase, label_names: Sequence[str],
                        checkpoint=None) -> AnswerScorer:
    """The classifier of instruction mode: the causal LM of `cfg` (with LoRA adapters on it if
    `cfg.lora`, and no head: the answers are its own tokens), or one restored from
    `checkpoint` (a whole model, or an adapter over the base)."""
    from common.lora import apply_lora, is_adapter_checkpoint, load_lora

    check_decoder(cfg.model_name_or_path)
    if checkpoint is not None and is_adapter_checkpoint(checkpoint):
        model = load_lora(load_causal_lm(cfg), checkpoint, trainable=True)
    elif checkpoint is not None:
        model = load_causal_lm(cfg, str(checkpoint))
    else:
        model = load_causal_lm(cfg)
        if getattr(cfg, "lora", False):
            model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules,
                               modules_to_save=[])
    answers = answer_ids(tokenizer, PromptFormat(cfg.prompt_template, tuple(label_names)))
    return AnswerScorer(model, answers, tokenizer.pad_token_id)


def prompt_loader_factory(tokenizer: PreTrainedTokenizerBase, prompt: PromptFormat, cfg, cut: list):
    """`make_loader(examples)` for the Evaluator: the examples' prompts in evaluation batches;
    each call appends to `cut` how many of its texts were shortened to fit max_length."""
    from common.batching import make_eval_loader

    def make(examples):
        dataset, shortened = encode_prompts(tokenizer, examples, prompt, cfg.max_length)
        cut.append(shortened)
        return make_eval_loader(dataset, tokenizer, cfg.eval_batch_size, cfg.num_workers)

    return make


def describe_prompt(prompt: PromptFormat, tokenizer: PreTrainedTokenizerBase, cut: list) -> dict:
    """What metrics.json records of instruction mode: the prompt as the model sees it (for an
    example text), the answers' tokens, the demonstrations and the texts shortened."""
    return {"template": prompt.template, "chat_template": prompt.chat, "few_shot": len(prompt.demonstrations),
            "demonstrations": [{"text": join_pair(e), "label": prompt.label_names[e.label]}
                               for e in prompt.demonstrations],
            "example_prompt": prompt.prompt("<text>", tokenizer),
            "answers": {name: tokenizer.convert_ids_to_tokens(ids)
                        for name, ids in zip(prompt.label_names, answer_ids(tokenizer, prompt))},
            "texts_shortened": sum(cut)}


def load_causal_lm(cfg, name_or_path: Optional[str] = None) -> nn.Module:
    """The causal LM of `name_or_path` (default `cfg.model_name_or_path`) with the memory keys applied."""
    from common.models import load_error

    source = name_or_path or cfg.model_name_or_path
    try:
        with folded_load_report():
            model = AutoModelForCausalLM.from_pretrained(source, **loading_options(cfg))
    except (OSError, ValueError) as exc:
        raise load_error(source, exc) from None
    return prepare_for_training(model, cfg)

