"""Training of any registered video GAN: :func:`build_trainer` is what
``tools/train_video_gan.py`` runs.

:class:`VideoGANTrainer` is the one run class: it takes the model's adversarial trainer from the
registry (``spec.build_trainer``, a :class:`~generators.adversarial.GANTrainer` whose hooks the
model's package fills) and adds the data stream, sample grids, logging and checkpoints of
:class:`~generators.train_loop.TrainingLoop`.

ImaGINator (algorithm 1): D_V sees real (x, c) as positives and generated (G(c_a, c, z), c) plus
real-with-wrong-label (x, c_wrong) as negatives (half weight each); D_I sees N random frames of
real and generated clips; G minimises the BCE of both discriminators plus
``SOLVER.RECON_WEIGHT * |x - G(...)|_1``. The input image c_a is the first frame of the clip.
G3AN: D_V on whole clips, D_I on ``MODEL.IMAGE_D_FRAMES`` random frames, DCGAN BCE.
InMoDeGAN / MoStGAN-V: non-saturating loss, lazy R1, generator EMA (samples and
``generator_final.pth`` use the EMA generator when one is kept).

Checkpoints (``OUTPUT_DIR/checkpoint_last.pth``, atomic) hold every network, optimiser, the
iteration and the random states; a run restarts from it when ``SOLVER.RESUME``. A non-finite
loss stops the run (:class:`~generators.train_loop.VideoGANDivergedError`; the image + video
discriminator models check before each optimiser step) and non-finite weights are never saved,
so the last good checkpoint stays. TensorBoard scalars go to ``OUTPUT_DIR/tb``; sample grids
(PNG strip + GIF) to ``OUTPUT_DIR/samples``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from common.seed import get_rng_state, set_rng_state
from common.serialization import load_checkpoint_file

from .data import build_dataset, generator_frames  # noqa: F401 (re-exported)
from .registry import get_video_gan, video_gan_of
from .train_loop import (CHECKPOINT_NAME, FINAL_NAME, TrainingLoop,  # noqa: F401 (re-exported)
                         preserved_random_streams)

__all__ = ["VideoGANTrainer", "build_dataset", "build_generator", "build_trainer",
           "generator_frames"]


def build_generator(cfg) -> nn.Module:
    """The generator of ``MODEL.NAME`` at the configured sizes (randomly initialised)."""
    return video_gan_of(cfg).build_generator(cfg)


class VideoGANTrainer(TrainingLoop):
    """Owns the adversarial trainer (``model``), data stream, logging and checkpoints of one run."""

    def __init__(self, cfg, dataset: Dataset | None = None, device: str | None = None):
        self._start_run(cfg, dataset, device)
        self.spec = get_video_gan(self.name)
        self.model = self.spec.build_trainer(cfg, self.device)
        self.model.loss_check = self.check_losses
        loader_rng = torch.Generator().manual_seed(cfg.SEED)
        self.loader = DataLoader(self.dataset, batch_size=cfg.SOLVER.BATCH_SIZE, shuffle=True,
                                 drop_last=len(self.dataset) >= cfg.SOLVER.BATCH_SIZE,
                                 num_workers=cfg.DATA.NUM_WORKERS, generator=loader_rng)
        self._fixed = None

    @property
    def iteration(self) -> int:
        return self.model.iteration

    @property
    def G(self) -> nn.Module:
        """The trained generator."""
        return self.model.generator

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator samples and ``generator_final.pth`` come from (an EMA copy when the
        model keeps one)."""
        return self.model.sampling_generator

    def step(self, batch: dict) -> dict[str, float]:
        """One iteration of the model's trainer on a loader batch; returns the scalar losses."""
        labels = None
        if self.cfg.MODEL.NUM_CLASSES:
            labels = torch.as_tensor(batch["label"]).to(self.device)
        return self.model.step(batch["video"].to(self.device), labels)

    # ----------------------------------------------------------------------------- checkpoints
    def network_weights(self) -> dict:
        return self.model.network_weights()

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "model": self.name,
                **self.model.checkpoint_entries(),
                "dataset_rng": self.dataset.rng.getstate() if hasattr(self.dataset, "rng") else None,
                "rng": get_rng_state(), "train_seconds": self.train_seconds,
                "config": self.cfg.dump()}

    def load_checkpoint(self, path: str) -> None:
        state = load_checkpoint_file(path, map_location=self.device,
                                     what="video-GAN checkpoint")
        self.model.load_checkpoint_entries(state, path, self.name)
        set_rng_state(state["rng"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        if state.get("dataset_rng") is not None and hasattr(self.dataset, "rng"):
            self.dataset.rng.setstate(state["dataset_rng"])

    def final_generator_state(self) -> dict:
        return {"model": self.name, "G": self.sampling_generator.state_dict(),
                "config": self.cfg.dump()}

    # ----------------------------------------------------------------------------- samples
    @torch.no_grad()
    def render_fixed_samples(self, count: int = 8) -> torch.Tensor:
        """Clips of the sampling generator in eval mode from fixed inputs: seeded noise, and for
        a conditioned model the first clips' labels / first frames (read once)."""
        generator = self.sampling_generator
        noise, labels, images = self._fixed or self._fixed_inputs(generator, count)
        was_training = generator.training
        generator.eval()
        try:
            return self.spec.generate(generator, self.cfg, noise, labels, images)
        finally:
            generator.train(was_training)

    def _fixed_inputs(self, generator: nn.Module, count: int) -> tuple:
        gen = torch.Generator().manual_seed(self.cfg.SEED + 7)
        labels = images = None
        if self.spec.conditioning:
            count = min(count, len(self.dataset))
            items = self._first_clips(count)
            video = torch.stack([it["video"] for it in items]).to(self.device)
            if self.cfg.MODEL.NUM_CLASSES:
                labels = torch.tensor([max(0, it["label"]) for it in items], device=self.device)
            if self.spec.image_conditioned:
                images = video[:, :, 0]
        noise = tuple(t.to(self.device) for t in
                      self.spec.sample_noise(generator, self.cfg, count, "cpu", gen))
        fixed = (noise, labels, images)
        if self.spec.conditioning:  # the clips are read once; noise alone is drawn again
            self._fixed = fixed
        return fixed

    def _first_clips(self, count: int) -> list[dict]:
        """The first ``count`` clips, drawn without moving the dataset's random stream: taking
        the fixed sample inputs (at the first sample grid or checkpoint) leaves training's clip
        sampling as it would be without them."""
        with preserved_random_streams(self.dataset, global_streams=False):
            return [self.dataset[i] for i in range(count)]


def build_trainer(cfg, dataset: Dataset | None = None, device: str | None = None
                  ) -> VideoGANTrainer:
    """The trainer of ``cfg`` (any registered ``MODEL.NAME``); ``dataset`` defaults to
    :func:`~generators.data.build_dataset` of ``DATA.*``."""
    return VideoGANTrainer(cfg, dataset, device)
