"""torch.distributed helpers: one code path for single-process and ``torchrun`` jobs.

Launch multi-process jobs with ``torchrun --nproc_per_node N tools/train_gcl.py ...``; CUDA jobs
use NCCL, CPU jobs gloo. Pseudo-labels are computed on rank 0 and broadcast, features and memory
updates are gathered from every rank, so all ranks see the same labels and the same memory.
"""
from __future__ import annotations

import os
from typing import Any, Iterable

import torch
import torch.distributed as dist


def init_distributed(device: torch.device) -> bool:
    """Initialise the default process group when launched by torchrun; returns True if so."""
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank())
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor from every rank along dim 0 (sizes may differ between ranks)."""
    if not is_distributed():
        return tensor
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = tensor.new_zeros((longest,) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(s.item())] for g, s in zip(gathered, sizes)], dim=0)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """All-reduce and average gradients.

    Used for the GAN steps, where one iteration runs the identity encoder several times on
    tensors that depend on each other (x, then the generated view, then the cycle image), which
    DistributedDataParallel's one-forward-one-backward bucketing does not support.
    """
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def assert_same_across_ranks(tensor: torch.Tensor, name: str, atol: float = 1e-5) -> None:
    """Raise when a tensor that must be replicated (memory, pseudo-labels) differs between ranks."""
    if not is_distributed():
        return
    local = tensor.detach().double().sum().reshape(1)
    gathered = [torch.zeros_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    values = [float(g) for g in gathered]
    if max(values) - min(values) > atol * max(1.0, abs(values[0])):
        raise RuntimeError(f"{name} differs between ranks (checksums {values}); "
                           "the distributed job is inconsistent")
