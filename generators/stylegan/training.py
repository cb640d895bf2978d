"""One adversarial training iteration of a style-based video GAN: D step, lazy R1, G step, EMA.

:class:`AdversarialTrainer` fills the hooks of :class:`generators.adversarial.GANTrainer` for the
StyleGAN2 family. Models plug in by subclassing it and defining what the discriminator sees from
a real batch (:meth:`real_inputs`), how fakes are made for the same batch (:meth:`fake_inputs`,
which may also return extra generator losses such as a regulariser; its latent codes come from
:meth:`~generators.adversarial.GANTrainer.sample_noise`) and how the discriminator scores an
input (:meth:`discriminate`, a list of ``(logits, weight)`` pairs so that several
discriminators, e.g. an image D and a temporal pyramid, combine with their weights).
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Optional

import torch
from torch import nn

from ..adversarial import GANTrainer
from .ema import GeneratorEMA
from .losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty

Inputs = dict[str, torch.Tensor]
Scored = list[tuple[torch.Tensor, float]]


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class AdversarialTrainer(GANTrainer):
    """Non-saturating logistic loss with lazy R1 (weight ``r1_gamma / 2``, applied every
    ``r1_interval`` iterations and scaled by the interval) and an optional generator EMA.

    ``step(real)`` runs one iteration on a real batch and returns the losses as floats: real
    inputs, D step (+ lazy R1), G step, EMA update.
    """

    r1_key = "video"

    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 g_optimizer: torch.optim.Optimizer, d_optimizer: torch.optim.Optimizer,
                 r1_gamma: float = 10.0, r1_interval: int = 16,
                 ema_decay: Optional[float] = 0.999):
        if r1_interval < 1:
            raise ValueError(f"r1_interval must be >= 1; got {r1_interval}")
        self.generator, self.discriminator = generator, discriminator
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.r1_gamma, self.r1_interval = r1_gamma, r1_interval
        self.ema = GeneratorEMA(generator, ema_decay) if ema_decay is not None else None
        self.iteration = 0

    # ----------------------------------------------------------------- hooks for the models
    def real_inputs(self, real: torch.Tensor) -> Inputs:
        return {"video": real}

    @abstractmethod
    def fake_inputs(self, batch_size: int, real: Inputs) -> tuple[Inputs, dict[str, torch.Tensor]]:
        """Generated inputs for D (with graph to G) and extra generator-loss terms."""

    @abstractmethod
    def discriminate(self, inputs: Inputs) -> Scored:
        """D scores of real or generated inputs."""

    # ----------------------------------------------------------------- the iteration
    @staticmethod
    def _batch_size(inputs: Inputs) -> int:
        return next(iter(inputs.values())).shape[0]

    def discriminator_step(self, real: Inputs) -> dict[str, float]:
        _requires_grad(self.generator, False)
        _requires_grad(self.discriminator, True)
        with torch.no_grad():
            fake, _ = self.fake_inputs(self._batch_size(real), real)
        real_scores = self.discriminate(real)
        fake_scores = self.discriminate(fake)
        loss = sum(w * d_logistic_loss(r, f) for (r, w), (f, _) in zip(real_scores, fake_scores))
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        stats = {"loss_d": float(loss.detach()),
                 "real_score": float(sum(r.detach().mean() for r, _ in real_scores)
                                     / len(real_scores)),
                 "fake_score": float(sum(f.detach().mean() for f, _ in fake_scores)
                                     / len(fake_scores))}
        if self.r1_gamma > 0 and self.iteration % self.r1_interval == 0:
            stats["r1"] = self.r1_step(real)
        return stats

    def r1_step(self, real: Inputs) -> float:
        real = dict(real)
        real[self.r1_key] = real[self.r1_key].detach().requires_grad_(True)
        scores = self.discriminate(real)
        penalty = sum(w * r1_penalty(logits, real[self.r1_key]) for logits, w in scores)
        loss = 0.5 * self.r1_gamma * self.r1_interval * penalty
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return float(penalty.detach())

    def generator_step(self, real: Inputs) -> dict[str, float]:
        _requires_grad(self.generator, True)
        _requires_grad(self.discriminator, False)
        fake, extra = self.fake_inputs(self._batch_size(real), real)
        adversarial = sum(w * g_nonsaturating_loss(f) for f, w in self.discriminate(fake))
        loss = adversarial + sum(extra.values()) if extra else adversarial
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        _requires_grad(self.discriminator, True)
        stats = {"loss_g": float(loss.detach()), "loss_g_adv": float(adversarial.detach())}
        stats.update({k: float(v.detach()) for k, v in extra.items()})
        return stats

    def start_step(self, real: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Inputs:
        """The discriminator's view of the real clips; counts the iteration (lazy R1 runs when
        it is a multiple of ``r1_interval``). The models are unconditional: no labels."""
        inputs = self.real_inputs(real)
        self.iteration += 1
        self.generator.train()
        self.discriminator.train()
        return inputs

    def finish_step(self, inputs: Inputs, d_stats: dict, g_stats: dict) -> dict[str, float]:
        if self.ema is not None:
            self.ema.update(self.generator)
        return super().finish_step(inputs, d_stats, g_stats)

    def state_dict(self) -> dict:
        """Everything needed to resume exactly (networks, optimisers, EMA, iteration)."""
        return {"generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(),
                "d_optimizer": self.d_optimizer.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "iteration": self.iteration}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.iteration = int(state["iteration"])

    @property
    def sampling_generator(self) -> nn.Module:
        """The EMA copy when kept, else the trained generator."""
        return self.ema.shadow if self.ema is not None else self.generator

    def network_weights(self) -> dict:
        weights = {"G": self.generator.state_dict(), "D": self.discriminator.state_dict()}
        if self.sampling_generator is not self.generator:
            weights["G_ema"] = self.sampling_generator.state_dict()
        return weights

    def checkpoint_entries(self) -> dict:
        """``trainer`` (everything :meth:`state_dict` holds) and ``G`` (the sampling
        generator)."""
        return {"trainer": self.state_dict(), "G": self.sampling_generator.state_dict()}

    def load_checkpoint_entries(self, state: dict, path: str, name: str) -> None:
        if state.get("model") != name or "trainer" not in state:
            raise ValueError(f"checkpoint {path} holds a '{state.get('model')}' run; the config "
                             f"trains '{name}'")
        self.load_state_dict(state["trainer"])
