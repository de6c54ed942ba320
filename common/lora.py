"""LoRA adapters through `peft`, with the classification head trained and saved alongside.

Per-architecture defaults put adapters on the attention query/value projections (Hu et
al. 2021) and mark the head modules as `modules_to_save`, so the new head is trained in
full and stored in the adapter checkpoint. `merge_lora` folds the adapters into the
weights and returns a plain Hugging Face model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from torch import nn

from common.errors import ConfigError

DEFAULT_TARGETS = {"distilbert": ["q_lin", "v_lin"], "bert": ["query", "value"], "roberta": ["query", "value"],
                   "xlm-roberta": ["query", "value"], "camembert": ["query", "value"],
                   "deberta-v2": ["query_proj", "value_proj"], "electra": ["query", "value"],
                   # seq2seq models: every attention block's query/value, cross-attention included
                   "t5": ["q", "v"], "mt5": ["q", "v"], "bart": ["q_proj", "v_proj"],
                   "encoder-decoder": ["query", "value"]}
HEAD_MODULES = {"distilbert": ["pre_classifier", "classifier"]}  # others: "classifier"


def model_types(model: nn.Module) -> tuple[str, str]:
    """(the model's type, its encoder's type): they differ for a custom head over an encoder."""
    config = model.config
    encoder = getattr(config, "encoder", None)
    return config.model_type, (encoder.get("model_type") if isinstance(encoder, dict) else config.model_type)


def head_modules(model: nn.Module) -> list[str]:
    if hasattr(model, "head"):  # a custom head module over an encoder
        return ["head"]
    return HEAD_MODULES.get(model.config.model_type, ["classifier"])


def apply_lora(model: nn.Module, r: int, alpha: int, dropout: float,
               target_modules: Optional[Sequence[str]] = None,
               modules_to_save: Optional[Sequence[str]] = None) -> nn.Module:
    """`model` with adapters on `target_modules` (default: its type's attention query/value
    projections) and `modules_to_save` trained in full and saved with them (default: the
    classification head; a model with parts that start untrained names them)."""
    from peft import LoraConfig, get_peft_model

    _, encoder_type = model_types(model)
    targets = list(target_modules or DEFAULT_TARGETS.get(encoder_type, []))
    if not targets:
        raise ConfigError(f"no default LoRA target modules for model type {encoder_type!r}; set "
                          f"lora_target_modules (known defaults: {', '.join(DEFAULT_TARGETS)})")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        modules_to_save=list(modules_to_save) if modules_to_save is not None else head_modules(model))
    try:
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
