"""Gradient-flow helpers: switch parameters on/off and count them."""
from __future__ import annotations

from typing import Iterable, Union

from torch import nn

Modules = Union[nn.Module, Iterable[nn.Module], None]


def _iter_modules(modules: Modules) -> Iterable[nn.Module]:
    if modules is None:
        return []
    if isinstance(modules, nn.Module):
        return [modules]
    return [m for m in modules if m is not None]


def set_requires_grad(modules: Modules, flag: bool) -> None:
    """Set ``requires_grad`` of every parameter of one module or a list of modules."""
    for module in _iter_modules(modules):
        for p in module.parameters():
            p.requires_grad_(flag)


def count_parameters(modules: Modules, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    seen: set[int] = set()
    total = 0
    for module in _iter_modules(modules):
        for p in module.parameters():
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
    return total
