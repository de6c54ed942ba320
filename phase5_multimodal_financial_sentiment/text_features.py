"""Frozen text features, computed once and kept on disk by model and text.

With `freeze_text` the text encoder never changes, so what it makes of a text is the same
in every epoch, every seed and every fusion head: the run encodes each distinct text once
(the vector the model's head reads, `MultimodalClassifier.encode_text`), before training,
and the batches carry these vectors instead of token ids. On a CPU this is what makes
tens of thousands of multi-tweet texts affordable; on a GPU it is still an epoch of
encoder passes saved per epoch.

The store is one file per (text encoder, max_length) under
`<output_dir>/<phase>/.cache/text_features/`, keyed by a hash of the encoder's name, its
config and its weight files (name, size, modification time) so that another model, or the
same folder with new weights, never reads old vectors; inside it each text is found by
the hash of its text. A run adds what it computed and writes the file whole under a
temporary name, then renames it: an interrupted run leaves the old store, and two runs
writing at once lose at most the other's additions (computed again when next needed).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from tqdm.auto import tqdm

FEATURE_VERSION = 1  # part of every store key: a change to how features are computed must change it


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def encoder_key(name_or_path: str, config: dict, max_length: int) -> str:
    """A hash of what decides a text's vector: the encoder (its name, config and, for a local
    folder, its weight files' names, sizes and modification times), max_length, this module."""
    digest = hashlib.sha1(json.dumps({"model": name_or_path, "config": config, "max_length": max_length,
                                      "version": FEATURE_VERSION}, sort_keys=True, default=str).encode())
    folder = Path(name_or_path)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


class TextFeatureStore:
    """The vectors of texts under one encoder key; `features(texts, encode)` returns them in
    order, encoding (with `encode(list_of_texts) -> tensor`) only those not stored yet."""

    def __init__(self, root: Path, key: str):
        self.path = Path(root) / f"{key}.pt"
        self.vectors: dict[str, torch.Tensor] = {}
        if self.path.is_file():
            stored = torch.load(self.path, weights_only=True)
            self.vectors = dict(zip(stored["hashes"], stored["vectors"]))
        self.record = {"store": str(self.path), "reused": 0, "computed": 0, "seconds": 0.0}

    def features(self, texts: Sequence[str], encode: Optional[Callable[[list[str]], torch.Tensor]],
                 batch_size: int = 64, progress: bool = True) -> torch.Tensor:
        hashes = [text_hash(text) for text in texts]
        missing = {h: text for h, text in zip(hashes, texts) if h not in self.vectors}
        self.record["reused"] += len(set(hashes)) - len(missing)
        if missing:
            if encode is None:
                raise KeyError(f"{len(missing)} texts are not in {self.path} and no encoder was given")
            started = time.perf_counter()
            # Longest first, in batches of similar length: little padding, and memory peaks at once.
            order = sorted(missing, key=lambda h: len(missing[h]), reverse=True)
            for start in tqdm(range(0, len(order), batch_size), desc="encoding texts (frozen, once)",
                              disable=not progress, leave=False, dynamic_ncols=True):
                chunk = order[start:start + batch_size]
                vectors = encode([missing[h] for h in chunk]).float().cpu()
                self.vectors.update(zip(chunk, vectors))
            self.record["computed"] += len(missing)
            self.record["seconds"] = round(self.record["seconds"] + time.perf_counter() - started, 1)
            self.save()
        return torch.stack([self.vectors[h] for h in hashes]) if hashes else torch.zeros(0)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        hashes = list(self.vectors)
        torch.save({"hashes": hashes, "vectors": torch.stack([self.vectors[h] for h in hashes])}, temporary)
        os.replace(temporary, self.path)


def text_encoding(model, tokenizer, max_length: int, device: torch.device) -> Callable[[list[str]], torch.Tensor]:
    """`encode(texts)`: the vectors `model.encode_text` gives the texts, truncated at
    `max_length` as in training, with the encoder in eval mode and no gradient."""

    @torch.no_grad()
    def encode(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        model.text_encoder.eval()
        return model.encode_text(**{k: v.to(device) for k, v in batch.items()
                                    if k in ("input_ids", "attention_mask", "token_type_ids")})

    return encode
