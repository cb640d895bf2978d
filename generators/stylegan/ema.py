"""Exponential moving average of generator weights (the copy used for sampling)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """Keeps ``shadow`` = EMA of ``model``'s parameters; buffers are copied verbatim.

    ``decay`` may be given directly or from a half-life in images (StyleGAN2: 10k images):
    ``decay = 0.5 ** (batch_size / half_life_images)``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1); got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @staticmethod
    def decay_from_half_life(batch_size: int, half_life_images: float = 10000.0) -> float:
        return 0.5 ** (batch_size / max(half_life_images, 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema_p, p in zip(self.shadow.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.shadow.buffers(), model.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.shadow.load_state_dict(state["shadow"])
