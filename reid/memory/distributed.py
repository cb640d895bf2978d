"""Keep memory updates identical on every rank under DistributedDataParallel."""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_gather_tensors(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0 (rank order); a no-op without torch.distributed.

    Ranks may hold different batch sizes: tensors are padded to the largest one for the collective
    and trimmed afterwards. The result carries no gradient.
    """
    if not is_distributed():
        return tensor
    world = dist.get_world_size()
    size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes_int = [int(s.item()) for s in sizes]
    longest = max(sizes_int)
    padded = tensor.new_zeros((longest,) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor.detach()
    gathered = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes_int)], dim=0)
