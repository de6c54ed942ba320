"""Config of phase 1's FiQA 2018 target extraction (`python -m phase1_financial_phrasebank.fiqa.train_targets`):
the command-line contract keys plus the extractor, its input and its decoding.

Defaults are the `flan_t5_lora` preset's run: google/flan-t5-base with LoRA adapters,
generating the target of each (sentence, target) entry from the sentence, greedy decoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import TrainConfig, option
from common.errors import ConfigError
from phase1_financial_phrasebank.config import LoraOptions
from phase1_financial_phrasebank.fiqa.data import ASPECT_LEVELS

PRESET_DIR = Path(__file__).parent / "presets_targets"
EXTRACTORS = ("seq2seq", "span_tagger")
PROMPT = "Which company or asset is this text about? "


@dataclass
class TargetConfig(LoraOptions, TrainConfig):
    model_name_or_path: str = option("google/flan-t5-base", "Hub id or local directory of the model: an encoder-"
                                     "decoder checkpoint (seq2seq), an encoder (span_tagger, or seq2seq with "
                                     "encoder_decoder true).")
    dataset: str = option("fiqa_2018", "The data set: the FiQA 2018 Task 1 train files in data_dir.", ("fiqa_2018",))
    extractor: str = option("seq2seq", "'seq2seq': a model that writes the target; 'span_tagger': an extractive "
                            "baseline that tags the target's tokens in the sentence (BIO) and writes nothing.",
                            EXTRACTORS)
    encoder_decoder: bool = option(False, "seq2seq: warm-start an EncoderDecoderModel with model_name_or_path (an "
                                   "encoder such as BERT or MiniLM) as its encoder and its decoder (new "
                                   "cross-attention), instead of loading an encoder-decoder checkpoint.")
    context_columns: list[str] = option([], "What goes with the sentence: 'aspect' (at fiqa_aspect_level), or "
                                        "nothing.", ("aspect",))
    fiqa_aspect_level: str = option("1", "Level of the aspect context: '1', '2' or 'full'.", ASPECT_LEVELS)
    prompt: str = option(PROMPT, "seq2seq: the instruction before each input (instruction-tuned models such as "
                         "flan-t5 answer it before any fine-tuning).")
    num_beams: int = option(1, "seq2seq decoding: 1 is greedy, more is beam search.", at_least=1)
    max_target_length: int = option(16, "seq2seq: most tokens generated (and kept of a gold target).", at_least=1)
    split_seed: int = option(42, "Seed of the one split by sentence that every FiQA task shares.", at_least=0)
    # LoRA: lora_r, lora_alpha, lora_dropout, lora_target_modules, merge (LoraOptions' keys)
    lora: bool = option(True, "Train LoRA adapters (peft) instead of all weights.")

    def __post_init__(self) -> None:
        super().__post_init__()  # every key's domain first
        check_target_config(self)


def check_target_config(cfg: TargetConfig) -> None:
    """Combinations that each key alone allows but that make no sense together."""
    if cfg.encoder_decoder and cfg.extractor != "seq2seq":
        raise ConfigError("encoder_decoder warm-starts a seq2seq model; the span_tagger is an encoder alone")
    if cfg.merge and not cfg.lora:
        raise ConfigError("merge folds LoRA adapters into the weights; it needs lora true")
    if cfg.num_beams > 1 and cfg.extractor != "seq2seq":
        raise ConfigError("num_beams is a decoding option of the seq2seq extractor")
