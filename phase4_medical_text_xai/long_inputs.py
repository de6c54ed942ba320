"""Long abstracts: which of their tokens the model reads, in training, evaluation and `explain`.

Three strategies (`long_inputs`), for texts longer than `max_length` tokens:

- head (the default): the first max_length tokens; the rest is cut.
- head_tail: the first `head_tokens` and the last (max_length - head_tokens - special
  tokens); the middle is cut. Sun et al. (2019) found head 128 + tail 382 the best way to
  fit long reviews into BERT's 512 tokens.
- chunks: windows of max_length tokens, consecutive windows sharing `chunk_stride`
  tokens, at most `max_chunks` of them (a longer text loses its end). The classifier
  scores each window, and the text's logits are the windows' mean or maximum
  (`chunk_pooling`): training backpropagates through the pooled logits, so a text counts
  once in the loss however many windows it has.

A text is read as a `Document`: its tokens (tokenized once, without special tokens, with
their character offsets in the text) and its windows, each a list of indices into those
tokens. Training and evaluation batch documents (`WindowedDataset`, `collate_windows`,
`WindowPooledClassifier`); `explain` explains each window and maps the scores back onto
the document's tokens, so they shade the original text. Their config keys
(`LongInputOptions`) are in phase4_medical_text_xai/config.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.modeling_outputs import SequenceClassifierOutput

from common.errors import ConfigError

def content_budget(tokenizer, max_length: int) -> int:
    """Tokens of text one window holds: max_length less the special tokens around it."""
    prefix, suffix = special_frame(tokenizer)
    return max_length - len(prefix) - len(suffix)


def check_long_inputs(cfg, tokenizer) -> None:
    budget = content_budget(tokenizer, cfg.max_length)
    if cfg.long_inputs != "head" and cfg.context_columns and cfg.context_mode == "pair":
        raise ConfigError(f"long_inputs {cfg.long_inputs} cuts single texts; context_mode pair is read with "
                          "long_inputs head only")
    if cfg.long_inputs == "head_tail" and not 0 < cfg.head_tokens < budget:
        raise ConfigError(f"head_tokens {cfg.head_tokens} must leave room for a tail: a window of max_length "
                          f"{cfg.max_length} holds {budget} tokens of text")
    if cfg.long_inputs == "chunks" and cfg.chunk_stride >= budget:
        raise ConfigError(f"chunk_stride {cfg.chunk_stride} must be below the {budget} text tokens of a window "
                          f"(max_length {cfg.max_length}), or the windows would not advance")


@dataclass(frozen=True)
class Document:
    ids: list[int]  # every token of the text, without special tokens
    offsets: list[tuple[int, int]]  # each token's characters in the text
    windows: list[list[int]]  # the indices (into ids) each window reads, in order

    @property
    def cut(self) -> int:
        """Tokens of the text that no window reads."""
        return len(self.ids) - len({i for window in self.windows for i in window})


def window_spans(n: int, budget: int, strategy: str, head_tokens: int = 128, stride: int = 64,
                 max_chunks: int = 8) -> list[list[int]]:
    """The token indices each window of an n-token text reads (see the module docstring)."""
    if n <= budget or strategy == "head":
        return [list(range(min(n, budget)))]
    if strategy == "head_tail":
        return [list(range(head_tokens)) + list(range(n - (budget - head_tokens), n))]
    starts = [0]
    while starts[-1] + budget < n and len(starts) < max_chunks:
        starts.append(starts[-1] + budget - stride)
    return [list(range(start, min(start + budget, n))) for start in starts]


def read_documents(tokenizer, texts: Sequence[str], cfg) -> list[Document]:
    """Each text tokenized once (no special tokens, no truncation) and cut into windows as
    `cfg.long_inputs` says."""
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                        verbose=False)
    budget = content_budget(tokenizer, cfg.max_length)
    return [Document(ids, [tuple(o) for o in offsets],
                     window_spans(len(ids), budget, cfg.long_inputs, cfg.head_tokens, cfg.chunk_stride,
                                  cfg.max_chunks))
            for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"])]


def special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one text ([CLS] ... [SEP],
    <s> ... </s>), read off its own encoding of a one-word text (transformers 5's
    tokenizers no longer expose `build_inputs_with_special_tokens`)."""
    content = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(content) + 1):
        if full[start:start + len(content)] == content:
            return full[:start], full[start + len(content):]
    raise RuntimeError(f"{type(tokenizer).__name__}: the text's tokens are not in its own encoding of it")


def window_input_ids(frame: tuple[list[int], list[int]], document: Document,
                     window: Sequence[int]) -> tuple[list[int], list[int]]:
    """A window's model input (its tokens between the special tokens of `frame`, the
    tokenizer's `special_frame`) and, for each input position, the document token it holds
    (-1 for a special token)."""
    prefix, suffix = frame
    ids = prefix + [document.ids[i] for i in window] + suffix
    return ids, [-1] * len(prefix) + list(window) + [-1] * len(suffix)


