"""The adversarial trainer of the image + video discriminator models (ImaGINator, G3AN).

One iteration generates one batch of fakes, then updates both discriminators (D_V on whole clips,
D_I on ``MODEL.IMAGE_D_FRAMES`` random frames per clip; DCGAN binary cross-entropy on logits)
and then the generator against them, on the same fakes. A model's package supplies
:meth:`~BCEVideoGANTrainer.sample_noise` and :meth:`~BCEVideoGANTrainer.generate` and may
reshape the losses (:meth:`~BCEVideoGANTrainer.video_discriminator_loss`,
:meth:`~BCEVideoGANTrainer.generator_loss`, e.g. ImaGINator's wrong-label negatives and L1
reconstruction). The losses of a step are checked before each optimiser update, so a
non-finite loss leaves the weights as they were.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Callable, Optional

import torch
from torch import nn

from .adversarial import GANTrainer, Inputs
from .config import frame_size
from .discriminators import ImageDiscriminator, VideoDiscriminator2Plus1D, VideoDiscriminator3D
from .losses import bce_fake, bce_real, sample_frames

__all__ = ["BCEVideoGANTrainer", "build_bce_networks"]


def build_bce_networks(cfg, build_generator: Callable[[object], nn.Module]
                       ) -> dict[str, nn.Module]:
    """{"G", "D_I", "D_V"} at the configured sizes: the generator of ``build_generator(cfg)``,
    the image discriminator and the video discriminator of ``MODEL.VIDEO_D``."""
    m = cfg.MODEL
    video_d = VideoDiscriminator3D if m.VIDEO_D == "3d" else VideoDiscriminator2Plus1D
    size = frame_size(cfg)
    return {"G": build_generator(cfg), "D_I": ImageDiscriminator(m.BASE_CHANNELS, image_size=size),
            "D_V": video_d(m.BASE_CHANNELS, m.NUM_CLASSES, image_size=size)}


class BCEVideoGANTrainer(GANTrainer):
    """Generator ``G``, discriminators ``D_I`` / ``D_V`` and their Adam optimisers
    (``SOLVER.G_LR`` / ``SOLVER.D_LR``, ``SOLVER.BETAS``); networks already on their device."""

    def __init__(self, cfg, generator: nn.Module, image_discriminator: nn.Module,
                 video_discriminator: nn.Module):
        self.cfg = cfg
        self.G, self.D_I, self.D_V = generator, image_discriminator, video_discriminator
        betas = tuple(cfg.SOLVER.BETAS)
        self.opt_G = torch.optim.Adam(self.G.parameters(), cfg.SOLVER.G_LR, betas=betas)
        self.opt_D = torch.optim.Adam(list(self.D_I.parameters()) + list(self.D_V.parameters()),
                                      cfg.SOLVER.D_LR, betas=betas)
        self.iteration = 0
        self.num_classes = cfg.MODEL.NUM_CLASSES
        self.image_d_frames = cfg.MODEL.IMAGE_D_FRAMES

    @classmethod
    def from_config(cls, cfg, device, build_generator: Callable[[object], nn.Module]):
        """The networks of :func:`build_bce_networks` moved to ``device``, then the trainer."""
        nets = build_bce_networks(cfg, build_generator)
        return cls(cfg, nets["G"].to(device), nets["D_I"].to(device), nets["D_V"].to(device))

    @property
    def generator(self) -> nn.Module:
        return self.G

    # ----------------------------------------------------------------- the model's hooks
    @abstractmethod
    def sample_noise(self, batch_size: int, inputs: Inputs) -> tuple:
        """Latent codes of the fakes of this iteration (on the inputs' device)."""

    @abstractmethod
    def generate(self, inputs: Inputs, noise: tuple) -> torch.Tensor:
        """Fakes (B, 3, T, H, W) from ``noise`` and the real inputs (labels, frames)."""

    def video_discriminator_loss(self, inputs: Inputs, loss_real: torch.Tensor,
                                 loss_fake: torch.Tensor) -> torch.Tensor:
        """D_V's loss from its real and fake BCE terms (extra float terms go to
        ``inputs["extra"]``)."""
        return loss_real + loss_fake

    def generator_loss(self, inputs: Inputs, adversarial: torch.Tensor) -> torch.Tensor:
        """G's loss from its adversarial terms (extra float terms go to ``inputs["extra"]``)."""
        return adversarial

    # ----------------------------------------------------------------- the iteration
    def start_step(self, real: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Inputs:
        self.G.train(), self.D_I.train(), self.D_V.train()
        # ``fake_labels``: the labels D_V judges the fakes with; a model that draws several fakes
        # per real clip in ``generate`` replaces them by the labels of its fakes.
        inputs: Inputs = {"video": real, "labels": labels, "fake_labels": labels, "extra": {}}
        inputs["fake"] = fake = self.generate(inputs, self.sample_noise(real.shape[0], inputs))
        inputs["real_frames"] = sample_frames(real, self.image_d_frames)
        inputs["fake_frames"] = sample_frames(fake, self.image_d_frames)
        return inputs

    def discriminator_step(self, inputs: Inputs) -> dict[str, float]:
        real, labels, fake = inputs["video"], inputs["labels"], inputs["fake"]
        self.opt_D.zero_grad(set_to_none=True)
        loss_dv_real = bce_real(self.D_V(real, labels))
        loss_dv_fake = bce_fake(self.D_V(fake.detach(), inputs["fake_labels"]))
        loss_dv = self.video_discriminator_loss(inputs, loss_dv_real, loss_dv_fake)
        loss_di = (bce_real(self.D_I(inputs["real_frames"]))
                   + bce_fake(self.D_I(inputs["fake_frames"].detach())))
        inputs["d_terms"] = d_terms = {"D_video": loss_dv.item(), "D_image": loss_di.item()}
        # A non-finite loss stops before its optimiser step: the weights stay as they were.
        self.check_losses(dict(inputs["extra"], **d_terms), self.iteration + 1)
        (loss_dv + loss_di).backward()
        self.opt_D.step()
        return d_terms

    def generator_step(self, inputs: Inputs) -> dict[str, float]:
        fake = inputs["fake"]
        self.opt_G.zero_grad(set_to_none=True)
        loss_gv = bce_real(self.D_V(fake, inputs["fake_labels"]))
        loss_gi = bce_real(self.D_I(inputs["fake_frames"]))
        loss_g = self.generator_loss(inputs, loss_gv + loss_gi)
        g_terms = {"G_video": loss_gv.item(), "G_image": loss_gi.item(), "G_total": loss_g.item()}
        self.check_losses(dict(inputs["extra"], **inputs["d_terms"], **g_terms),
                          self.iteration + 1)
        loss_g.backward()
        self.opt_G.step()
        return g_terms

    def finish_step(self, inputs: Inputs, d_stats: dict, g_stats: dict) -> dict[str, float]:
        self.iteration += 1
        return dict(inputs["extra"], **d_stats, **g_stats)

    # ----------------------------------------------------------------- checkpoints
    def network_weights(self) -> dict:
        return {"G": self.G.state_dict(), "D_I": self.D_I.state_dict(),
                "D_V": self.D_V.state_dict()}

    def checkpoint_entries(self) -> dict:
        return {"G": self.G.state_dict(), "D_I": self.D_I.state_dict(),
                "D_V": self.D_V.state_dict(), "opt_G": self.opt_G.state_dict(),
                "opt_D": self.opt_D.state_dict()}

    def load_checkpoint_entries(self, state: dict, path: str, name: str) -> None:
        if state.get("model") != name:
            raise ValueError(f"checkpoint {path} holds a '{state.get('model')}' model; the config "
                             f"builds '{name}'")
        self.G.load_state_dict(state["G"])
        self.D_I.load_state_dict(state["D_I"])
        self.D_V.load_state_dict(state["D_V"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.iteration = int(state["iteration"])
