"""The interface every body model implements.

A body model maps pose and shape parameters to a batch of meshes that share one face list:

    out = model(pose=pose, shape=shape)        # BodyOutput
    out.vertices  (B, V, 3) float, metres, y up, the body facing +z
    out.faces     (F, 3)    long, shared by the batch
    out.joints    (B, J, 3) float

``pose`` and ``shape`` are model-specific tensors whose sizes the model reports through
``pose_dim`` / ``shape_dim``; ``model.neutral(batch)`` returns the rest parameters.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BodyOutput:
    vertices: torch.Tensor
    faces: torch.Tensor
    joints: torch.Tensor

    def check(self, source: str = "body model") -> "BodyOutput":
        """Fail with a clear message on an empty mesh or non-finite vertices."""
        if self.vertices.numel() == 0 or self.faces.numel() == 0:
            raise ValueError(f"{source}: empty mesh (vertices {tuple(self.vertices.shape)}, "
                             f"faces {tuple(self.faces.shape)})")
        bad = ~torch.isfinite(self.vertices).flatten(1).all(dim=1)
        if bad.any():
            items = bad.nonzero().flatten().tolist()
            raise ValueError(f"{source}: non-finite vertices in batch item(s) {items[:10]}")
        return self


class BodyModel(nn.Module, ABC):
    """Base class: subclasses set ``pose_dim``, ``shape_dim`` and implement :meth:`forward`."""

    name: str = "body"
    pose_dim: int = 0
    shape_dim: int = 0

    def neutral(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        device = next((b.device for b in self.buffers()), torch.device("cpu"))
        return (torch.zeros(batch, self.pose_dim, device=device),
                torch.zeros(batch, self.shape_dim, device=device))

    @abstractmethod
    def forward(self, pose: torch.Tensor, shape: torch.Tensor) -> BodyOutput:
        """Posed vertices and joints for (B, pose_dim) pose and (B, shape_dim) shape parameters."""
