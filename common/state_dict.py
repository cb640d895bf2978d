"""Loading external checkpoints with an explicit report of missing and unexpected keys.

Nothing is dropped silently: the caller gets a :class:`KeyReport` and the report is logged; with
``strict=True`` any mismatch is an error that lists the keys by name.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import torch
from torch import nn

_logger = logging.getLogger("reid")

# Wrappers that common training code puts around the real weights.
_CONTAINER_KEYS = ("state_dict", "model", "model_state", "module", "net", "encoder", "E_id")
_PREFIXES = ("module.", "model.", "encoder.", "backbone_module.")


@dataclass
class KeyReport:
    """What happened when a state dict was loaded into a module."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self, limit: int = 20) -> str:
        lines = [f"loaded {len(self.loaded)} tensors from {self.source}"]
        for title, keys in (("missing (left at their initial values)", self.missing),
                            ("unexpected (ignored)", self.unexpected),
                            ("shape mismatch (left at their initial values)", self.shape_mismatch)):
            if keys:
                shown = ", ".join(keys[:limit])
                more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
                lines.append(f"  {len(keys)} {title}: {shown}{more}")
        return "\n".join(lines)


def read_checkpoint(path: str, trust_pickle: bool | None = None) -> Mapping[str, torch.Tensor]:
    """Read a checkpoint file weights-only and return the innermost tensor mapping."""
    from .serialization import load_checkpoint_file

    return unwrap_state_dict(load_checkpoint_file(path, trust_pickle=trust_pickle), path)


def unwrap_state_dict(obj, source: str = "<object>") -> Mapping[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    seen = 0
    while isinstance(obj, Mapping) and seen < 4:
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        inner = next((obj[k] for k in _CONTAINER_KEYS if k in obj and isinstance(obj[k], Mapping)),
                     None)
        if inner is None:
            break
        obj, seen = inner, seen + 1
    if isinstance(obj, Mapping) and obj:
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise RuntimeError(f"{source}: no state dict found (expected a mapping of tensors, or one under "
                       f"one of the keys {', '.join(_CONTAINER_KEYS)})")


def _strip_prefixes(state: Mapping[str, torch.Tensor], wanted: Iterable[str]) -> dict:
    wanted = set(wanted)
    state = dict(state)
    for prefix in _PREFIXES:
        if state and not (set(state) & wanted) and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_dict_with_report(module: nn.Module, state: Mapping[str, torch.Tensor] | str,
                                strict: bool = False, source: str | None = None,
                                logger: logging.Logger | None = None) -> KeyReport:
    """Load what fits, report the rest by name; ``strict=True`` raises on any mismatch."""
    if isinstance(state, (str, os.PathLike)):
        source = source or os.fspath(state)
        state = read_checkpoint(os.fspath(state))
    source = source or "<state dict>"
    own = module.state_dict()
    state = _strip_prefixes(state, own.keys())
    report = KeyReport(source=source)
    usable = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            report.shape_mismatch.append(
                f"{key} (checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)})")
        else:
            usable[key] = value
            report.loaded.append(key)
    report.missing = [k for k in own if k not in usable and not any(
        m.startswith(k + " ") for m in report.shape_mismatch)]
    if strict and not report.clean:
        raise RuntimeError("checkpoint does not match the model:\n" + report.summary())
    module.load_state_dict({**own, **usable}, strict=True)
    (logger or _logger).info(report.summary())
    return report
