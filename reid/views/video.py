"""An extra positive view of a person crop from a frozen, image-conditioned video generator.

:class:`VideoViewGenerator` wraps a trained ImaGINator (``generators.imaginator``): the batch of
person crops x (B, 3, H, W) in [-1, 1] at the ReID input size is resized to the generator's frame
size when the two differ, animated with a random action label and random noise, one frame per
sample is picked (a random index; frame 0, the near-copy of the input, is excluded by default)
and resized back to (H, W). Everything runs batched, in eval mode and without gradients: the
generator is a fixed view source, only E_id learns from the views (see
:class:`reid.engine.gcl_step.GCLTrainStep`, the ``L_vid`` term). This is the one module of
``reid`` that imports the ``generators`` package.

>>> view = VideoViewGenerator.from_files("configs/generators/imaginator_reid_synthetic.yaml",
...                                      "outputs/generators/imaginator_reid_synthetic/"
...                                      "checkpoint_last.pth", seed=0)
>>> x_vid = view(x)   # (B, 3, H, W) in [-1, 1]
"""
from __future__ import annotations

import os
from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from torch import nn



def image_conditioned_video_gans() -> tuple[str, ...]:
    """The registered video GANs that animate a given image: only these can make a view *of the
    same person*."""
    from generators.registry import available_video_gans, get_video_gan

    return tuple(n for n in available_video_gans() if get_video_gan(n).image_conditioned)


class VideoViewError(ValueError):
    """A video-view source that cannot be used: wrong model kind, missing files."""


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, 3, h, w) to ``size`` (antialiased when shrinking), kept in [-1, 1]."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    out = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.clamp(-1, 1)


class VideoViewGenerator(nn.Module):
    """Frozen image-to-video generator used as a view source: ``forward(x) -> one frame each``.

    Args:
        generator: an image-conditioned video generator (ImaGINator) taking
            ``(image (B, 3, h, w), labels (B,) or None, z (B, z_dim))`` and returning
            ``(B, 3, T, h, w)`` in [-1, 1]; it must expose ``image_size``, ``num_classes``,
            ``z_dim``.
        exclude_first_frame: never pick frame 0 (ImaGINator reconstructs the input there).
        seed: seed of the internal random generator (labels, noise, frame index).
    """

    def __init__(self, generator: nn.Module, exclude_first_frame: bool = True, seed: int = 0):
        super().__init__()
        for attribute in ("image_size", "num_classes", "z_dim"):
            if not hasattr(generator, attribute):
                raise VideoViewError(
                    f"VideoViewGenerator needs an image-conditioned video generator (one of "
                    f"{', '.join(image_conditioned_video_gans())}); {type(generator).__name__} has no "
                    f"'{attribute}'")
        self.generator = generator.eval()
        for parameter in self.generator.parameters():
            parameter.requires_grad_(False)
        self.exclude_first_frame = exclude_first_frame
        self.frame_size = tuple(int(v) for v in generator.image_size)
        self.rng = torch.Generator().manual_seed(int(seed))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_files(cls, config_path: str, weights: str, device: str | torch.device = "cpu",
                   opts: Optional[Iterable[str]] = None, exclude_first_frame: bool = True,
                   seed: int = 0) -> "VideoViewGenerator":
        """Build from a generator YAML (``configs/generators/*.yaml``) and its training checkpoint
        (``checkpoint_last.pth`` / ``generator_final.pth`` of ``tools/train_video_gan.py``)."""
        from generators.config import load_generator_config
        from generators.registry import video_gan_of
        from generators.sampling import load_generator

        if not config_path:
            raise VideoViewError("video view: no generator config given (GCL.VIDEO_VIEW.CONFIG, "
                                 "e.g. configs/generators/imaginator_reid_synthetic.yaml)")
        if not os.path.isfile(config_path):
            raise VideoViewError(f"video view: generator config not found: {config_path} "
                                 "(GCL.VIDEO_VIEW.CONFIG)")
        if not os.path.isfile(weights):
            raise FileNotFoundError(
                f"video view: generator checkpoint not found: {weights} (GCL.VIDEO_VIEW.WEIGHTS; "
                "train one with `python tools/train_video_gan.py --config <GCL.VIDEO_VIEW.CONFIG>`"
                " and give OUTPUT_DIR/checkpoint_last.pth)")
        cfg = load_generator_config(config_path, list(opts or []))
        if not video_gan_of(cfg).image_conditioned:
            raise VideoViewError(
                f"video view: {config_path} builds a '{cfg.MODEL.NAME}' generator, which does not "
                f"animate a given image; a view of the same person needs one of "
                f"{', '.join(image_conditioned_video_gans())}")
        generator = load_generator(cfg, weights, device)
        return cls(generator, exclude_first_frame, seed)

    # ------------------------------------------------------------------ behaviour
    def train(self, mode: bool = True) -> "VideoViewGenerator":
        """Always eval: the view source is frozen (batch norm uses its running statistics)."""
        return super().train(False)

    def reseed(self, seed: int) -> None:
        """Restart the random stream (e.g. per epoch, so that resumed runs draw the same views)."""
        self.rng.manual_seed(int(seed))

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def draw(self, batch: int, num_frames: int) -> dict[str, torch.Tensor]:
        """Random labels (B,) or None, noise (B, z_dim) and frame indices (B,), all on the CPU."""
        labels = None
        if self.generator.num_classes:
            labels = torch.randint(self.generator.num_classes, (batch,), generator=self.rng)
        z = torch.randn(batch, self.generator.z_dim, generator=self.rng)
        low = 1 if self.exclude_first_frame and num_frames > 1 else 0
        frames = torch.randint(low, num_frames, (batch,), generator=self.rng)
        return {"labels": labels, "z": z, "frames": frames}

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) crops in [-1, 1] -> (B, 3, H, W) generated frames in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VideoViewGenerator expects (B, 3, H, W) images; got {tuple(x.shape)}")
        batch, size = x.shape[0], tuple(x.shape[-2:])
        device = self.device
        num_frames = int(getattr(self.generator, "num_frames", 32))
        draw = self.draw(batch, num_frames)
        labels = draw["labels"].to(device) if draw["labels"] is not None else None
        inputs = _resize(x.detach().to(device=device, dtype=torch.float32), self.frame_size)
        video = self.generator(inputs, labels, draw["z"].to(device))  # (B, 3, T, h, w)
        index = draw["frames"].to(device).clamp_max(video.shape[2] - 1)
        frames = video[torch.arange(batch, device=device), :, index]  # (B, 3, h, w)
        return _resize(frames, size).to(dtype=x.dtype, device=x.device)


