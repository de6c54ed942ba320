"""Phase 5 data: a manifest of (text, image, label) rows, validated before anything trains.

A manifest is a CSV (header line) or JSONL file with the columns `text`, `image` (a path
relative to the manifest's folder) and `label`, and optionally `split`
(train/validation/test; without it the rows are split 80/10/10, stratified and seeded)
plus any columns of its own (e.g. a group for per-group metrics; `returns`, the builders'
last daily returns, is read for the price baselines). A `build.json` beside the manifest
(a builder's record) is noted in the run's data record. Every row is checked
up front: a missing or unreadable image (each is decoded once, whole), an image path that
leaves the manifest's folder, an unknown label or an empty split is an error naming the row.

Images are decoded, resized and centre-cropped to `image_size`, and normalised with the
statistics of the image encoder's pretrained weights (ImageNet's, also used when training
from scratch). Nothing random happens before normalisation, so a training run decodes,
resizes and crops each image once and keeps it (uint8, 3 x image_size² bytes) for every
epoch (`cache_images`); without the cache an image is decoded each time a batch needs it
(`num_workers` decode in parallel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from common.batching import EpochRandomSampler, ShardedBatchSampler, ShardedEvalSampler
from common.errors import ConfigError, DataError
from common.records import read_json
from common.splits import Splits, check_labels_trained, split_stratified
from common.text_data import SPLIT_ALIASES, SPLITS, read_table, require_cell
from phase5_multimodal_financial_sentiment.config import MAX_IMAGE_PIXELS

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class ImageTextExample:
    text: str
    image: Path  # absolute
    label: int
    group: Optional[str] = None
    cluster: Optional[str] = None  # rows that move together (a trading day): test intervals resample these
    shared_key: Optional[str] = None  # the values of `leak_columns` (e.g. ticker and date), where given
    returns: Optional[tuple[float, ...]] = None  # the manifest's `returns` (the last daily returns), where given


def example_key(example: ImageTextExample) -> str:
    """What makes two rows the same input, for the leak check: the same text with the same
    image file (charts of one template share their text, not their image)."""
    return f"{example.text}\n{example.image}"


def manifest_columns(examples: Sequence[ImageTextExample]) -> dict[str, list]:
    """An example's columns of predictions.csv: its text, its image, and its group and cluster where there are any."""
    columns = {"text": [e.text for e in examples], "image": [str(e.image) for e in examples]}
    if any(e.cluster for e in examples):  # what common.compare --cluster_column cluster resamples
        columns["cluster"] = [e.cluster for e in examples]
    if any(e.group for e in examples):
        columns["group"] = [e.group for e in examples]
    return columns


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # greyscale of 16 (or 32) bits per pixel


def check_image_size(image: Image.Image, path: Path, max_pixels: int) -> None:
    """Refuse an image larger than `max_pixels` from its header alone, before its pixels are decoded."""
    width, height = image.size
    if width * height > max_pixels:
        raise DataError(f"image {path} is {width} x {height} = {width * height:,} pixels, more than "
                        f"max_image_pixels ({max_pixels:,}); shrink it, or raise --max_image_pixels if it is meant")


