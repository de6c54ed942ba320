"""LoRA adapters through `peft`, with the classification head trained and saved alongside.

The adapters go on the attention query/value projections (Hu et al. 2021) that peft
itself knows for the model's type (Llama, Qwen2/3, Mistral, Gemma 3, BERT, RoBERTa, T5, ...;
`lora_targets`); this module only names the few types peft does not. The head (every
module of the model outside its base model that has weights: `classifier`, `score`, ...)
is a `modules_to_save`, trained in full and stored in the adapter checkpoint.
`merge_lora` folds the adapters into the weights and returns a plain Hugging Face model.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Sequence

from torch import nn

from common.errors import ConfigError

# The model types peft has no default for (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
# knows the rest): their attention query/value projections.
OWN_TARGETS = {"distilbert": ["q_lin", "v_lin"], "camembert": ["query", "value"],
               "encoder-decoder": ["query", "value"]}  # a BERT2BERT: cross-attention's query/value too


def model_types(model: nn.Module) -> tuple[str, str]:
    """(the model's type, its encoder's type): they differ for a custom head over an encoder."""
    config = model.config
    encoder = getattr(config, "encoder", None)
    return config.model_type, (encoder.get("model_type") if isinstance(encoder, dict) else config.model_type)


def lora_targets(encoder_type: str) -> list[str]:
    """The default target modules of a model type: peft's, else this module's own."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    targets = PEFT_TARGETS.get(encoder_type) or OWN_TARGETS.get(encoder_type)
    if not targets:
        raise ConfigError(f"no default LoRA target modules for model type {encoder_type!r} (neither peft nor this "
                          f"project knows one); set lora_target_modules, e.g. its attention projections' names")
    return list(targets) if isinstance(targets, (list, tuple)) else targets


def head_modules(model: nn.Module) -> list[str]:
    """The modules of a classifier outside its base model that hold weights: its head
    (`classifier`; DistilBERT's `pre_classifier` too; a decoder's `score`; a custom `head`)."""
    if hasattr(model, "head"):  # a custom head module over an encoder
        return ["head"]
    base = getattr(model, "base_model_prefix", None)
    return [name for name, child in model.named_children()
            if name != base and any(True for _ in child.parameters())]


def apply_lora(model: nn.Module, r: int, alpha: int, dropout: float,
               target_modules: Optional[Sequence[str]] = None,
               modules_to_save: Optional[Sequence[str]] = None) -> nn.Module:
    """`model` with adapters on `target_modules` (default: its type's attention query/value
    projections, `lora_targets`) and `modules_to_save` trained in full and saved with them
    (default: the classification head; a causal LM trained on its answers passes none, a
    model with parts that start untrained names them)."""
    from peft import LoraConfig, get_peft_model

    _, encoder_type = model_types(model)
    targets = list(target_modules) if target_modules else lora_targets(encoder_type)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        modules_to_save=list(modules_to_save) if modules_to_save is not None else head_modules(model))
    try:
        with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing`: not ours
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, config)
    except ValueError as exc:  # e.g. target modules not found in the model
        raise ConfigError(f"LoRA cannot be applied: {str(exc).splitlines()[0]}") from None


def is_adapter_checkpoint(directory: Path) -> bool:
    return (Path(directory) / "adapter_config.json").exists()


def load_lora(base_model: nn.Module, directory: Path, trainable: bool = False) -> nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(directory), is_trainable=trainable)


def merge_lora(model: nn.Module) -> nn.Module:
    """The base model with adapters merged into its weights and the trained head in place."""
    return model.merge_and_unload()