class WindowedDataset(Dataset):
    """Documents with their labels; an item is a text's windows (model inputs) and label.
    `lengths` (tokens read per text) lets the length-grouped sampler batch similar texts."""

    def __init__(self, tokenizer, documents: Sequence[Document], labels: Sequence[int]):
        frame = special_frame(tokenizer)
        self.windows = [[window_input_ids(frame, d, w)[0] for w in d.windows] for d in documents]
        self.labels = list(labels)
        self.lengths = [sum(len(w) for w in windows) for windows in self.windows]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"windows": self.windows[index], "labels": self.labels[index]}


def encode_documents(tokenizer, examples: Sequence, cfg) -> WindowedDataset:
    return WindowedDataset(tokenizer, read_documents(tokenizer, [e.text for e in examples], cfg),
                           [e.label for e in examples])


def collate_windows(tokenizer):
    """A collate function: every window of the batch's texts as one padded batch, with
    `window_document` (which text of the batch each window belongs to) and the number of
    texts; one label per text."""
    with_types = "token_type_ids" in tokenizer.model_input_names

    def collate(items: list[dict]) -> dict:
        rows = [ids for item in items for ids in item["windows"]]
        batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
        if with_types:
            batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        batch = dict(batch)
        batch["window_document"] = torch.tensor([d for d, item in enumerate(items) for _ in item["windows"]])
        batch["documents"] = len(items)  # a plain int: no device sync to count the texts
        batch["labels"] = torch.tensor([item["labels"] for item in items])
        return batch

    return collate


def pool_logits(logits: torch.Tensor, window_document: torch.Tensor, documents: int, pooling: str) -> torch.Tensor:
    """Each text's logits from its windows': their mean or element-wise maximum."""
    index = window_document.to(logits.device)
    if pooling == "mean":
        sums = logits.new_zeros(documents, logits.shape[-1]).index_add_(0, index, logits)
        counts = torch.bincount(index, minlength=documents).clamp(min=1).to(logits.dtype)
        return sums / counts[:, None]
    return logits.new_full((documents, logits.shape[-1]), float("-inf")).scatter_reduce(
        0, index[:, None].expand_as(logits), logits, reduce="amax", include_self=False)


def pooling_weights(window_logits: torch.Tensor, target: int, pooling: str) -> torch.Tensor:
    """How much each window's `target` logit counts in the text's: 1/C each under mean
    pooling; under max pooling, 1 for the window that holds the maximum and 0 elsewhere."""
    count = window_logits.shape[0]
    if pooling == "mean":
        return torch.full((count,), 1.0 / count)
    weights = torch.zeros(count)
    weights[int(window_logits[:, target].argmax())] = 1.0
    return weights


class WindowPooledClassifier(nn.Module):
    """A sequence classifier that scores windows and returns each text's pooled logits.
    It saves as the classifier itself: a checkpoint is a plain Hugging Face model, and
    reading it with chunks again is the run's config (long_inputs), not the weights'."""

    def __init__(self, classifier: nn.Module, pooling: str):
        super().__init__()
        self.classifier, self.pooling = classifier, pooling

    @property
    def config(self):
        return self.classifier.config

    def save_pretrained(self, directory, **kwargs) -> None:
        self.classifier.save_pretrained(directory, **kwargs)

    def forward(self, window_document: torch.Tensor, documents: int, **inputs) -> SequenceClassifierOutput:
        logits = self.classifier(**inputs).logits
        return SequenceClassifierOutput(logits=pool_logits(logits, window_document, documents, self.pooling))


def describe_long_inputs(tokenizer, splits, cfg, names: Sequence[str]) -> dict:
    """What metrics.json records: the strategy and, per split, the share of texts that lose
    tokens, the share of their tokens lost, and the mean windows per text."""
    record: dict = {"strategy": cfg.long_inputs}
    if cfg.long_inputs == "head_tail":
        record["head_tokens"] = cfg.head_tokens
    if cfg.long_inputs == "chunks":
        record.update(chunk_stride=cfg.chunk_stride, max_chunks=cfg.max_chunks, chunk_pooling=cfg.chunk_pooling)
    for name in names:
        documents = read_documents(tokenizer, [e.text for e in splits.split(name)], cfg)
        tokens = sum(len(d.ids) for d in documents)
        record[name] = {"texts_cut": round(sum(d.cut > 0 for d in documents) / max(len(documents), 1), 4),
                        "tokens_lost": round(sum(d.cut for d in documents) / max(tokens, 1), 4),
                        "windows_per_text": round(sum(len(d.windows) for d in documents) / max(len(documents), 1), 3)}
    return record
