"""The one registry of video GANs: what the config check, training, sampling, evaluation and the
benchmark need to know about each model, as one :class:`VideoGANSpec`.

Each model lives in its own package (``generators/<name>/``) whose ``__init__`` defines ``SPEC``;
the built-in ones are listed below, one line each, and imported on first use. A model defined
elsewhere (a project of its own, a test) joins with :func:`register_video_gan` and leaves with
:func:`unregister_video_gan`.

>>> spec = get_video_gan("g3an")
>>> generator = spec.build_generator(cfg)
>>> noise = spec.sample_noise(generator, cfg, 4, "cpu", torch.Generator().manual_seed(0))
>>> video = spec.generate(generator, cfg, noise)          # (4, 3, T, H, W) in [-1, 1]
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

__all__ = ["BUILTIN_VIDEO_GANS", "VideoGANSpec", "available_video_gans", "get_video_gan",
           "register_video_gan", "unregister_video_gan", "video_gan_of"]

#: Built-in models: ``MODEL.NAME`` -> the package whose ``SPEC`` describes it.
BUILTIN_VIDEO_GANS: Mapping[str, str] = {
    "imaginator": "generators.imaginator",   # thesis chapter 3: image + label -> video
    "g3an": "generators.g3an",               # thesis chapter 4: appearance / motion streams
    "inmodegan": "generators.inmodegan",     # thesis chapter 5: interpretable motion directions
    "mostganv": "generators.mostganv",       # StyleGAN-V with motion styles
}

CONDITIONING = ("image", "label")


@dataclass(frozen=True, eq=False)
class VideoGANSpec:
    """Everything the shared code calls for one video GAN (``cfg`` is a generator config).

    Attributes:
        name: the ``MODEL.NAME`` value (lower case).
        build_generator: ``cfg -> nn.Module``, the randomly initialised generator (sampling
            loads trained weights into it).
        build_trainer: ``(cfg, device) -> GANTrainer``
            (:class:`generators.adversarial.GANTrainer`): networks, optimisers and the
            adversarial hooks of one training iteration, on ``device``.
        sample_noise: ``(generator, cfg, count, device, rng) -> tuple of tensors``, the latent
            codes :attr:`generate` takes; ``rng`` a ``torch.Generator`` or ``None``.
        generate: ``(generator, cfg, noise, labels=None, images=None) -> (B, 3, T, H, W)``;
            ``labels`` (B,) when ``MODEL.NUM_CLASSES``, ``images`` (B, 3, H, W) for a model
            conditioned on an input image.
        clip_frames: ``cfg -> int``, frames per real training clip.
        conditioning: what drives the generator besides noise: ``"image"`` (it animates the
            first frame of a clip) and / or ``"label"`` (class labels when
            ``MODEL.NUM_CLASSES > 0``). A model with any conditioning renders its fixed sample
            grids from the first clips of the data.
        check_config: ``cfg -> None``, raises :class:`common.config.ConfigError` for values the
            model does not support (frame sizes, latent sizes).
        write_samples: ``(generator, cfg, options, out_dir) -> [paths]``, what
            ``tools/sample_video.py`` writes; ``options`` are its parsed flags.
        sample_options: the ``tools/sample_video.py`` flags (argparse names) that
            :attr:`write_samples` reads.
        default_overrides: ``{"MODEL.KEY": value}`` the model is run with when a config is
            made from the defaults (the benchmark), e.g. its video discriminator.
        family: ``"bce"`` (image + video discriminators, binary cross-entropy) or ``"style"``
            (StyleGAN2-based: widths from ``MODEL.STYLE.*``, lazy R1, generator EMA).
        summary: one line for listings.
    """

    name: str
    build_generator: Callable[[Any], Any]
    build_trainer: Callable[[Any, Any], Any]
    sample_noise: Callable[..., tuple]
    generate: Callable[..., Any]
    clip_frames: Callable[[Any], int]
    conditioning: tuple[str, ...] = ()
    check_config: Optional[Callable[[Any], None]] = None
    write_samples: Optional[Callable[..., list]] = None
    sample_options: tuple[str, ...] = ()
    default_overrides: Mapping[str, Any] = field(default_factory=dict)
    family: str = "bce"
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower():
            raise ValueError(f"video GAN name '{self.name}' must be non-empty and lower case "
                             "(MODEL.NAME is compared in lower case)")
        unknown = sorted(set(self.conditioning) - set(CONDITIONING))
        if unknown:
            raise ValueError(f"video GAN '{self.name}': unknown conditioning {unknown}; "
                             f"expected any of {CONDITIONING}")

    @property
    def image_conditioned(self) -> bool:
        """True when the generator animates an input image (a clip's first frame)."""
        return "image" in self.conditioning


_REGISTERED: dict[str, VideoGANSpec] = {}


def available_video_gans() -> tuple[str, ...]:
    """Names of every model: the built-in ones in their listed order, then registered ones."""
    extra = tuple(name for name in _REGISTERED if name not in BUILTIN_VIDEO_GANS)
    return tuple(BUILTIN_VIDEO_GANS) + extra


def get_video_gan(name: str) -> VideoGANSpec:
    """The spec of ``name`` (any case); a built-in model's package is imported on first use."""
    key = str(name).lower()
    if key not in _REGISTERED and key in BUILTIN_VIDEO_GANS:
        spec = importlib.import_module(BUILTIN_VIDEO_GANS[key]).SPEC
        if spec.name != key:
            raise ValueError(f"{BUILTIN_VIDEO_GANS[key]}.SPEC is named '{spec.name}', "
                             f"listed as '{key}'")
        _REGISTERED[key] = spec
    if key not in _REGISTERED:
        raise ValueError(f"unknown video GAN '{name}'; available: "
                         f"{', '.join(available_video_gans())}")
    return _REGISTERED[key]


def video_gan_of(cfg) -> VideoGANSpec:
    """The spec of a generator config's ``MODEL.NAME``."""
    return get_video_gan(cfg.MODEL.NAME)


def register_video_gan(spec: VideoGANSpec) -> VideoGANSpec:
    """Add a model defined outside the built-in list; its name must be new."""
    if not isinstance(spec, VideoGANSpec):
        raise TypeError(f"register_video_gan expects a VideoGANSpec; got {type(spec).__name__}")
    if spec.name in available_video_gans():
        raise ValueError(f"a video GAN named '{spec.name}' is already registered")
    _REGISTERED[spec.name] = spec
    return spec


def unregister_video_gan(name: str) -> None:
    """Remove a model added with :func:`register_video_gan` (built-in ones stay)."""
    key = str(name).lower()
    if key in BUILTIN_VIDEO_GANS:
        raise ValueError(f"'{key}' is a built-in video GAN and cannot be unregistered")
    if key not in _REGISTERED:
        raise ValueError(f"no registered video GAN named '{name}'")
    del _REGISTERED[key]
