"""Phase 5 config: the command-line contract keys plus the image encoder, the fusion
head and the manifest data.

Defaults are the `concat` preset's run: FinBERT text + ResNet-50 image features (ImageNet
weights when they can be had), concatenated and classified by an MLP.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.config import TrainConfig, option
from common.errors import ConfigError

PHASE = "phase5_multimodal_financial_sentiment"  # the package, and the runs subfolder of its run directories
PRESET_DIR = Path(__file__).parent / "presets"
MODALITIES = ("fusion", "text", "image")
FUSIONS = ("concat", "gated", "attention")
IMAGE_WEIGHTS = ("auto", "imagenet", "none")

MAX_IMAGE_PIXELS = 40_000_000  # a 6,300 x 6,300 chart; `max_image_pixels` raises it

@dataclass
class Phase5Config(TrainConfig):
    model_name_or_path: str = option("ProsusAI/finbert", "Text encoder: hub id or local directory of any HF "
                                     "encoder (FinBERT by default).")
    learning_rate: Optional[float] = option(2e-5, "Peak learning rate of the text encoder.")
    image_learning_rate: float = option(1e-4, "Peak learning rate of the image encoder (higher when it "
                                        "trains from scratch).", above=0)
    head_learning_rate: float = option(1e-3, "Peak learning rate of the fusion head and classifier (new "
                                       "weights).", above=0)
    epochs: int = option(5, "Number of training epochs.")
    batch_size: int = option(32, "Training batch size per optimizer step (before accumulation).")
    max_length: int = option(64, "Maximum tokens of an example's text.")

    # --- data: a manifest of text, image and label (see data.py) ---
    dataset: str = option("manifest.csv", "Manifest (.csv or .jsonl) with text, image (path relative to the "
                          "manifest) and label columns and an optional split column; relative to data_dir.")
    labels: list[str] = option(["negative", "neutral", "positive"], "The label set; a manifest row with any "
                               "other label is an error.")
    group_column: Optional[str] = option(None, "Manifest column whose values get their own metrics (e.g. "
                                         "'informative' of the synthetic charts).")
    cluster_column: Optional[str] = option(None, "Manifest column of rows that move together (e.g. 'date' of "
                                           "the StockNet stock-days: the stocks of one day rise and fall "
                                           "together): the test intervals resample these clusters, not rows.")
    leak_columns: list[str] = option([], "Manifest columns whose values together must not straddle splits (e.g. "
                                     "ticker,date: posts on one stock and day share that day's move): validation "
                                     "and test rows that share them with a train row are counted "
                                     "(data.shared_with_train) and warned about.")
    split_seed: int = option(42, "Seed of the stratified 80/10/10 split of a manifest without a split column.",
                             at_least=0)

    # --- models ---
    modality: str = option("fusion", "'fusion' (text + image), 'text' or 'image' alone (the ablations; the "
                           "same code, the other encoder absent).", MODALITIES)
    fusion: str = option("concat", "concat: [text; image] -> MLP; gated: a gated multimodal unit weighs the two "
                         "per dimension; attention: the text attends over the image's spatial feature map.",
                         FUSIONS)
    image_model: str = option("resnet50", "torchvision ResNet: resnet18, resnet34, resnet50, resnet101, resnet152.",
                              ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"))
    image_weights: str = option("auto", "auto: ImageNet weights when they can be loaded (cache or download), "
                                "else random init, said in the log and recorded in metrics.json; imagenet: "
                                "required; none: train from scratch.", IMAGE_WEIGHTS)
    image_size: int = option(224, "Images are resized and centre-cropped to this many pixels.", at_least=32)
    max_image_pixels: int = option(MAX_IMAGE_PIXELS, "Largest image (width x height) a manifest may name; a larger "
                                   "one is an error before training (a decompression bomb, or a file not meant).",
                                   at_least=1)
    cache_images: bool = option(True, "Decode, resize and crop each image once per run and keep it in memory "
                                "(3 x image_size² bytes an image; an error if that exceeds half the free memory); "
                                "false decodes every epoch.")
    fusion_hidden_size: int = option(256, "Width of the fusion layers.", at_least=1)
    fusion_dropout: float = option(0.1, "Dropout in the fusion head.", at_least=0, below=1)
    freeze_text: bool = option(False, "Keep the text encoder's weights fixed and train the rest on its vectors, "
                               "computed once per text and kept under <output_dir>/<phase>/.cache (the frozen-"
                               "feature rows: a CPU's way through tens of thousands of texts).")
    freeze_image: bool = option(False, "Keep the image encoder's weights (and batch-norm statistics) fixed.")
    group_by_length: bool = option(False, "Unused here: batches are drawn uniformly at random.")

    def __post_init__(self) -> None:
        super().__post_init__()  # every key's domain first
        check_config(self)


def check_config(cfg: Phase5Config) -> None:
    """Combinations that each key alone allows but that make no sense together."""
    if cfg.modality == "image" and cfg.freeze_image and cfg.image_weights == "none":
        raise ConfigError("a frozen image encoder with random weights (image_weights none) learns nothing")
    if len(set(cfg.labels)) != len(cfg.labels) or len(cfg.labels) < 2:
        raise ConfigError(f"labels must be at least two distinct names, got {cfg.labels}")
