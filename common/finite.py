"""Finite weights: find the tensors of a state dict that hold NaN or infinity, and refuse them.

A run whose learning rate explodes can end an epoch with finite losses but exploded weights:
NaN / infinite tensors, or finite ones so large (1e30 after one Adam step at an exploding
learning rate) that the model's outputs are NaN in eval mode. Saving those would replace the
last good checkpoint with one that every resume or sampling run fails on (or silently turns
into NaN / black images). So weights are checked before every save
(:func:`refuse_non_finite_save`: the tensors, and optionally the model's output on a fixed
probe input) and when generator weights are loaded (:func:`refuse_non_finite_load`); both raise
:class:`NonFiniteWeightsError` naming the first bad tensors.

>>> non_finite_tensors({"G": {"w": torch.tensor([1.0, float("nan")]), "b": torch.zeros(2)}})
['G.w']
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import torch
from torch import nn

SHOWN = 5
PROBE_SEED = 0

LastGood = Union[str, None, Callable[[], Optional[str]]]


class NonFiniteWeightsError(FloatingPointError):
    """Weights holding NaN or infinity (or producing it): not saved, not loaded. ``names``
    lists the non-finite tensors (empty when only the outputs are)."""

    def __init__(self, message: str, names: Sequence[str] = ()):
        super().__init__(message)
        self.names = list(names)


def _floating_tensors(state: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted name, tensor)`` of every floating-point tensor in ``state``: a module, a
    tensor, or nested mappings / lists / tuples of them."""
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() or state.is_complex():
            yield prefix or "<tensor>", state
        return
    if isinstance(state, Mapping):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    else:
        return
    for key, value in items:
        yield from _floating_tensors(value, f"{prefix}.{key}" if prefix else str(key))


def non_finite_tensors(state: Any) -> list[str]:
    """Dotted names of the floating-point tensors of ``state`` that hold NaN or infinity, in
    order (``state``: a module, a state dict, or nested mappings / lists of them)."""
    return [name for name, tensor in _floating_tensors(state)
            if not bool(torch.isfinite(tensor.detach()).all())]


def describe_non_finite(state: Any, names: Optional[Sequence[str]] = None,
                        shown: int = SHOWN) -> str:
    """``"71 of 85 tensors hold NaN or infinity (first: a, b, ...)"`` for ``state``."""
    names = non_finite_tensors(state) if names is None else list(names)
    total = sum(1 for _ in _floating_tensors(state))
    more = f", ... and {len(names) - shown} more" if len(names) > shown else ""
    return (f"{len(names)} of {total} tensors hold NaN or infinity "
            f"(first: {', '.join(names[:shown])}{more})")


def largest_weight(state: Any) -> tuple[str, float]:
    """``(name, largest absolute value)`` over the floating-point tensors of ``state``."""
    best = ("<none>", 0.0)
    for name, tensor in _floating_tensors(state):
        if tensor.numel():
            value = float(tensor.detach().abs().max())
            if value > best[1]:
                best = (name, value)
    return best


def probe_input(shape: Sequence[int], device: Union[str, torch.device] = "cpu",
                seed: int = PROBE_SEED) -> torch.Tensor:
    """A fixed batch uniform in [-1, 1] (its own generator: the global random state is left
    alone), e.g. ``(2, 3, H, W)`` images for an encoder."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(tuple(int(s) for s in shape), generator=generator) * 2 - 1).to(device)


@torch.no_grad()
def model_output(model: nn.Module, example: torch.Tensor) -> torch.Tensor:
    """``model(example)`` in eval mode (how features and samples are computed), without
    gradients; the module's train / eval mode is restored."""
    was_training = model.training
    model.eval()
    try:
        return model(example)
    finally:
        model.train(was_training)


def _last_good_name(last_good: LastGood) -> Optional[str]:
    return last_good() if callable(last_good) else last_good


def refuse_non_finite_save(state: Any, target: str, last_good: LastGood = None,
                           what: str = "checkpoint",
                           probe: Optional[Callable[[], torch.Tensor]] = None) -> None:
    """Raise :class:`NonFiniteWeightsError` instead of saving ``state`` as ``target`` (a path,
    or words such as ``"baseline epoch 2"``) when a tensor of ``state`` is NaN or infinite, or
    when ``probe()`` (the model run on a fixed input, e.g. via :func:`model_output`) is.

    ``last_good``: the newest checkpoint, which is kept (named in the message), None when no
    good one exists yet, or a function returning either (called only when the save is refused).
    """
    names = non_finite_tensors(state)
    if names:
        problem = f"the weights are not finite, {describe_non_finite(state, names)}"
    elif probe is not None and not bool(torch.isfinite(probe()).all()):
        name, value = largest_weight(state)
        problem = (f"the weights have exploded: they are finite (largest |w| {value:.3g} in "
                   f"{name}) but the model's output on a fixed probe input is NaN or infinite")
    else:
        return
    last = _last_good_name(last_good)
    kept = (f"the last good checkpoint {last} is kept (continue from it with a lower learning "
            "rate)" if last else
            "no good checkpoint exists yet: the weights diverged before the first save")
    raise NonFiniteWeightsError(f"refusing to save {what} {os.fspath(target)}: {problem}; "
                                f"training stops, {kept}", names)


def refuse_non_finite_load(state: Any, path: str, what: str = "weights") -> None:
    """Raise :class:`NonFiniteWeightsError` naming ``path`` when ``state`` (read from it) holds
    NaN or infinity; such a file was written after training diverged."""
    names = non_finite_tensors(state)
    if names:
        raise NonFiniteWeightsError(
            f"{what} {os.fspath(path)} are not finite: {describe_non_finite(state, names)}; "
            "the file was written after training diverged: use an earlier checkpoint or "
            "retrain with a lower learning rate", names)
