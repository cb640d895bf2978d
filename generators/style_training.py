"""InMoDeGAN and MoStGAN-V under the common training loop (config keys -> build arguments).

:func:`style_build_arguments` maps ``MODEL.*`` / ``SOLVER.*`` onto the arguments of
:func:`generators.inmodegan.build_inmodegan` / :func:`generators.mostganv.build_mostganv`;
:class:`StyleVideoGANTrainer` wraps the resulting adversarial trainer (non-saturating loss, lazy
R1, generator EMA) with the data stream, sample grids and atomic, exactly resumable checkpoints of
:class:`~generators.train_loop.TrainingLoop` (which stops on a non-finite loss and never saves
non-finite weights). Samples and ``generator_final.pth`` use the EMA generator when one is kept.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from common import resolve_device, set_seed, setup_logger
from common.seed import get_rng_state, set_rng_state
from common.serialization import load_checkpoint_file

from .train_loop import TrainingLoop


def style_build_arguments(cfg) -> dict:
    """Keyword arguments of ``build_inmodegan`` / ``build_mostganv`` for ``cfg`` (no device)."""
    m, s, st = cfg.MODEL, cfg.SOLVER, cfg.MODEL.STYLE
    common = dict(resolution=m.IMAGE_SIZE, w_dim=st.W_DIM, channel_base=st.CHANNEL_BASE,
                  channel_max=st.CHANNEL_MAX, d_channel_base=st.D_CHANNEL_BASE or None,
                  d_channel_max=st.D_CHANNEL_MAX or None, use_noise=st.USE_NOISE,
                  lr=s.G_LR, betas=tuple(s.BETAS), r1_gamma=s.R1_GAMMA,
                  r1_interval=s.R1_INTERVAL,
                  ema_decay=s.EMA_DECAY if s.EMA_DECAY >= 0 else None)
    name = m.NAME.lower()
    if name == "inmodegan":
        i = m.INMODEGAN
        return dict(common, num_frames=m.NUM_FRAMES, za_dim=m.ZA_DIM, zm_dim=m.ZM_DIM,
                    num_directions=i.NUM_DIRECTIONS, mlp_layers=st.MAPPING_LAYERS,
                    basis=i.BASIS, temporal_strides=tuple(i.TEMPORAL_STRIDES),
                    video_weight=i.VIDEO_WEIGHT)
    if name == "mostganv":
        v = m.MOSTGANV
        return dict(common, z_dim=m.Z_DIM, zm_dim=m.ZM_DIM, num_freqs=v.NUM_FREQS,
                    motion_dim=v.MOTION_DIM, num_styles=v.NUM_STYLES, rank=v.RANK,
                    mapping_layers=st.MAPPING_LAYERS, trajectory_kernel=v.TRAJECTORY_KERNEL,
                    anchor_spacing=v.ANCHOR_SPACING, num_frames=v.SPARSE_FRAMES,
                    use_differences=v.FRAME_DIFFERENCES, diversity_weight=s.DIVERSITY_WEIGHT)
    raise ValueError(f"MODEL.NAME is '{m.NAME}'; expected inmodegan or mostganv")


def _factory_and_generator(name: str):
    if name == "inmodegan":
        from .inmodegan import InMoDeGANGenerator, build_inmodegan

        return build_inmodegan, InMoDeGANGenerator
    from .mostganv import MoStGANVGenerator, build_mostganv

    return build_mostganv, MoStGANVGenerator


def build_style_model(cfg, device: torch.device | str = "cpu"):
    """The adversarial trainer (generator, discriminator, optimisers, EMA) of ``cfg``;
    ``SOLVER.D_LR`` sets the discriminator's learning rate."""
    factory, _ = _factory_and_generator(cfg.MODEL.NAME.lower())
    model = factory(**style_build_arguments(cfg), device=device)
    for group in model.d_optimizer.param_groups:
        group["lr"] = cfg.SOLVER.D_LR
    return model


