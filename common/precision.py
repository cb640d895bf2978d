"""Mixed precision: one switch (``SOLVER.PRECISION``) for the training forward passes.

``"fp32"`` runs everything in float32. ``"bf16"`` runs the forward passes under
``torch.autocast`` with bfloat16 on the CPU (fast on CPUs with AMX / AVX512-BF16) and on CUDA;
parameters, optimiser states, losses and the memory bank stay in float32, so no loss scaling is
needed. ``"fp16"`` (CUDA only: GPUs without bf16 such as V100, T4 or the 20xx series) runs them
under float16 autocast and scales every loss through a ``torch.amp.GradScaler``
(:func:`grad_scaler`, :func:`scaled`, :func:`step_optimizer`): gradients are unscaled before
each optimiser step, a step whose gradients hold inf / NaN is skipped and the scale shrinks.
``"auto"`` is bf16 where the device computes it in hardware (CUDA with bf16 support, a CPU with
AMX or AVX512-BF16) and fp32 elsewhere: on a CPU without them bf16 is emulated and a ResNet-50
training step is about 20x slower than in fp32; ``"auto"`` never picks fp16.

With fp32 and bf16 the scalers are disabled: :func:`scaled` returns the loss itself and
:func:`step_optimizer` calls ``optimizer.step()``, exactly as without them.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from common.config import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device | str | None = None) -> str:
    """The normalised precision name; a :class:`~common.config.ConfigError` (a ValueError)
    for an unknown name, or for ``"fp16"`` when ``device`` is given and is not a CUDA device."""
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ConfigError(f"SOLVER.PRECISION must be one of {PRECISIONS}, got {precision!r}")
    if name == "fp16" and device is not None and torch.device(device).type != "cuda":
        raise ConfigError(
            f"SOLVER.PRECISION {precision!r} needs a CUDA device (float16 autocast with "
            f"gradient scaling), but training runs on {str(device)!r}: use SOLVER.PRECISION "
            "fp32, bf16 or auto on this device")
    return name


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # pragma: no cover - older torch
        return False


#: What :func:`cpu_matrix_isa` can answer, widest first.
CPU_ISAS = ("amx", "avx512_bf16", "avx512", "avx2", "other")


def cpu_matrix_isa() -> str:
    """The widest matrix instructions of this CPU, as torch reports them: one of
    :data:`CPU_ISAS`. "amx" and "avx512_bf16" multiply bf16 in hardware; on the others bf16 is
    emulated (several times slower than float32)."""
    probes = (("amx", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported"),
              ("avx512", "_is_avx512_supported"), ("avx2", "_is_avx2_supported"))
    for name, probe in probes:
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return name
    return "other"


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"``: ``"auto"`` decided for ``device`` (see the module
    docstring); ``"fp16"`` off CUDA is an error."""
    name = check_precision(precision, device)
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
        raise ValueError(f"{name} autocast is supported on cpu and cuda, not {device_type!r}")
    return torch.autocast(device_type=device_type, dtype=_DTYPES[name])


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """The loss scaler of one group of optimisers stepped after the same backward pass:
    enabled with ``"fp16"``, disabled (a pass-through) otherwise."""
    name = resolve_precision(precision, device)
    return torch.amp.GradScaler(torch.device(device).type, enabled=name == "fp16")


def scaler_enabled(scaler: Optional[torch.amp.GradScaler]) -> bool:
    return scaler is not None and scaler.is_enabled()


def scaled(loss: torch.Tensor, scaler: Optional[torch.amp.GradScaler]) -> torch.Tensor:
    """``loss`` multiplied by the scaler's current scale (``loss`` itself when disabled)."""
    return scaler.scale(loss) if scaler_enabled(scaler) else loss


def step_optimizer(optimizer: Optional[torch.optim.Optimizer],
                   scaler: Optional[torch.amp.GradScaler] = None) -> None:
    """``optimizer.step()``; with an enabled scaler its gradients are unscaled first (unless
    already unscaled, e.g. for gradient clipping) and the step is skipped when they hold inf /
    NaN. An optimiser that averages its gradients across ranks (``scaled_step``) does so before
    the check, so that every rank skips or steps alike."""
    if optimizer is None:
        return
    if not scaler_enabled(scaler):
        optimizer.step()
    elif hasattr(optimizer, "scaled_step"):
        optimizer.scaled_step(scaler)
    else:
        scaler.step(optimizer)


def update_scaler(scaler: Optional[torch.amp.GradScaler]) -> None:
    """Adjust the scale once per iteration, after every optimiser of the scaler has stepped."""
    if scaler_enabled(scaler):
        scaler.update()


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      scaler: Optional[torch.amp.GradScaler] = None) -> None:
    """One optimiser's whole update from ``loss``: gradients released, the (scaled) backward
    pass, the step (skipped by an enabled scaler on inf / NaN gradients), the scale update."""
    optimizer.zero_grad(set_to_none=True)
    scaled(loss, scaler).backward()
    step_optimizer(optimizer, scaler)
    update_scaler(scaler)
