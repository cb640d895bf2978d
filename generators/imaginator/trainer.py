"""ImaGINator's adversarial hooks (thesis algorithm 1) on the image + video discriminator trainer:
the input image is the first frame of each real clip; real clips with a wrong label are extra
negatives of D_V (half weight, with the fakes); G adds ``SOLVER.RECON_WEIGHT`` x the L1
reconstruction of the real clip.

``SOLVER.RECON_SAMPLES`` = K > 1 (not in the thesis; the paper configs keep 1) draws K fakes per
real clip, each with its own noise: both discriminators judge all of them and the L1 term keeps,
per clip, the closest one (:func:`~generators.losses.best_of_samples_l1`). One frame does not
fix the direction of a motion (a leg half-way forward is on its way forward or back), so the
single-sample L1 pays for the average of the futures, a clip that hardly moves."""
from __future__ import annotations

import torch

from ..adversarial import Inputs
from ..bce_training import BCEVideoGANTrainer
from ..losses import bce_fake, best_of_samples_l1, reconstruction_l1, wrong_labels
from . import hooks


class ImaginatorTrainer(BCEVideoGANTrainer):
    """``step(real (B, 3, 32, H, W), labels)`` -> losses."""

    @property
    def samples_per_clip(self) -> int:
        return int(self.cfg.SOLVER.RECON_SAMPLES)

    def sample_noise(self, batch_size: int, inputs: Inputs) -> tuple:
        return hooks.sample_noise(self.G, self.cfg, batch_size * self.samples_per_clip,
                                  inputs["video"].device)

    def generate(self, inputs: Inputs, noise: tuple) -> torch.Tensor:
        images, labels = inputs["video"][:, :, 0], inputs["labels"]
        if self.samples_per_clip > 1:
            images = images.repeat_interleave(self.samples_per_clip, dim=0)
            if labels is not None:
                labels = labels.repeat_interleave(self.samples_per_clip, dim=0)
            inputs["fake_labels"] = labels
        return hooks.generate(self.G, self.cfg, noise, labels, images)

    def video_discriminator_loss(self, inputs: Inputs, loss_real: torch.Tensor,
                                 loss_fake: torch.Tensor) -> torch.Tensor:
        if not (self.num_classes > 1 and self.cfg.SOLVER.WRONG_LABEL_NEGATIVES):
            return super().video_discriminator_loss(inputs, loss_real, loss_fake)
        wrong = wrong_labels(inputs["labels"], self.num_classes)
        loss_wrong = bce_fake(self.D_V(inputs["video"], wrong))
        inputs["extra"]["D_V_wrong_label"] = loss_wrong.item()
        return loss_real + 0.5 * (loss_wrong + loss_fake)

    def generator_loss(self, inputs: Inputs, adversarial: torch.Tensor) -> torch.Tensor:
        if self.samples_per_clip == 1:  # the thesis's term, bit for bit as before the option
            loss_rec = reconstruction_l1(inputs["fake"], inputs["video"])
        else:
            loss_rec = best_of_samples_l1(inputs["fake"], inputs["video"])
        inputs["extra"]["G_reconstruction_l1"] = loss_rec.item()
        return adversarial + self.cfg.SOLVER.RECON_WEIGHT * loss_rec


def build_trainer(cfg, device) -> ImaginatorTrainer:
    return ImaginatorTrainer.from_config(cfg, device, hooks.build_generator)