# The terms of L_vid: eq. 6.7 / 6.8 with the generated video frame in the role of x'_new.
VIDEO_VIEW_TERMS = ("vi_new", "vi_new_pos")


def video_view_loss(encoder: nn.Module, video_view: VideoViewGenerator, x: torch.Tensor,
                    f: torch.Tensor, memory, indices: torch.Tensor,
                    labels: Optional[torch.Tensor] = None, num_negatives: int = 8192,
                    temperature: float = 0.04, precision: str = "fp32",
                    generated_bn_stats: bool = False):
    """L_vid for a batch: x_vid = video_view(x) (no gradient), f_vid = E_id(x_vid) (trained),
    then the view-invariant losses of :mod:`reid.losses.view_invariant` with f_vid as the anchor:
    positives f (the anchor's own feature, L'_vi form) and a memory entry of the same
    pseudo-identity (L''_vi form), K memory negatives of other pseudo-identities scored against
    f_vid. Returns the :class:`~reid.losses.view_invariant.ViewInvariantResult` (``loss`` is the
    sum of the two terms). ``precision`` "bf16" runs the generator and E_id under autocast.
    ``generated_bn_stats=False`` keeps E_id's BatchNorm running statistics out of the E_id pass
    over the generated frames."""
    from common.precision import autocast
    from reid.losses.view_invariant import view_invariant_losses
    from reid.models.batchnorm import frozen_running_stats

    with autocast(x.device, precision):
        x_vid = video_view(x)
        with frozen_running_stats(encoder, enabled=not generated_bn_stats):
            f_vid = encoder(x_vid)
    return view_invariant_losses(f, f_vid.float(), memory, indices, labels, num_negatives,
                                 temperature, VIDEO_VIEW_TERMS, negative_anchor="generated")
