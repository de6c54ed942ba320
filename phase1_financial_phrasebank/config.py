"""Phase 1 config: the command-line contract keys plus Financial PhraseBank choices.

Defaults are the `distilbert` preset's run: DistilBERT fine-tuned on the 50Agree level.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import option
from common.errors import ConfigError
from common.model_options import PromptOptions, ScratchOptions
from common.text_data import TextDataConfig
from phase1_financial_phrasebank.fiqa.data import ASPECT_LEVELS, FIQA_TASKS

PHASE = "phase1_financial_phrasebank"  # the package, and the runs subfolder of its run directories
PRESET_DIR = Path(__file__).parent / "presets"
LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")
REGIMES = ("full", "head_only", "head_then_full", "gradual_unfreeze")


@dataclass
class LoraOptions:
    """The LoRA keys of phase 1's models (classifiers and target extractors)."""

    lora: bool = option(False, "Train LoRA adapters (peft) instead of all weights.")
    lora_r: int = option(8, "LoRA rank.", at_least=1)
    lora_alpha: int = option(16, "LoRA scaling alpha.", at_least=1)
    lora_dropout: float = option(0.1, "Dropout on the LoRA branch.", at_least=0, below=1)
    lora_target_modules: list[str] = option([], "Modules that get adapters; empty: the architecture's attention "
                                            "query/value projections.")
    merge: bool = option(False, "After a LoRA run, merge the best adapter into the weights and save a plain "
                         "Hugging Face model to checkpoints/merged.")


@dataclass
class Phase1Config(PromptOptions, ScratchOptions, LoraOptions, TextDataConfig):
    # --- the small encoders from scratch: architecture, tokenizer_name_or_path, train_tokenizer (ScratchOptions) ---
    train_agreement: str = option("50Agree", "Agreement level whose train/val splits are used for training.",
                                  LEVELS)
    eval_agreements: list[str] = option(list(LEVELS), "Agreement levels whose test split the final model "
                                        "is evaluated on (comma-separated).", LEVELS)
    split_seed: int = option(42, "Seed of the one stratified 80/10/10 split shared by all agreement levels; "
                             "kept apart from `seed` so that training seeds never move the test set.")

    # --- data: Financial PhraseBank, FiQA 2018, or any text-classification data set (TextDataConfig's keys) ---
    dataset: str = option("financial_phrasebank", "'financial_phrasebank', 'fiqa_2018' (the FiQA 2018 Task 1 train "
                          "files in data_dir), a local .csv/.tsv/.jsonl file (relative to data_dir when that is "
                          "set), or a hub data set id.")

    # --- FiQA 2018 Task 1 (dataset fiqa_2018); its context_columns are target and/or aspect ---
    fiqa_task: str = option("sentiment", "FiQA task: 'sentiment' (negative/neutral/positive from the score), "
                            "'sentiment_score' (regression on the score itself; MSE and R²) or 'aspect' (the aspect "
                            "category at fiqa_aspect_level).", FIQA_TASKS)
    fiqa_aspect_level: str = option("1", "FiQA aspect labels: '1' (4 classes: Corporate, Stock, Market, Economy), "
                                    "'2' (28) or 'full' (the whole path, 131); also the level of an aspect context.",
                                    ASPECT_LEVELS)
    fiqa_neutral_low: float = option(-0.1, "FiQA sentiment: scores below this are negative.")
    fiqa_neutral_high: float = option(0.1, "FiQA sentiment: scores above this are positive (neutral in between, "
                                      "bounds included).")

    # --- training regime ---
    regime: str = option("full", "full: train everything; head_only: encoder frozen; head_then_full: head alone "
                         "for head_epochs, then everything; gradual_unfreeze: head first, then one more encoder "
                         "layer per epoch from the top down, embeddings last (ULMFiT / FinBERT).", REGIMES)
    head_epochs: int = option(1, "Epochs of head-only training before unfreezing (head_then_full, gradual_unfreeze).",
                             at_least=0)
    unfreeze_layers_per_epoch: int = option(2, "gradual_unfreeze: encoder layers unfrozen per epoch after the head "
                                           "epochs.", at_least=1)

    # --- class imbalance ---
    class_weighting: str = option("none", "'inverse_frequency': cross-entropy weighted by n / (K * count_k) "
                                  "of the training split.", ("none", "inverse_frequency"))
    oversample: bool = option(False, "Repeat minority-class training examples (random, seeded) up to the "
                              "majority class count; validation and test are untouched.")

    # --- classification head: head, head_hidden_size, head_dropout (TextDataConfig's keys) ---

    # --- LoRA (peft): lora_r, lora_alpha, lora_dropout, lora_target_modules, merge (LoraOptions' keys) ---
    # --- decoder LLMs: llm_format head|instruction, prompt_template, chat_template, few_shot (PromptOptions);
    #     model_dtype, quantization, gradient_checkpointing (MemoryOptions) ---
    lora: bool = option(False, "Train LoRA adapters (peft) plus the classification head instead of all weights.")

    def __post_init__(self) -> None:
        super().__post_init__()  # every key's domain and the mixins' own checks first
        check_config(self)


def check_config(cfg: Phase1Config) -> None:
    """Combinations that each key alone allows but that make no sense together."""
    scratch = cfg.architecture != "pretrained"
    if scratch and (cfg.lora or cfg.regime != "full" or cfg.head != "linear"):
        raise ConfigError(f"architecture {cfg.architecture!r} is trained from scratch: it takes regime 'full', "
                          "head 'linear' (it already mean-pools) and no LoRA")
    if cfg.lora and cfg.regime != "full":
        raise ConfigError("lora already decides what trains (adapters + head); use regime 'full' with it")
    if cfg.freeze_embeddings and (cfg.lora or cfg.regime != "full"):
        raise ConfigError("freeze_embeddings is for regime 'full' without lora: lora freezes the whole encoder "
                          "already, and the other regimes decide themselves when the embeddings train")
    if cfg.merge and not cfg.lora:
        raise ConfigError("merge folds LoRA adapters into the weights; it needs lora true")
    if cfg.oversample and cfg.class_weighting != "none":
        raise ConfigError("choose one of oversample and class_weighting: together they correct the imbalance twice")
    fiqa = cfg.dataset == "fiqa_2018"
    if not fiqa and cfg.context_columns and cfg.dataset == "financial_phrasebank":
        raise ConfigError("Financial PhraseBank has no context columns; context_columns is for fiqa_2018 (target, "
                          "aspect) and data sets of your own")
    if cfg.llm_format == "instruction" and (scratch or cfg.regime != "full" or cfg.head != "linear"
                                            or is_regression(cfg)):
        raise ConfigError("llm_format instruction trains a pretrained causal LM on its answers: it takes "
                          "architecture pretrained, regime full, head linear and a classification task")
    if cfg.llm_format == "instruction" and (cfg.class_weighting != "none" or cfg.oversample):
        raise ConfigError("llm_format instruction trains on the answer tokens' LM loss: class_weighting and "
                          "oversample are for a classification head's cross-entropy")
    if is_regression(cfg) and (cfg.class_weighting != "none" or cfg.oversample):
        raise ConfigError("fiqa_task sentiment_score is a regression: class_weighting and oversample need classes")


def is_regression(cfg: Phase1Config) -> bool:
    """A run that predicts FiQA's sentiment score itself, one number per example."""
    return cfg.dataset == "fiqa_2018" and cfg.fiqa_task == "sentiment_score"
