"""Reflection-padded 2-D convolution whose autograd graph keeps the input, not its padded copy.

``F.conv2d(F.pad(x, p, mode="reflect"), w)`` (what ``nn.Conv2d(padding_mode="reflect")`` runs)
keeps two activations per layer for the backward pass: the padding node keeps ``x`` and the
convolution keeps the padded copy, larger than ``x`` by its border. :func:`reflect_conv2d` runs
the same two operations and records the same backward nodes, but the convolution's saved input
is packed (saved-tensor hooks) as a reference to ``x`` and padded again whenever a backward pass
reads it. Forward and backward passes therefore compute exactly what the plain form computes,
bit for bit, double backward included (the R1 penalty differentiates D's input gradient), and
the graph holds one padded activation less per layer; the price is one reflection pad per layer
and backward pass.

What stays as it was: the padding node's own saved input (under CPU bfloat16 autocast the pad
runs in float32 and keeps a float32 copy of ``x``), and the padded inputs a backward pass with
``create_graph`` re-creates for the graph of the gradient (R1's first-order pass through D
keeps them until the D step's backward pass).

:func:`keep_padded_inputs` switches back to the plain form in its block (a reference for tests
and measurements). Saved-tensor hooks set around a layer (offloading, activation checkpointing,
the benchmark's per-pass accounting) still see every tensor the layer keeps: the unpadded input
goes through them in place of the padded copy.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ReflectConv2d", "keep_padded_inputs", "reflect_conv2d", "reflection_pad"]


# ------------------------------------------------------------------------- reflection padding
def _fold_reflected(grad: torch.Tensor, dim: int, pad_before: int, pad_after: int) -> torch.Tensor:
    """Adjoint of reflection padding along ``dim``: the interior plus the mirrored borders."""
    size = grad.shape[dim] - pad_before - pad_after
    out = grad.narrow(dim, pad_before, size).clone(memory_format=torch.preserve_format)
    if pad_before:
        out.narrow(dim, 1, pad_before).add_(grad.narrow(dim, 0, pad_before).flip(dim))
    if pad_after:
        out.narrow(dim, size - 1 - pad_after, pad_after).add_(
            grad.narrow(dim, size + pad_before, pad_after).flip(dim))
    return out


class _ChannelsLastReflectionPad(torch.autograd.Function):
    """Reflection padding of H and W that keeps a channels-last tensor channels-last, forward
    and backward (the 2D kernel returns NCHW and the 3D kernel's backward is slow)."""

    @staticmethod
    def forward(ctx, x, left: int, right: int, top: int, bottom: int):
        ctx.padding = (left, right, top, bottom)
        y = F.pad(x.permute(0, 2, 3, 1).unsqueeze(1), (0, 0, left, right, top, bottom), mode="reflect")
        return y.squeeze(1).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad):
        left, right, top, bottom = ctx.padding
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad = _fold_reflected(_fold_reflected(grad, 3, left, right), 2, top, bottom)
        return grad, None, None, None, None


