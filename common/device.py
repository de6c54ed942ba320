"""Device and mixed-precision choice.

`auto` takes the GPU when there is one. Autocast uses bf16 where the GPU supports it
(no loss scaling needed) and fp16 with a gradient scaler otherwise; the CPU trains in fp32.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from common.errors import ConfigError


def resolve_device(spec: str) -> torch.device:
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} was requested but no CUDA GPU is available "
                              f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                              "use --device cpu or --device auto")
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            count = torch.cuda.device_count()
            raise ConfigError(f"device {spec!r} does not exist: this machine has "
                              f"{count} CUDA device(s), cuda:0..cuda:{count - 1}")
        return torch.device(spec)
    raise ConfigError(f"unknown device {spec!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")


def resolve_amp_dtype(device: torch.device, precision: str = "auto") -> Optional[torch.dtype]:
    """The autocast dtype for this device, or None for plain fp32."""
    if device.type != "cuda" or precision == "fp32":
        if precision in ("bf16", "fp16") and device.type != "cuda":
            raise ConfigError(f"precision {precision!r} needs a CUDA device; this run is on {device}")
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision 'bf16' is not supported by {torch.cuda.get_device_name(device)}; use fp16")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: Optional[torch.dtype]):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, dtype: Optional[torch.dtype]) -> torch.amp.GradScaler:
    """Loss scaling is needed for fp16 only; a disabled scaler is a no-op passthrough."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def describe_device(device: torch.device) -> dict:
    info = {"device": str(device), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu_name=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    cuda_version=torch.version.cuda)
    return info


def peak_memory(device: torch.device) -> dict:
    """The process's peak resident memory (all of it: weights, activations, optimizer state,
    data) and, on CUDA, the peak memory torch allocated on the device, in MiB."""
    import resource

    peak = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # KiB on Linux
    if device.type == "cuda":
        peak["peak_cuda_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peak
