"""Mixed precision: one switch (``SOLVER.PRECISION``) for the training forward passes.

``"fp32"`` runs everything in float32. ``"bf16"`` runs the forward passes under
``torch.autocast`` with bfloat16 on the CPU (fast on CPUs with AMX / AVX512-BF16) and on CUDA;
parameters, optimiser states, losses and the memory bank stay in float32, so no loss scaling is
needed. ``"fp16"`` is CUDA only and needs a ``torch.amp.GradScaler``; it is not offered here.
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """The normalised precision name; a clear error for anything else."""
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"SOLVER.PRECISION must be one of {PRECISIONS}, got {precision!r}")
    return name


def autocast(device: torch.device | str, precision: str = "fp32"):
    """Context manager for the forward passes of one training step."""
    name = check_precision(precision)
    if name == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 autocast is supported on cpu and cuda, not {device_type!r}")
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
