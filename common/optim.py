"""Optimizers and learning-rate schedules, chosen by config keys.

- `adamw`: torch AdamW, the fused kernel wherever torch has one (CUDA and, since torch 2.4,
  CPU; on a 2-core CPU it made the step of a 22.7M-parameter model about 5x faster than the
  multi-tensor kernel, and the HF Trainer's default is fused AdamW too). `fused_adamw false`
  takes the multi-tensor (foreach) kernel instead, for comparison.
- `adafactor`: transformers' Adafactor with an external learning rate that follows the
  schedule (`scale_parameter=False, relative_step=False, warmup_init=False`), the setting
  recommended for fine-tuning.
- `adafactor_relative`: Adafactor's own relative step size, min(1e-2, 1/sqrt(step)); it
  takes no learning rate and no schedule, so those keys must say so (`learning_rate none`,
  `lr_scheduler constant`, `warmup_ratio 0`) instead of being silently ignored.
- `sgd`: SGD with (heavy-ball) momentum.

Biases and normalisation weights (1-D tensors) get no weight decay, as in BERT and the
HF Trainer. Schedules: linear warmup over ceil(warmup_ratio x steps), then linear, cosine,
constant or polynomial decay.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from common.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where an optimizer is built: configs read this module without it
    import torch

OPTIMIZERS = ("adamw", "adafactor", "adafactor_relative", "sgd")
SCHEDULES = ("linear", "cosine", "constant", "polynomial")


def check_optimizer_config(cfg) -> None:
    """Combinations that each key allows alone but that together are meaningless."""
    if cfg.optimizer == "adafactor_relative":
        if cfg.learning_rate is not None:
            raise ConfigError("optimizer adafactor_relative computes its own step size and takes no learning "
                              "rate: pass --learning_rate none (or use optimizer adafactor, which follows "
                              "learning_rate and its schedule)")
        if cfg.lr_scheduler != "constant" or cfg.warmup_ratio:
            raise ConfigError("optimizer adafactor_relative is its own schedule: set lr_scheduler constant and "
                              "warmup_ratio 0")
    elif cfg.learning_rate is None:  # (a value <= 0 never gets here: the key's domain refuses it)
        raise ConfigError(f"optimizer {cfg.optimizer} needs a learning_rate")


def parameter_groups(model: torch.nn.Module, weight_decay: float,
                     learning_rates: Optional[dict[str, float]] = None) -> list[dict]:
    """Trainable parameters split by weight decay (matrices) or none (biases, norms), and
    by peak learning rate: `learning_rates` maps parameter-name prefixes to their own rate
    (first match wins; e.g. a new head learns faster than a pretrained encoder); the rest
    take the optimizer's learning rate."""
    rates = list((learning_rates or {}).items())
    buckets: dict[tuple, list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            rate = next((lr for prefix, lr in rates if name.startswith(prefix)), None)
            buckets.setdefault((rate, param.ndim >= 2), []).append(param)
    groups = []
    for rate in dict.fromkeys([*(lr for _, lr in rates), None]):
        for decay in (True, False):
            params = buckets.get((rate, decay), [])
            if params or rate is None:  # the default pair is always there, as optimizers expect
                groups.append({"params": params, "weight_decay": weight_decay if decay else 0.0,
                               **({"lr": rate} if rate is not None else {})})
    return groups


def build_optimizer(model: torch.nn.Module, learning_rate: Optional[float], weight_decay: float,
                    name: str = "adamw", momentum: float = 0.9,
                    learning_rates: Optional[dict[str, float]] = None, fused: bool = True) -> torch.optim.Optimizer:
    import torch

    groups = parameter_groups(model, weight_decay, learning_rates)
    if name == "adamw":
        if fused:
            try:
                return torch.optim.AdamW(groups, lr=learning_rate, fused=True)
            except RuntimeError:  # no fused kernel for this device or dtype
                pass
        return torch.optim.AdamW(groups, lr=learning_rate, foreach=True)
    if name == "adafactor":
        from transformers.optimization import Adafactor  # here: transformers.optimization imports peft (seconds)

        return Adafactor(groups, lr=learning_rate, scale_parameter=False, relative_step=False, warmup_init=False)
    if name == "adafactor_relative":
        from transformers.optimization import Adafactor

        return Adafactor(groups, lr=None, scale_parameter=True, relative_step=True, warmup_init=False)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=momentum)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def count_optimizer_steps(num_batches: int, grad_accum_steps: int, max_steps: Optional[int]) -> int:
    steps = math.ceil(num_batches / grad_accum_steps)
    return min(steps, max_steps) if max_steps else steps


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, total_steps: int, warmup_ratio: float,
                    polynomial_power: float = 2.0):
    """The schedule of `name` after a linear warmup; for Adafactor's relative step, a proxy
    that only reports the step size Adafactor chose (for the history and the logs)."""
    from transformers import get_scheduler
    from transformers.optimization import Adafactor, AdafactorSchedule

    if isinstance(optimizer, Adafactor) and optimizer.defaults["relative_step"]:
        return AdafactorSchedule(optimizer)
    hf_name = {"constant": "constant_with_warmup"}.get(name, name)
    options = {"scheduler_specific_kwargs": {"power": polynomial_power, "lr_end": 0.0}} if name == "polynomial" else {}
    return get_scheduler(hf_name, optimizer, num_warmup_steps=math.ceil(warmup_ratio * total_steps),
                         num_training_steps=max(total_steps, 1), **options)
