"""G3AN's adversarial hooks on the image + video discriminator trainer: fakes from (z_a, z_m)
[and the real clips' labels when conditional]; D_V on whole clips, D_I on
``MODEL.IMAGE_D_FRAMES`` random frames, DCGAN BCE."""
from __future__ import annotations

import torch

from ..adversarial import Inputs
from ..bce_training import BCEVideoGANTrainer
from . import hooks


class G3ANTrainer(BCEVideoGANTrainer):
    """``step(real (B, 3, T, 64, 64)[, labels])`` -> losses."""

    def sample_noise(self, batch_size: int, inputs: Inputs) -> tuple:
        return hooks.sample_noise(self.G, self.cfg, batch_size, inputs["video"].device)

    def generate(self, inputs: Inputs, noise: tuple) -> torch.Tensor:
        return hooks.generate(self.G, self.cfg, noise, inputs["labels"])


def build_trainer(cfg, device) -> G3ANTrainer:
    return G3ANTrainer.from_config(cfg, device, hooks.build_generator)
