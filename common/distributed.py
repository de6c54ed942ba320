"""Data-parallel training over several processes (torch.distributed, launched by torchrun).

`torchrun --nproc_per_node N -m <phase>.train ...` starts N copies of a run; torchrun sets
RANK, LOCAL_RANK and WORLD_SIZE, and `init_distributed` joins them into one process group
(NCCL between GPUs, gloo on CPUs). Each rank takes the GPU of its LOCAL_RANK. The shared
loop (common/fit.py) wraps the model in `DistributedDataParallel`, gives every rank its
share of each global batch (common/batching.py) and gathers the evaluation outputs, so
every rank holds the same predictions and takes the same decisions; rank 0 alone writes
files (common/records.py, plots, checkpoints, trackers).

A decision or an error that one rank makes reaches the others through `decide_on_main`
(rank 0 acts, the others get its result or its error); a rank that dies ends the job:
torchrun stops the other ranks and exits non-zero with the failed rank's message.
Without torchrun everything here is a no-op: one process is rank 0 of a world of one.
torch is imported where a process group is made or used, never at import: a process that
never imported torch (`--help`, `reproduce --check`) has no process group to ask about.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from common.errors import ConfigError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
# How long a collective may wait for a rank before the job fails (torchrun usually ends the
# job sooner: it stops every rank as soon as one exits with an error).
COLLECTIVE_TIMEOUT = dt.timedelta(minutes=int(os.environ.get("COLLECTIVE_TIMEOUT_MINUTES", "30")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world() -> World:
    """The world torchrun (or any launcher setting its variables) started this process in."""
    def env_int(name: str, default: int) -> int:
        value = os.environ.get(name, str(default))
        if not value.isdigit():
            raise ConfigError(f"environment variable {name}={value!r} is not a non-negative integer")
        return int(value)

    return World(env_int("RANK", 0), env_int("WORLD_SIZE", 1), env_int("LOCAL_RANK", 0))


def group_initialized() -> bool:
    """Whether this process joined a process group (never, if it has not imported torch.distributed)."""
    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized()


def world() -> World:
    """This process's place in the process group (rank 0 of 1 when there is none)."""
    if not group_initialized():
        return World()
    import torch.distributed as dist
    return World(dist.get_rank(), dist.get_world_size(), launched_world().local_rank)


def is_main_process() -> bool:
    return world().is_main


def is_distributed() -> bool:
    return world().size > 1


def init_distributed(device_spec: str) -> Optional[torch.device]:
    """Join the process group torchrun started, once; return this rank's device (None when
    the process was not started by a launcher: the caller resolves `device_spec` itself).

    Under torchrun `--device auto` or `cuda` takes the GPU of LOCAL_RANK (NCCL), `cpu` runs
    every rank on the CPU (gloo); `cuda:N` names one GPU for all ranks and is refused."""
    launched = launched_world()
    if launched.size <= 1:
        return None
    import torch
    import torch.distributed as dist
    spec = device_spec.strip().lower()
    use_cuda = spec.startswith("cuda") or (spec == "auto" and torch.cuda.is_available())
    if spec.startswith("cuda:"):
        raise ConfigError(f"--device {device_spec} under torchrun: every rank takes the GPU of its LOCAL_RANK; "
                          "pass --device cuda (or auto), and choose GPUs with CUDA_VISIBLE_DEVICES")
    if use_cuda and torch.cuda.device_count() <= launched.local_rank:
        raise ConfigError(f"rank {launched.rank} has LOCAL_RANK {launched.local_rank} but this machine shows "
                          f"{torch.cuda.device_count()} CUDA device(s); start at most that many processes per node")
    device = torch.device("cuda", launched.local_rank) if use_cuda else torch.device("cpu")
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=COLLECTIVE_TIMEOUT,
                                device_id=device if use_cuda else None)
        if launched.rank != 0:
            quiet_stdout()
    return device


def quiet_stdout() -> None:
    """Progress lines and bars come from rank 0 alone (N copies of each only clutter the
    log); what goes to stderr (errors, warnings) still comes from every rank."""
    import builtins

    os.environ["TQDM_DISABLE"] = "1"  # read by every tqdm bar made from here on
    printer = builtins.print

    def print_to_stderr_only(*args, **kwargs):
        if kwargs.get("file") not in (None, sys.stdout):
            printer(*args, **kwargs)

    builtins.print = print_to_stderr_only


def close_distributed() -> None:
    if group_initialized():
        import torch.distributed as dist
        dist.destroy_process_group()


def broadcast_object(value: T) -> T:
    """Rank 0's `value` on every rank."""
    if not is_distributed():
        return value
    import torch.distributed as dist
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: T) -> list[T]:
    """Every rank's `value`, in rank order, on every rank."""
    if not is_distributed():
        return [value]
    import torch.distributed as dist
    values: list[Any] = [None] * world().size
    dist.all_gather_object(values, value)
    return values


def sum_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over ranks (the tensor itself in one process)."""
    if is_distributed():
        import torch.distributed as dist
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    if is_distributed():
        import torch.distributed as dist
        dist.barrier()


class RankStopped(RuntimeError):
    """Raised on the other ranks when rank 0's decision ended the run (an error, a pruned trial)."""


def decide_on_main(action: Callable[[], T]) -> T:
    """Run `action` on rank 0 alone and return its result on every rank. If it raises, rank 0
    re-raises its exception and the other ranks raise `RankStopped` (or the same ConfigError)
    with its message, so that every rank leaves the same way and none waits forever."""
    if not is_distributed():
        return action()
    outcome: tuple[Optional[BaseException], Any] = (None, None)
    if is_main_process():
        try:
            outcome = (None, action())
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others are told
            outcome = (exc, None)
    message = None if outcome[0] is None else f"{type(outcome[0]).__name__}: {outcome[0]}"
    kind = type(outcome[0]).__name__ if outcome[0] is not None else None
    shared = broadcast_object((message, kind, outcome[1] if is_main_process() else None))
    if is_main_process() and outcome[0] is not None:
        raise outcome[0]
    message, kind, result = shared
    if message is not None:
        if kind == "ConfigError":
            raise ConfigError(message.partition(": ")[2])
        raise RankStopped(f"rank 0 ended the run: {message}")
    return result


def describe_world() -> dict:
    """What env.json and metrics.json record of the process group."""
    current = world()
    info = {"world_size": current.size}
    if current.size > 1:
        import torch.distributed as dist
        info.update(backend=dist.get_backend(), nodes=int(os.environ.get("GROUP_WORLD_SIZE", "0")) or None)
    return info
