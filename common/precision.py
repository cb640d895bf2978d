"""Mixed precision: one switch (``SOLVER.PRECISION``) for the training forward passes.

``"fp32"`` runs everything in float32. ``"bf16"`` runs the forward passes under
``torch.autocast`` with bfloat16 on the CPU (fast on CPUs with AMX / AVX512-BF16) and on CUDA;
parameters, optimiser states, losses and the memory bank stay in float32, so no loss scaling is
needed. ``"auto"`` is bf16 where the device computes it in hardware (CUDA with bf16 support, a
CPU with AMX or AVX512-BF16) and fp32 elsewhere: on a CPU without them bf16 is emulated and a
ResNet-50 training step is about 20x slower than in fp32. ``"fp16"`` is CUDA only and needs a
``torch.amp.GradScaler``; it is not offered here.
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "auto")


def check_precision(precision: str) -> str:
    """The normalised precision name; a clear error for anything else."""
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"SOLVER.PRECISION must be one of {PRECISIONS}, got {precision!r}")
    return name


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # pragma: no cover - older torch
        return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"fp32"`` or ``"bf16"``: ``"auto"`` decided for ``device`` (see the module docstring)."""
    name = check_precision(precision)
    if name != "auto":
        return name
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device | str, precision: str = "fp32"):
    """Context manager for the forward passes of one training step."""
    name = resolve_precision(precision, device)
    if name == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 autocast is supported on cpu and cuda, not {device_type!r}")
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
