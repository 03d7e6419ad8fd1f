"""Several processes under torchrun: which one this is, and the few collective steps training and classify need.

    torchrun --standalone --nproc-per-node 2 -m dancestyle train ...        # two processes on one machine
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29500 -m dancestyle train ...             # and on each other machine

torchrun starts the processes and gives each RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE in its
environment; they join one process group (NCCL between GPUs, gloo on CPUs). A plain `dancestyle train` is one
process: nothing here then does anything, so single-process users see no change.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from collections.abc import Iterator
from typing import TypeVar

from .errors import DanceStyleError, UsageError

T = TypeVar("T")
TIMEOUT = timedelta(minutes=30)  # how long a collective waits for a slow peer (feature extraction can take long)


class PeerFailed(DanceStyleError):
    """Another process of a distributed run stopped (killed, out of memory, its machine gone)."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank among `world` processes, and local rank on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and talks to the user."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def ranks_from_env() -> Ranks:
    """The ranks torchrun set (one process when run without it)."""
    def number(name: str, default: int) -> int:
        return int(os.environ.get(name, default))

    return Ranks(number("RANK", 0), number("WORLD_SIZE", 1), number("LOCAL_RANK", 0), number("LOCAL_WORLD_SIZE", 1))


def start(device: str) -> tuple[Ranks, str]:
    """Join torchrun's process group, if there is one; returns the ranks and the device this process uses (with
    CUDA, GPU LOCAL_RANK). More processes on a machine than it has GPUs is a usage error."""
    ranks = ranks_from_env()
    if not ranks.distributed:
        return ranks, device
    import torch
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if cuda:
        if torch.cuda.device_count() < ranks.local_world:
            raise UsageError(f"--device cuda with {ranks.local_world} processes on this machine, but PyTorch sees "
                             f"{torch.cuda.device_count()} GPU(s).",
                             "Start at most one process per GPU (torchrun --nproc-per-node), or use --device cpu.")
        device = f"cuda:{ranks.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    return ranks, device


def stop() -> None:
    """Leave the process group (at the end of a run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        _collective(dist.barrier)


def broadcast(ranks: Ranks, value: T) -> T:
    """Rank 0's `value`, on every rank (any picklable object)."""
    if not ranks.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    _collective(dist.broadcast_object_list, box, src=0)
    return box[0]


def agree(ranks: Ranks, settings: dict, what: str) -> None:
    """Refuse to start when the processes were given different `settings` (e.g. another command line on one
    machine): every rank raises, naming what differs, instead of failing hours later."""
    if not ranks.distributed:
        return
    import torch.distributed as dist

    text = json.dumps(settings, sort_keys=True, default=str)
    everyone: list = [None] * ranks.world
    _collective(dist.all_gather_object, everyone, (hashlib.sha256(text.encode()).hexdigest(), settings))
    differing = sorted({key for _, other in everyone for key in set(other) | set(settings)
                        if json.dumps(other.get(key), default=str) != json.dumps(settings.get(key), default=str)})
    if differing:
        raise UsageError(f"The {ranks.world} processes of this run were given different {what}: "
                         f"{', '.join(differing)}.",
                         "Start every machine's torchrun with the same dancestyle command and options.")


def gather(ranks: Ranks, value: T) -> list[T]:
    """Every rank's `value`, in rank order (any picklable object)."""
    if not ranks.distributed:
        return [value]
    import torch.distributed as dist

    everyone: list = [None] * ranks.world
    _collective(dist.all_gather_object, everyone, value)
    return everyone


def classify_in_order(pipeline, items: list, ranks: Ranks, **options) -> Iterator:
    """pipeline.classify_many over `items`, shared by the ranks: rank r classifies items r, r + world, ...; after
    each round of `world` items rank 0 gathers their results and yields them in input order (the other ranks
    yield nothing). One process: classify_many itself."""
    if not ranks.distributed:
        yield from pipeline.classify_many(items, **options)
        return
    mine = pipeline.classify_many(items[ranks.rank::ranks.world], **options)
    for first in range(0, len(items), ranks.world):
        result = next(mine) if first + ranks.rank < len(items) else None
        results = gather(ranks, result)
        if ranks.main:
            yield from results[:len(items) - first]


def total(ranks: Ranks, *numbers: float) -> list[float]:
    """Each of `numbers` summed over the ranks."""
    if not ranks.distributed:
        return list(numbers)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(numbers, dtype=torch.float64)
    _collective(dist.all_reduce, tensor)
    return tensor.tolist()


def _collective(function, *args, **kwargs):
    """Run a collective; a peer that died turns into PeerFailed, said plainly."""
    try:
        return function(*args, **kwargs)
    except RuntimeError as error:  # gloo/NCCL: connection reset, timeout, ...
        raise PeerFailed(f"Another process of this distributed run stopped ({str(error).splitlines()[0]}).",
                         "Look at the other processes' output for why; a run with saved state continues with "
                         "--resume.") from error