def reflection_pad(x: torch.Tensor, padding) -> torch.Tensor:
    """``F.pad(x, padding, mode="reflect")`` for (N, C, H, W) that keeps channels-last tensors
    channels-last (every padded convolution of a channels-last network would otherwise convert
    the activation and its gradient twice)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return _ChannelsLastReflectionPad.apply(x, *(int(p) for p in padding))
    return F.pad(x, tuple(padding), mode="reflect")


# ------------------------------------------------------------------ the saved input, unpadded
_KEEP_PADDED = contextvars.ContextVar("gcl_keep_padded_inputs", default=False)


@contextlib.contextmanager
def keep_padded_inputs():
    """Within the block, reflection-padded convolutions save their padded input as a plain
    ``F.conv2d(F.pad(...))`` does (the reference the memory-lean form is checked against)."""
    token = _KEEP_PADDED.set(True)
    try:
        yield
    finally:
        _KEEP_PADDED.reset(token)


def _outer_saved_tensor_hooks():
    """The (pack, unpack) pair a tensor saved right now would go through, or None."""
    top = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
    return None if top is None else top(False)


def _hooks_allowed() -> bool:
    """False where saved-tensor hooks are switched off (pushing some would raise)."""
    enabled = getattr(torch._C._autograd, "_saved_tensors_hooks_is_enabled", None)
    return True if enabled is None else bool(enabled())


def _saves_unpadded(*tensors: Optional[torch.Tensor]) -> bool:
    """True when the call records a graph that would keep the padded input."""
    if _KEEP_PADDED.get() or not torch.is_grad_enabled():
        return False
    if torch.jit.is_scripting() or torch.jit.is_tracing() or not _hooks_allowed():
        return False
    return any(t is not None and t.requires_grad for t in tensors)


class _Layout(NamedTuple):
    """What identifies one tensor among those an operation saves (plain values, so that the
    graph does not keep the tensor alive)."""

    storage: int
    offset: int
    shape: tuple
    strides: tuple
    dtype: torch.dtype
    device: torch.device


def _layout(t: torch.Tensor) -> _Layout:
    return _Layout(t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
                   t.stride(), t.dtype, t.device)


class _Unpadded:
    """What the graph keeps in place of the padded input: the input (or what the outer hooks
    made of it), the padding, the input's version when it was saved, the dtype the padding ran
    in and the dtype of the saved tensor (they differ under autocast: see
    :meth:`_UnpaddedInputHooks.is_padded_input`)."""

    __slots__ = ("source", "padding", "version", "pad_dtype", "saved_dtype")

    def __init__(self, source, padding: tuple, version: int, pad_dtype: torch.dtype,
                 saved_dtype: torch.dtype):
        self.source = source
        self.padding = padding
        self.version = version
        self.pad_dtype = pad_dtype
        self.saved_dtype = saved_dtype


class _UnpaddedInputHooks:
    """Saved-tensor hooks of one convolution call: the padded input (recognised by its layout)
    is packed as the unpadded ``x``; every other tensor is packed as it would be without them
    (by the outer hooks when there are any)."""

    def __init__(self, x: torch.Tensor, padded: torch.Tensor, padding: Sequence[int]):
        self.source: Optional[torch.Tensor] = x.detach()  # shares x's storage and version counter
        self.padded_layout: Optional[_Layout] = _layout(padded)
        self.padding = tuple(int(p) for p in padding)
        self.pad_dtype = padded.dtype
        self.outer = _outer_saved_tensor_hooks()

    def release(self) -> None:
        """Drop the references the pack hook needs only during the call (the graph keeps the
        hooks as long as it keeps the tensors they packed)."""
        self.source = None
        self.padded_layout = None

    def _pack_plain(self, t: torch.Tensor):
        return self.outer[0](t) if self.outer is not None else t.detach()

    def is_padded_input(self, t: torch.Tensor) -> bool:
        """True for the convolution's saved input: the padded tensor itself or, under autocast,
        its copy in the autocast dtype (same shape and strides, other dtype; CPU autocast pads in
        float32 and the convolution casts the result). The convolution saves its input before
        its weight, and the first match is taken (:meth:`pack`)."""
        layout, padded = _layout(t), self.padded_layout
        if layout == padded:
            return True
        return (t.is_floating_point() and layout.dtype != padded.dtype
                and (layout.shape, layout.strides, layout.device)
                == (padded.shape, padded.strides, padded.device))

    def pack(self, t: torch.Tensor):
        if self.source is not None and self.is_padded_input(t):
            source, self.source = self.source, None  # one saved copy per call
            return _Unpadded(self._pack_plain(source), self.padding, source._version,
                             self.pad_dtype, t.dtype)
        return self._pack_plain(t)

    def unpack(self, packed) -> torch.Tensor:
        if not isinstance(packed, _Unpadded):
            return self.outer[1](packed) if self.outer is not None else packed
        if self.outer is not None:
            source = self.outer[1](packed.source)
        else:
            source = packed.source
            if source._version != packed.version:
                raise RuntimeError(
                    f"ReflectConv2d: the input of a reflection-padded convolution (shape "
                    f"{tuple(source.shape)}) was modified in place after the forward pass "
                    f"(version {packed.version}, now {source._version}); the backward pass pads "
                    f"it again and needs it unchanged. Modify a copy instead, or run the layer "
                    f"under keep_padded_inputs().")
        with torch.no_grad():  # the casts autocast made around the padding, if any
            padded = reflection_pad(source.to(packed.pad_dtype), packed.padding)
            return padded.to(packed.saved_dtype)


def reflect_conv2d(x: torch.Tensor, padding: Sequence[int], weight: torch.Tensor,
                   bias: Optional[torch.Tensor] = None, stride=1, dilation=1,
                   groups: int = 1) -> torch.Tensor:
    """``F.conv2d(reflection_pad(x, padding), weight, bias, stride, 0, dilation, groups)``, the
    same values and gradients, with the graph keeping ``x`` instead of the padded input
    (module docstring). ``padding``: (left, right, top, bottom) as for ``F.pad``."""
    padded = reflection_pad(x, padding)
    if not _saves_unpadded(x, weight, bias):
        return F.conv2d(padded, weight, bias, stride, 0, dilation, groups)
    hooks = _UnpaddedInputHooks(x, padded, padding)
    try:
        with torch.autograd.graph.saved_tensors_hooks(hooks.pack, hooks.unpack):
            return F.conv2d(padded, weight, bias, stride, 0, dilation, groups)
    finally:
        hooks.release()


class ReflectConv2d(nn.Conv2d):
    """``nn.Conv2d(..., padding_mode="reflect")`` (same parameters and state dict) whose padding
    keeps channels-last activations channels-last (:func:`reflection_pad`) and whose graph keeps
    the unpadded input (:func:`reflect_conv2d`)."""

    def __init__(self, *args, **kwargs):
        kwargs["padding_mode"] = "reflect"
        super().__init__(*args, **kwargs)

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]):
        return reflect_conv2d(x, self._reversed_padding_repeated_twice, weight, bias,
                              self.stride, self.dilation, self.groups)
