"""Training of ImaGINator and G3AN: one D step (image + video discriminators), one G step.

ImaGINator (algorithm 1): D_V sees real (x, c) as positives and generated (G(c_a, c, z), c) plus
real-with-wrong-label (x, c_wrong) as negatives (half weight each); D_I sees N random frames of
real and generated clips; G minimises the BCE of both discriminators plus
``SOLVER.RECON_WEIGHT * |x - G(...)|_1``. The input image c_a is the first frame of the clip.
G3AN: D_V on whole clips, D_I on ``MODEL.IMAGE_D_FRAMES`` random frames, DCGAN BCE.

Checkpoints (``OUTPUT_DIR/checkpoint_last.pth``, atomic) hold every network, optimiser, the
iteration and the random states; a run restarts from it when ``SOLVER.RESUME``. A non-finite
loss stops the run before its optimiser step
(:class:`~generators.train_loop.VideoGANDivergedError`) and non-finite weights are never saved,
so the last good checkpoint stays. TensorBoard scalars go to ``OUTPUT_DIR/tb``; sample grids
(PNG strip + GIF) to ``OUTPUT_DIR/samples`` (the loop itself: :mod:`generators.train_loop`).
:func:`build_trainer` picks the trainer of any ``MODEL.NAME``, InMoDeGAN and MoStGAN-V included.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from common import resolve_device, set_seed, setup_logger
from common.seed import get_rng_state, set_rng_state
from common.serialization import load_checkpoint_file

from .config import STYLE_MODELS, frame_size
from .discriminators import ImageDiscriminator, VideoDiscriminator2Plus1D, VideoDiscriminator3D
from .g3an import G3ANGenerator
from .imaginator import ImaginatorGenerator
from .losses import bce_fake, bce_real, reconstruction_l1, sample_frames, wrong_labels
from .train_loop import CHECKPOINT_NAME, FINAL_NAME, TrainingLoop  # noqa: F401 (re-exported)
from .video_dataset import VideoClipDataset


def build_generator(cfg) -> nn.Module:
    """The generator of ``MODEL.NAME`` at the configured sizes (randomly initialised)."""
    m = cfg.MODEL
    if m.NAME.lower() in STYLE_MODELS:
        from .style_training import build_style_generator

        return build_style_generator(cfg)
    if m.NAME.lower() == "imaginator":
        return ImaginatorGenerator(m.NUM_CLASSES, m.BASE_CHANNELS, m.Z_DIM, m.LATENT_DIM,
                                   m.CONV_TYPE, image_size=frame_size(cfg))
    return G3ANGenerator(m.ZA_DIM, m.ZM_DIM, m.NUM_CLASSES, m.BASE_CHANNELS, m.CONV_TYPE,
                         m.ATTENTION_AFTER)


def build_networks(cfg) -> dict[str, nn.Module]:
    """{"G", "D_I", "D_V"} for MODEL.NAME at the configured sizes."""
    m = cfg.MODEL
    video_d = VideoDiscriminator3D if m.VIDEO_D == "3d" else VideoDiscriminator2Plus1D
    size = frame_size(cfg)
    return {"G": build_generator(cfg), "D_I": ImageDiscriminator(m.BASE_CHANNELS, image_size=size),
            "D_V": video_d(m.BASE_CHANNELS, m.NUM_CLASSES, image_size=size)}


def generator_frames(cfg) -> int:
    """Frames per training clip."""
    if cfg.MODEL.NAME.lower() in STYLE_MODELS:
        return cfg.MODEL.NUM_FRAMES
    if cfg.MODEL.NAME.lower() == "imaginator":
        return ImaginatorGenerator.num_frames
    return G3ANGenerator.frames_for_steps(cfg.MODEL.ZM_STEPS)


def build_dataset(cfg) -> VideoClipDataset:
    """The clip dataset of DATA.*; the embedded synthetic clips are built first when missing."""
    d = cfg.DATA
    source = d.SOURCE
    if source == "synthetic":
        from .action_clips import ensure_action_clips

        ensure_action_clips(d.ROOT, clips_per_action=d.SYNTHETIC_CLIPS_PER_ACTION,
                            seed=d.SYNTHETIC_SEED, image_size=frame_size(cfg))
        source = "frames"
    dataset = VideoClipDataset(d.ROOT, generator_frames(cfg), frame_size(cfg), source,
                               d.LABELS_CSV, d.LABELS_FROM_FOLDER, d.STRIDE_MIN, d.STRIDE_MAX,
                               d.RESIZE, d.HFLIP, seed=cfg.SEED)
    if cfg.MODEL.NUM_CLASSES and dataset.num_classes != cfg.MODEL.NUM_CLASSES:
        raise ValueError(f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES} but {d.ROOT} has "
                         f"{dataset.num_classes} labelled classes {dataset.classes}; set "
                         "MODEL.NUM_CLASSES to match (0 = unconditional)")
    return dataset


class VideoGANTrainer(TrainingLoop):
    """Owns the networks, optimisers, data stream, logging and checkpoints of one run."""

    def __init__(self, cfg, dataset: Dataset | None = None, device: str | None = None):
        self._start_run(cfg, dataset, device)
        nets = build_networks(cfg)
        self.G = nets["G"].to(self.device)
        self.D_I = nets["D_I"].to(self.device)
        self.D_V = nets["D_V"].to(self.device)
        betas = tuple(cfg.SOLVER.BETAS)
        self.opt_G = torch.optim.Adam(self.G.parameters(), cfg.SOLVER.G_LR, betas=betas)
        self.opt_D = torch.optim.Adam(list(self.D_I.parameters()) + list(self.D_V.parameters()),
                                      cfg.SOLVER.D_LR, betas=betas)
        self.iteration = 0
        self.num_classes = cfg.MODEL.NUM_CLASSES
        self.image_d_frames = cfg.MODEL.IMAGE_D_FRAMES
        loader_rng = torch.Generator().manual_seed(cfg.SEED)
        self.loader = DataLoader(self.dataset, batch_size=cfg.SOLVER.BATCH_SIZE, shuffle=True,
                                 drop_last=len(self.dataset) >= cfg.SOLVER.BATCH_SIZE,
                                 num_workers=cfg.DATA.NUM_WORKERS, generator=loader_rng)
        self._fixed = None

    # ----------------------------------------------------------------------------- one step
    def _generate(self, video: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        batch = video.shape[0]
        if self.name == "imaginator":
            return self.G(video[:, :, 0], labels, self.G.sample_noise(batch, self.device))
        z_a, z_m = self.G.sample_noise(batch, self.cfg.MODEL.ZM_STEPS, self.device)
        return self.G(z_a, z_m, labels)

    def step(self, batch: dict) -> dict[str, float]:
        """One discriminator update then one generator update; returns the scalar losses."""
        self.G.train(), self.D_I.train(), self.D_V.train()
        real = batch["video"].to(self.device)
        labels = None
        if self.num_classes:
            labels = torch.as_tensor(batch["label"]).to(self.device)
        fake = self._generate(real, labels)
        frame_count = self.image_d_frames
        real_frames = sample_frames(real, frame_count)
        fake_frames = sample_frames(fake, frame_count)

        # discriminators
        self.opt_D.zero_grad(set_to_none=True)
        loss_dv_real = bce_real(self.D_V(real, labels))
        loss_dv_fake = bce_fake(self.D_V(fake.detach(), labels))
        stats = {}
        if self.name == "imaginator" and self.num_classes > 1 and \
                self.cfg.SOLVER.WRONG_LABEL_NEGATIVES:
            loss_dv_wrong = bce_fake(self.D_V(real, wrong_labels(labels, self.num_classes)))
            loss_dv = loss_dv_real + 0.5 * (loss_dv_wrong + loss_dv_fake)
            stats["D_V_wrong_label"] = loss_dv_wrong.item()
        else:
            loss_dv = loss_dv_real + loss_dv_fake
        loss_di = bce_real(self.D_I(real_frames)) + bce_fake(self.D_I(fake_frames.detach()))
        d_terms = {"D_video": loss_dv.item(), "D_image": loss_di.item()}
        # A non-finite loss stops before its optimiser step: the weights stay as they were.
        self.check_losses(dict(stats, **d_terms), self.iteration + 1)
        (loss_dv + loss_di).backward()
        self.opt_D.step()

        # generator
        self.opt_G.zero_grad(set_to_none=True)
        loss_gv = bce_real(self.D_V(fake, labels))
        loss_gi = bce_real(self.D_I(fake_frames))
        loss_g = loss_gv + loss_gi
        if self.name == "imaginator":
            loss_rec = reconstruction_l1(fake, real)
            loss_g = loss_g + self.cfg.SOLVER.RECON_WEIGHT * loss_rec
            stats["G_reconstruction_l1"] = loss_rec.item()
        g_terms = {"G_video": loss_gv.item(), "G_image": loss_gi.item(), "G_total": loss_g.item()}
        self.check_losses(dict(stats, **d_terms, **g_terms), self.iteration + 1)
        loss_g.backward()
        self.opt_G.step()
        self.iteration += 1
        return dict(stats, **d_terms, **g_terms)

    # ----------------------------------------------------------------------------- checkpoints
    def network_weights(self) -> dict:
        return {"G": self.G.state_dict(), "D_I": self.D_I.state_dict(),
                "D_V": self.D_V.state_dict()}

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "model": self.name, "G": self.G.state_dict(),
                "D_I": self.D_I.state_dict(), "D_V": self.D_V.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                "dataset_rng": self.dataset.rng.getstate() if hasattr(self.dataset, "rng") else None,
                "rng": get_rng_state(), "config": self.cfg.dump()}

    def load_checkpoint(self, path: str) -> None:
        state = load_checkpoint_file(path, map_location=self.device,
                                     what="video-GAN checkpoint")
        if state.get("model") != self.name:
            raise ValueError(f"checkpoint {path} holds a '{state.get('model')}' model; the config "
                             f"builds '{self.name}'")
        self.G.load_state_dict(state["G"])
        self.D_I.load_state_dict(state["D_I"])
        self.D_V.load_state_dict(state["D_V"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.iteration = int(state["iteration"])
        set_rng_state(state["rng"])
        if state.get("dataset_rng") is not None and hasattr(self.dataset, "rng"):
            self.dataset.rng.setstate(state["dataset_rng"])

    # ----------------------------------------------------------------------------- samples
    @torch.no_grad()
    def render_fixed_samples(self, count: int = 8) -> torch.Tensor:
        """Clips of G in eval mode from fixed inputs (the first clips, the same noise)."""
        if self._fixed is None:
            gen = torch.Generator().manual_seed(self.cfg.SEED + 7)
            n = min(count, len(self.dataset))
            items = self._first_clips(n)
            video = torch.stack([it["video"] for it in items]).to(self.device)
            labels = torch.tensor([max(0, it["label"]) for it in items], device=self.device)
            if self.name == "imaginator":
                noise = (torch.randn(n, self.G.z_dim, generator=gen).to(self.device),)
            else:
                z_a = torch.randn(n, self.G.za_dim, generator=gen)
                z_m = torch.randn(n, self.G.zm_dim, self.cfg.MODEL.ZM_STEPS, generator=gen)
                noise = (z_a.to(self.device), z_m.to(self.device))
            self._fixed = (video, labels, noise)
        video, labels, noise = self._fixed
        was_training = self.G.training
        self.G.eval()
        cond = labels if self.num_classes else None
        try:
            if self.name == "imaginator":
                return self.G(video[:, :, 0], cond, noise[0])
            return self.G(noise[0], noise[1], cond)
        finally:
            self.G.train(was_training)

    def _first_clips(self, count: int) -> list[dict]:
        """The first ``count`` clips, drawn without moving the dataset's random stream: taking
        the fixed sample inputs (at the first sample grid or checkpoint) leaves training's clip
        sampling as it would be without them."""
        rng = getattr(self.dataset, "rng", None)
        state = rng.getstate() if rng is not None else None
        try:
            return [self.dataset[i] for i in range(count)]
        finally:
            if rng is not None:
                rng.setstate(state)

    def final_generator_state(self) -> dict:
        return {"model": self.name, "G": self.G.state_dict(), "config": self.cfg.dump()}


def build_trainer(cfg, dataset: Dataset | None = None, device: str | None = None):
    """The trainer of ``MODEL.NAME``: :class:`VideoGANTrainer` (ImaGINator, G3AN) or
    :class:`~generators.style_training.StyleVideoGANTrainer` (InMoDeGAN, MoStGAN-V)."""
    if cfg.MODEL.NAME.lower() in STYLE_MODELS:
        from .style_training import StyleVideoGANTrainer

        return StyleVideoGANTrainer(cfg, dataset, device)
    return VideoGANTrainer(cfg, dataset, device)
