"""Tokenized text datasets, dynamic padding and length-grouped batches.

Examples are tokenized once, without padding; each batch is padded only to its own
longest example. For training, batches are grouped by length (the HF Trainer's
`LengthGroupedSampler`), which removes most padding on short-sentence data sets.

Under torch.distributed (common/distributed.py) the order is drawn for the global batch
(per-device batch x world size) from (seed, epoch) alone, and each rank takes its slice
of every global batch: a seed and a world size fix the global batches, and they are the
batches one process would see with the global batch size. Evaluation examples are dealt
out to the ranks in turn, and `training_steps.predict` gathers them back, each once, in order.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import LengthGroupedSampler

from common.distributed import world
from common.seeding import epoch_generator


class EncodedDataset(Dataset):
    """A list of tokenized examples (dicts of int lists) with their labels."""

    def __init__(self, encodings: dict[str, list], labels: Sequence[int]):
        self.encodings = encodings
        self.labels = list(labels)
        self.lengths = [len(ids) for ids in encodings["input_ids"]]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], labels: Sequence[int],
                 max_length: int, text_pairs: Sequence[str] | None = None) -> EncodedDataset:
    encodings = tokenizer(list(texts), list(text_pairs) if text_pairs is not None else None,
                          truncation=True, max_length=max_length)
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encodings]
    return EncodedDataset({k: encodings[k] for k in keep}, labels)


def token_counts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                 text_pairs: Sequence[str | None] | None) -> list[tuple[int, int]]:
    """(tokens, unknown tokens) of each text with its pair, untruncated, special tokens included."""
    if not texts:
        return []
    pairs = [pair or "" for pair in text_pairs] if text_pairs is not None and any(text_pairs) else None
    unknown = tokenizer.unk_token_id
    ids = tokenizer(list(texts), pairs, truncation=False, verbose=False)["input_ids"]
    return [(len(row), row.count(unknown) if unknown is not None else 0) for row in ids]


def summarize_counts(counts: Sequence[tuple[int, int]], max_length: int) -> dict:
    """How the tokenizer reads some texts, from their `token_counts`: their number, the
    share cut at `max_length`, the share of tokens that are the unknown token (a vocabulary
    that cannot read the language), and the mean tokens per example."""
    if not counts:
        return {"n": 0, "truncated": 0.0, "unknown_token_rate": 0.0, "mean_tokens": 0.0}
    tokens = sum(length for length, _ in counts)
    return {"n": len(counts), "truncated": round(sum(length > max_length for length, _ in counts) / len(counts), 4),
            "unknown_token_rate": round(sum(unknown for _, unknown in counts) / max(tokens, 1), 4),
            "mean_tokens": round(tokens / len(counts), 2)}


def token_statistics(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                     text_pairs: Sequence[str | None] | None, max_length: int) -> dict:
    """`summarize_counts` of `texts` (with their pairs)."""
    return summarize_counts(token_counts(tokenizer, texts, text_pairs), max_length)


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped order whose randomness depends only on (seed, epoch), so that an
    interrupted and resumed run sees the same batches as an uninterrupted one."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        super().__init__(batch_size=batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = epoch_generator(self.seed, self.epoch)
        return super().__iter__()


class EpochRandomSampler(torch.utils.data.Sampler):
    """Uniform shuffle per epoch, seeded by (seed, epoch) like the sampler above."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch)).tolist())


class ShardedBatchSampler(torch.utils.data.Sampler):
    """This rank's batches: `sampler`'s order cut into global batches of `batch_size` x
    world size, of which rank r takes the r-th slice of `batch_size` examples.

    A last global batch that does not split evenly is filled up with the epoch's first
    examples (at most world size - 1 of them, as torch's DistributedSampler does), so that
    every rank runs the same number of equal-size steps: the mean of the ranks' mean losses
    is then the global batch's mean. In one process this is plain batching."""

    def __init__(self, sampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size
        current = world()
        self.rank, self.world_size = current.rank, current.size

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / (self.batch_size * self.world_size))

    def __iter__(self):
        order = list(self.sampler)
        step = self.batch_size * self.world_size
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            chunk += order[:(-len(chunk)) % self.world_size]
            share = len(chunk) // self.world_size
            yield chunk[self.rank * share:(self.rank + 1) * share]


def make_train_loader(dataset: EncodedDataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                      seed: int, group_by_length: bool = True, num_workers: int = 0,
                      collate_fn: Optional[Callable] = None) -> DataLoader:
    """Training batches of `batch_size` examples per device, in an order fixed by (seed, epoch),
    padded by `collate_fn` (default: the tokenizer's padding, one label per example)."""
    global_batch = batch_size * world().size  # length groups are made for the global batch
    sampler = (EpochLengthGroupedSampler(dataset.lengths, global_batch, seed) if group_by_length
               else EpochRandomSampler(len(dataset), seed))
    return DataLoader(dataset, batch_sampler=ShardedBatchSampler(sampler, batch_size), num_workers=num_workers,
                      collate_fn=collate_fn or DataCollatorWithPadding(tokenizer, return_tensors="pt"))


class ShardedEvalSampler(torch.utils.data.Sampler):
    """This rank's evaluation examples: every world-size-th of `order`, from the rank's own
    offset, so every example is evaluated once and the ranks get equal shares of long and
    short ones. No padding: `training_steps.predict` gathers the shares by their indices."""

    def __init__(self, order: Sequence[int]):
        current = world()
        self.order = list(order)[current.rank::current.size]

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


class LengthSortedSampler(ShardedEvalSampler):
    """Evaluation order from longest to shortest: batches of near-equal length, so almost
    no padding. `training_steps.predict` puts the outputs back into dataset order."""

    def __init__(self, lengths: list[int]):
        super().__init__(sorted(range(len(lengths)), key=lambda i: -lengths[i]))


def make_eval_loader(dataset: EncodedDataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                     num_workers: int = 0, collate_fn: Optional[Callable] = None) -> DataLoader:
    # A private generator: starting a loader's iterator draws a seed from its generator, and
    # with the global one, which evaluations ran (e.g. the test split or not) would move the
    # dropout masks of all later training.
    return DataLoader(dataset, batch_size=batch_size, sampler=LengthSortedSampler(dataset.lengths),
                      num_workers=num_workers,
                      collate_fn=collate_fn or DataCollatorWithPadding(tokenizer, return_tensors="pt"),
                      generator=torch.Generator())