def to_rgb(image: Image.Image, path: Path) -> Image.Image:
    """The image as 8-bit RGB with its range kept: 16-bit greyscale is scaled from 0-65535 (PIL's
    own conversion would clip it to white); a mode with no fixed range (32-bit float) is refused."""
    if image.mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(image, dtype=np.int64)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise DataError(f"image {path}: mode {image.mode} with values from {pixels.min()} to {pixels.max()}, "
                            "outside the 16-bit range 0-65535; save it as 8- or 16-bit PNG")
        return Image.fromarray((pixels * 255 / 65535).round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "F":
        raise DataError(f"image {path}: mode F (32-bit float pixels) has no fixed range to map to 0-255; "
                        "save it as an 8- or 16-bit PNG")
    return image.convert("RGB")


def resolve_image(root: Path, value: str, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Path:
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"{where}: image path {value!r} leaves the manifest's folder {root}")
    if not path.is_file():
        raise DataError(f"{where}: image file {path} does not exist")
    try:
        with Image.open(path) as image:
            check_image_size(image, path, max_pixels)
            image.verify()  # the headers and checksums
        with Image.open(path) as image:
            image.load()  # the whole pixel stream: a corrupt one fails here, not in the middle of training
            to_rgb(image, path)  # a mode that cannot become RGB is refused here too
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: image {path} cannot be read ({type(exc).__name__}: {exc})") from None
    return path


def read_manifest(path: Path, label_names: Sequence[str], group_column: Optional[str] = None,
                  with_labels: bool = True, max_pixels: int = MAX_IMAGE_PIXELS, cluster_column: Optional[str] = None,
                  leak_columns: Sequence[str] = ()) -> tuple[list[ImageTextExample], list[Optional[str]]]:
    """The manifest's examples and each row's split name (None where it has no split column).
    Without `with_labels` (prediction on new data) a label column is optional. Every image is
    checked here (readable, at most `max_pixels`, a mode that becomes RGB). `group_column` and
    `cluster_column` name the columns of the rows' groups and clusters, `leak_columns` those
    whose values together must not straddle splits, when given."""
    path = Path(path)
    rows = read_table(path)
    root = path.parent.resolve()
    label_ids = {name: i for i, name in enumerate(label_names)}
    examples, splits = [], []
    for number, row in enumerate(rows, start=1):
        where = f"{path}, row {number}"
        text = str(require_cell(row, "text", where)).strip()
        image = resolve_image(root, str(require_cell(row, "image", where)).strip(), where, max_pixels)
        label = -1
        if with_labels or row.get("label") not in (None, ""):
            name = str(require_cell(row, "label", where)).strip()
            if name not in label_ids:
                raise DataError(f"{where}: unknown label {name!r} (known: {', '.join(label_names)})")
            label = label_ids[name]
        group = str(require_cell(row, group_column, where)).strip() if group_column else None
        cluster = str(require_cell(row, cluster_column, where)).strip() if cluster_column else None
        shared = "\t".join(str(require_cell(row, c, where)).strip() for c in leak_columns) if leak_columns else None
        split = None
        if "split" in row:
            split = SPLIT_ALIASES.get(str(row["split"]).strip().lower())
            if split is None:
                raise DataError(f"{where}: unknown split {row['split']!r} (expected train, validation/val/dev or test)")
        returns = parse_returns(row["returns"], where) if row.get("returns") not in (None, "") else None
        examples.append(ImageTextExample(text, image, label, group, cluster, shared, returns))
        splits.append(split)
    return examples, splits


def parse_returns(value, where: str) -> tuple[float, ...]:
    """A `returns` cell: daily returns separated by spaces, oldest first (the builders' column)."""
    try:
        returns = tuple(float(part) for part in str(value).split())
    except ValueError:
        raise DataError(f"{where}: returns {value!r} are not numbers separated by spaces") from None
    if not all(np.isfinite(returns)):
        raise DataError(f"{where}: returns {value!r} hold a value that is not finite")
    return returns


def read_build(manifest: Path) -> Optional[dict]:
    """What a builder (build_stocknet.py, build_stockemotions.py) recorded of the manifest:
    its `build.json` settings, without the counts; None for a manifest no builder wrote."""
    path = manifest.parent / "build.json"
    if not path.is_file():
        return None
    record = read_json(path)
    return {key: record[key] for key in ("builder", "split", "chart_end", "window_trading_days", "chart_size",
                                         "tweet_days", "max_tweets") if key in record}


def load_splits(cfg) -> Splits:
    path = Path(cfg.data_dir or ".") / cfg.dataset
    examples, split_names = read_manifest(path, cfg.labels, cfg.group_column, max_pixels=cfg.max_image_pixels,
                                          cluster_column=cfg.cluster_column, leak_columns=cfg.leak_columns)
    if all(name is not None for name in split_names):
        parts = {name: [e for e, s in zip(examples, split_names) if s == name] for name in SPLITS}
        how = "by the manifest's split column"
    else:
        parts = split_stratified(examples, cfg.split_seed, str(path), cfg.labels)
        how = f"stratified 80/10/10, split_seed {cfg.split_seed}"
    check_labels_trained(parts, cfg.labels, str(path))
    info = {"source": str(path), "split": how, "sizes": {k: len(v) for k, v in parts.items()}}
    build = read_build(path)
    if build:
        info["build"] = build  # which builder and settings made it: the tables sort runs by it
    if cfg.leak_columns:
        info["shared_with_train"] = count_shared_with_train(parts, cfg.leak_columns)
    return Splits(list(cfg.labels), parts["train"], parts["val"], parts["test"], info=info)


def count_shared_with_train(parts: dict, columns: Sequence[str]) -> dict:
    """How many validation and test rows share the values of `columns` (e.g. ticker and date)
    with a train row: a model can learn what those rows have in common (the day's move)
    instead of reading its inputs (common.diagnostics warns)."""
    train = {e.shared_key for e in parts["train"]}
    return {"columns": list(columns),
            **{name: {"n": len(parts[name]), "shared": sum(e.shared_key in train for e in parts[name])}
               for name in ("val", "test")}}


class ImageTransform:
    """What torchvision's ImageClassification preset does, at `image_size`, in two stages:
    `load` decodes a file, resizes its short side and centre-crops it (uint8, the stage a
    cache keeps); `normalize` scales to [0, 1] and normalises."""

    def __init__(self, image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.image_size = image_size
        self.resize = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
        self.normalize = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def load(self, path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            return self.resize(to_rgb(image, path))

    def __call__(self, path: Path) -> torch.Tensor:
        return self.normalize(self.load(path))


def available_memory_bytes() -> Optional[int]:
    """Memory the system can still give (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_cache_fits(count: int, image_size: int, available: Optional[int]) -> int:
    """The bytes an image cache of `count` images takes; a ConfigError when that is more
    than half of `available` (a cache that swaps is slower than decoding)."""
    needed = count * 3 * image_size * image_size
    if available is not None and needed > available // 2:
        raise ConfigError(f"caching {count} images at {image_size} px takes {needed / 2**30:.1f} GiB, more than half "
                          f"of the {available / 2**30:.1f} GiB of memory available: pass --cache_images false "
                          "(decode every epoch, with --num_workers to decode in parallel) or a smaller --image_size")
    return needed


class ManifestDataset(Dataset):
    """Tokenized texts (once, up front), or the frozen encoder's `text_features` (one row per
    example) in their place, and images of a list of examples; a modality the model does not
    use is left out. With `cache_images` every image is loaded (decoded,
    resized, cropped) once, here, and only normalised per item; otherwise per item."""

    def __init__(self, examples: Sequence[ImageTextExample], tokenizer=None, transform: Optional[ImageTransform] = None,
                 max_length: int = 64, cache_images: bool = False, progress: bool = True,
                 text_features: Optional[torch.Tensor] = None):
        self.examples, self.transform, self.text_features = list(examples), transform, text_features
        self.encodings = self.images = None
        if tokenizer is not None and text_features is None:
            encoded = tokenizer([e.text for e in self.examples], truncation=True, max_length=max_length)
            self.encodings = {k: encoded[k] for k in TEXT_KEYS if k in encoded}
        if transform is not None and cache_images and self.examples:
            check_cache_fits(len(self.examples), transform.image_size, available_memory_bytes())
            # One tensor, not a list of them: DataLoader workers share it without copying.
            self.images = torch.empty((len(self.examples), 3, transform.image_size, transform.image_size),
                                      dtype=torch.uint8)
            for index, example in enumerate(tqdm(self.examples, desc="loading images", leave=False,
                                                 disable=not progress, dynamic_ncols=True)):
                self.images[index] = transform.load(example.image)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        item = {k: v[index] for k, v in self.encodings.items()} if self.encodings else {}
        if self.text_features is not None:
            item["text_features"] = self.text_features[index]
        if self.images is not None:
            item["pixel_values"] = self.transform.normalize(self.images[index])
        elif self.transform is not None:
            item["pixel_values"] = self.transform(self.examples[index].image)
        item["labels"] = self.examples[index].label
        return item


class Collator:
    """Pads the text part with the tokenizer, stacks everything else (images, text features)."""

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer

    def __call__(self, items: list[dict]) -> dict:
        batch = {"labels": torch.tensor([item["labels"] for item in items])}
        for key in (key for key in items[0] if key != "labels" and key not in TEXT_KEYS):  # images, vectors
            batch[key] = torch.stack([item[key] for item in items])
        if self.tokenizer is not None and "input_ids" in items[0]:
            text = [{k: item[k] for k in TEXT_KEYS if k in item} for item in items]
            batch.update(self.tokenizer.pad(text, return_tensors="pt"))
        return batch


def make_loader(dataset: ManifestDataset, tokenizer, batch_size: int, num_workers: int = 0,
                seed: Optional[int] = None) -> DataLoader:
    """Training batches (a seed: reshuffled per epoch by `set_epoch`, this rank's share of each
    global batch) or evaluation in dataset order (no seed; this rank's share of the examples)."""
    options = dict(num_workers=num_workers, collate_fn=Collator(tokenizer), persistent_workers=num_workers > 0,
                   generator=torch.Generator())  # private: starting an iterator must not draw from the global RNG
    if seed is not None:
        return DataLoader(dataset, batch_sampler=ShardedBatchSampler(EpochRandomSampler(len(dataset), seed),
                                                                     batch_size), **options)
    return DataLoader(dataset, batch_size=batch_size, sampler=ShardedEvalSampler(range(len(dataset))), **options)