def build_style_generator(cfg) -> nn.Module:
    """The bare generator of ``cfg`` (for sampling from saved weights)."""
    _, generator_class = _factory_and_generator(cfg.MODEL.NAME.lower())
    accepted = inspect.signature(generator_class.__init__).parameters
    arguments = style_build_arguments(cfg)
    if cfg.MODEL.NAME.lower() == "mostganv":
        arguments.pop("num_frames")  # the discriminator's sparse frames, not a generator size
    return generator_class(**{k: v for k, v in arguments.items() if k in accepted})


def fixed_noise(generator: nn.Module, name: str, count: int, num_frames: int, seed: int):
    """The same latent codes on every call (CPU): InMoDeGAN (z_a, z_m), MoStGAN-V (z, z_traj)."""
    gen = torch.Generator().manual_seed(seed)
    if name == "inmodegan":
        return generator.sample_noise(count, num_frames, "cpu", gen)
    return generator.sample_noise(count, float(num_frames - 1), "cpu", gen)


def render(generator: nn.Module, name: str, noise, num_frames: int) -> torch.Tensor:
    """Videos (B, 3, T, R, R) in [-1, 1] from ``noise`` of :func:`fixed_noise`."""
    batch = noise[0].shape[0]
    if name == "inmodegan":
        return generator.sample(batch, noise=noise)
    return generator.sample(batch, num_frames=num_frames, noise=noise)


class StyleVideoGANTrainer(TrainingLoop):
    """Data stream, samples and checkpoints around an InMoDeGAN / MoStGAN-V trainer."""

    def __init__(self, cfg, dataset: Dataset | None = None, device: str | None = None):
        self._start_run(cfg, dataset, device)
        self.model = build_style_model(cfg, self.device)
        loader_rng = torch.Generator().manual_seed(cfg.SEED)
        self.loader = DataLoader(self.dataset, batch_size=cfg.SOLVER.BATCH_SIZE, shuffle=True,
                                 drop_last=len(self.dataset) >= cfg.SOLVER.BATCH_SIZE,
                                 num_workers=cfg.DATA.NUM_WORKERS, generator=loader_rng)

    @property
    def iteration(self) -> int:
        return self.model.iteration

    @property
    def G(self) -> nn.Module:
        """The trained generator."""
        return self.model.generator

    @property
    def sampling_generator(self) -> nn.Module:
        """The EMA generator when kept, else the trained one."""
        return self.model.sampling_generator

    def step(self, batch: dict) -> dict[str, float]:
        return self.model.step(batch["video"].to(self.device))

    # ----------------------------------------------------------------------------- checkpoints
    def network_weights(self) -> dict:
        weights = {"G": self.G.state_dict(), "D": self.model.discriminator.state_dict()}
        if self.sampling_generator is not self.G:
            weights["G_ema"] = self.sampling_generator.state_dict()
        return weights

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "model": self.name, "trainer": self.model.state_dict(),
                "G": self.sampling_generator.state_dict(),
                "dataset_rng": self.dataset.rng.getstate() if hasattr(self.dataset, "rng") else None,
                "rng": get_rng_state(), "config": self.cfg.dump()}

    def load_checkpoint(self, path: str) -> None:
        state = load_checkpoint_file(path, map_location=self.device,
                                     what="video-GAN checkpoint")
        if state.get("model") != self.name or "trainer" not in state:
            raise ValueError(f"checkpoint {path} holds a '{state.get('model')}' run; the config "
                             f"trains '{self.name}'")
        self.model.load_state_dict(state["trainer"])
        set_rng_state(state["rng"])
        if state.get("dataset_rng") is not None and hasattr(self.dataset, "rng"):
            self.dataset.rng.setstate(state["dataset_rng"])

    def final_generator_state(self) -> dict:
        return {"model": self.name, "G": self.sampling_generator.state_dict(),
                "config": self.cfg.dump()}

    # ----------------------------------------------------------------------------- samples
    @torch.no_grad()
    def render_fixed_samples(self, count: int = 8) -> torch.Tensor:
        """Clips of the sampling generator in eval mode from fixed codes."""
        frames = self.cfg.MODEL.NUM_FRAMES
        generator = self.sampling_generator
        noise = fixed_noise(generator, self.name, count, frames, self.cfg.SEED + 7)
        was_training = generator.training
        generator.eval()
        try:
            return render(generator, self.name, noise, frames)
        finally:
            generator.train(was_training)
