"""The adversarial-trainer base class of every video GAN: one training iteration split into hooks.

:meth:`GANTrainer.step` runs ``start_step`` (the real inputs of the iteration, training modes),
``discriminator_step``, ``generator_step`` and ``finish_step`` (counters, EMA, the returned
losses). The two families of the package fill the hooks in shared modules, and each model's
package supplies the rest (its noise, its generation, its extra loss terms):

* :class:`generators.bce_training.BCEVideoGANTrainer`: image + video discriminators with binary
  cross-entropy, one generated batch per iteration (ImaGINator, G3AN);
* :class:`generators.stylegan.training.AdversarialTrainer`: non-saturating logistic loss, lazy
  R1 and a generator EMA (InMoDeGAN, MoStGAN-V).

A trainer also says what its checkpoint holds (:meth:`checkpoint_entries`,
:meth:`load_checkpoint_entries`) and which weights are checked before a save
(:meth:`network_weights`); :class:`generators.training.VideoGANTrainer` runs it with data,
logging, samples and checkpoints.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Mapping, Optional

import torch
from torch import nn

Inputs = dict

__all__ = ["GANTrainer", "Inputs"]


class GANTrainer(ABC):
    """One adversarial iteration over a real batch, through overridable hooks.

    Subclasses set ``generator`` (the trained network) and ``iteration`` (finished
    iterations) and implement :meth:`discriminator_step` and :meth:`generator_step`.
    """

    generator: nn.Module
    iteration: int
    #: Called as ``loss_check(terms, iteration)`` with the float losses of a step before its
    #: optimiser updates (raises to stop a diverged run); ``None``: no check inside steps.
    loss_check: Optional[Callable[[Mapping[str, float], int], None]] = None

    def step(self, real: torch.Tensor, labels: Optional[torch.Tensor] = None
             ) -> dict[str, float]:
        """One iteration on real clips (B, 3, T, H, W) [and their labels]: float losses."""
        inputs = self.start_step(real, labels)
        d_stats = self.discriminator_step(inputs)
        g_stats = self.generator_step(inputs)
        return self.finish_step(inputs, d_stats, g_stats)

    # ----------------------------------------------------------------- hooks
    def start_step(self, real: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Inputs:
        """What both steps of the iteration see (by default the real clips and labels)."""
        return {"video": real, "labels": labels}

    def sample_noise(self, batch_size: int, inputs: Inputs):
        """Latent codes of ``batch_size`` fakes for this iteration (on the inputs' device)."""
        return self.generator.sample_noise(batch_size, device=inputs["video"].device)

    @abstractmethod
    def discriminator_step(self, inputs: Inputs) -> dict[str, float]:
        """Update the discriminator(s); returns their float losses."""

    @abstractmethod
    def generator_step(self, inputs: Inputs) -> dict[str, float]:
        """Update the generator; returns its float losses."""

    def finish_step(self, inputs: Inputs, d_stats: dict, g_stats: dict) -> dict[str, float]:
        """After both updates; returns the iteration's losses."""
        return {**d_stats, **g_stats}

    def check_losses(self, terms: Mapping[str, float], iteration: int) -> None:
        """Hand ``terms`` to :attr:`loss_check` when one is set."""
        if self.loss_check is not None:
            self.loss_check(terms, iteration)

    # ----------------------------------------------------------------- weights
    @property
    def sampling_generator(self) -> nn.Module:
        """The generator that samples are drawn from (by default the trained one)."""
        return self.generator

    @abstractmethod
    def network_weights(self) -> dict:
        """``{name: state dict}`` of every trained network."""

    @abstractmethod
    def checkpoint_entries(self) -> dict:
        """The entries of a run's checkpoint that belong to the trainer (networks,
        optimisers), including ``"G"``: the weights sampling loads."""

    @abstractmethod
    def load_checkpoint_entries(self, state: dict, path: str, name: str) -> None:
        """Restore from a checkpoint of :meth:`checkpoint_entries` (written at ``path`` by a
        run of model ``name``), the iteration included; refuses another model's file."""
