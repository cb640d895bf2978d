"""The one place where every configuration key of the video-GAN jobs is defined.

YAML files under ``configs/generators/`` (with ``_BASE_`` inheritance) and command-line ``KEY VALUE``
pairs may only change keys that exist here; an unknown key is a :class:`ConfigError` naming the key
and the closest valid ones. The YAML reading, key checking and override parsing are the project's
(:mod:`common.config`); only the defaults differ. ``MODEL.NAME`` must name a model of the
registry (:mod:`generators.registry`), whose spec checks the values only it knows about.

>>> cfg = load_generator_config("configs/generators/g3an.yaml", ["SOLVER.MAX_ITERS", "10"])
"""
from __future__ import annotations

from typing import Iterable

from yacs.config import CfgNode as CN

from common.config import ConfigError, load_config
from common.logging import PROGRESS_MODES

from .registry import available_video_gans, get_video_gan

__all__ = ["ConfigError", "check_generator_config", "frame_size", "get_generator_defaults",
           "load_generator_config"]

_C = CN()
# Everything a run writes (checkpoints, TensorBoard events, sample grids and GIFs, the config).
_C.OUTPUT_DIR = "outputs/generators/g3an"
_C.SEED = 1

_C.MODEL = CN()
# A model of generators.registry: "imaginator" (thesis chapter 3), "g3an" (chapter 4),
# "inmodegan" (chapter 5) or "mostganv".
_C.MODEL.NAME = "g3an"
# "auto" = cuda when available, else cpu.
_C.MODEL.DEVICE = "auto"
# Number of motion categories (one-hot labels); 0 = unconditional (UvA-NEMO).
_C.MODEL.NUM_CLASSES = 0
_C.MODEL.IMAGE_SIZE = 64
# ImaGINator: frame width when frames are not square (0 = IMAGE_SIZE); IMAGE_SIZE is then the
# height, e.g. IMAGE_SIZE 128, IMAGE_WIDTH 64 for person crops. Both multiples of 16.
_C.MODEL.IMAGE_WIDTH = 0
# Frames the generator produces (ImaGINator: 32; G3AN: 16 for one z_m time step).
_C.MODEL.NUM_FRAMES = 16
# Width multiplier of the tables (64 = paper). Smaller values give the tiny networks of the tests.
_C.MODEL.BASE_CHANNELS = 64
# ImaGINator: noise z (512) and the encoder's latent vector p (100).
_C.MODEL.Z_DIM = 512
_C.MODEL.LATENT_DIM = 100
# G3AN: appearance z_a (128) and motion z_m (10) sizes; z_m time steps (1 -> 16 frames, k -> 12+4k).
_C.MODEL.ZA_DIM = 128
_C.MODEL.ZM_DIM = 10
_C.MODEL.ZM_STEPS = 1
# Transposed convolution of the video stream / decoder: "1+2d" (paper), "2+1d" or "3d".
_C.MODEL.CONV_TYPE = "1+2d"
# G3AN: F-SA after module G^3_n (0-based, paper notation: G^3_3, the fourth module); -1 = none.
_C.MODEL.ATTENTION_AFTER = 3
# Video discriminator: "3d" (table 3.3, needs 32 frames) or "2+1d" (G3AN, needs 16 frames).
_C.MODEL.VIDEO_D = "2+1d"
# Frames per clip that the image discriminator sees (ImaGINator N = 16, G3AN T = 1).
_C.MODEL.IMAGE_D_FRAMES = 1
# Style-based models (InMoDeGAN, MoStGAN-V). MODEL.IMAGE_SIZE is their resolution (a power of two);
# InMoDeGAN's latents are MODEL.ZA_DIM / ZM_DIM, MoStGAN-V's MODEL.Z_DIM / ZM_DIM; MODEL.NUM_FRAMES
# is InMoDeGAN's clip length and the real-clip length MoStGAN-V picks its sparse frames from.
_C.MODEL.STYLE = CN()
_C.MODEL.STYLE.W_DIM = 512
_C.MODEL.STYLE.MAPPING_LAYERS = 8
# StyleGAN2 widths: channels at resolution r = min(CHANNEL_BASE // r, CHANNEL_MAX).
_C.MODEL.STYLE.CHANNEL_BASE = 32768
_C.MODEL.STYLE.CHANNEL_MAX = 512
# Discriminator widths; 0 = the generator's.
_C.MODEL.STYLE.D_CHANNEL_BASE = 0
_C.MODEL.STYLE.D_CHANNEL_MAX = 0
_C.MODEL.STYLE.USE_NOISE = True
_C.MODEL.INMODEGAN = CN()
# Motion bank size N and its orthonormalisation ("svd" or "qr").
_C.MODEL.INMODEGAN.NUM_DIRECTIONS = 512
_C.MODEL.INMODEGAN.BASIS = "svd"
# Temporal pyramid (TPD): n video discriminators on time-to-channel stacks, level i sampling every
# 2^i-th frame (n = 4: 16, 8, 4, 2 frames of a 16-frame clip, the thesis's best on VoxCeleb2-mini,
# table 5.3; 3 suffice on BAIR-robot). Integer >= 1; the largest stride must stay below
# MODEL.NUM_FRAMES.
_C.MODEL.INMODEGAN.TEMPORAL_LEVELS = 4
# Explicit frame strides instead of the powers of two; [] = 1, 2, ..., 2^(TEMPORAL_LEVELS - 1).
# When given, exactly TEMPORAL_LEVELS positive integers.
_C.MODEL.INMODEGAN.TEMPORAL_STRIDES = ()
# The pyramid's weight lambda in eq. 5.5.
_C.MODEL.INMODEGAN.VIDEO_WEIGHT = 0.5
_C.MODEL.MOSTGANV = CN()
_C.MODEL.MOSTGANV.NUM_FREQS = 256
_C.MODEL.MOSTGANV.MOTION_DIM = 128
# K motion styles, hypernetwork rank, trajectory 1D-conv kernel, distance between noise anchors.
_C.MODEL.MOSTGANV.NUM_STYLES = 8
_C.MODEL.MOSTGANV.RANK = 1
_C.MODEL.MOSTGANV.TRAJECTORY_KERNEL = 11
_C.MODEL.MOSTGANV.ANCHOR_SPACING = 16.0
# Hypernetwork turning the K motion vectors into rank-R factors: "conv1d" (the paper's
# conv1d-based hypernetwork: a 1D convolution along the K vectors, no bias, leaky ReLU) or
# "linear" (one linear layer with bias per vector). HYPERNET_KERNEL: the conv1d kernel along the
# K vectors, odd >= 1 (1 = each vector on its own, as in the authors' release).
_C.MODEL.MOSTGANV.HYPERNET = "conv1d"
_C.MODEL.MOSTGANV.HYPERNET_KERNEL = 1
# Synthesis resolutions whose convolutions take motion styles (MoStAtt), [lowest, highest]
# inclusive, powers of two; the others keep the content style only. [16, 128] as in the authors'
# release; [4, MODEL.IMAGE_SIZE] = every layer.
_C.MODEL.MOSTGANV.MOTION_RESOLUTIONS = (16, 128)
# Frames per real clip the discriminator sees (sparse training), and frame differences on/off.
_C.MODEL.MOSTGANV.SPARSE_FRAMES = 3
_C.MODEL.MOSTGANV.FRAME_DIFFERENCES = True
# Discriminator: "fusion" (the paper's, after StyleGAN-V: features of every frame and difference
# extracted on their own, concatenated over time at FUSION_RESOLUTION, a power of two in
# 4..MODEL.IMAGE_SIZE) or "stacked" (frames and differences stacked on the input channels).
_C.MODEL.MOSTGANV.DISCRIMINATOR = "fusion"
_C.MODEL.MOSTGANV.FUSION_RESOLUTION = 16

_C.DATA = CN()
# "synthetic": the embedded human-action clips (built under DATA.ROOT on first use when missing);
# "frames": one folder of image files per clip; "videos": mp4/avi files; "auto": detect.
_C.DATA.SOURCE = "synthetic"
_C.DATA.ROOT = "datasets/action_clips"
# Optional CSV "clip,label" (label = class name or index); "" = <ROOT>/labels.csv when present,
# else the parent folder name of each clip when DATA.LABELS_FROM_FOLDER.
_C.DATA.LABELS_CSV = ""
_C.DATA.LABELS_FROM_FOLDER = False
# Random temporal stride in [STRIDE_MIN, STRIDE_MAX] (G3AN paper: 1..4).
_C.DATA.STRIDE_MIN = 1
_C.DATA.STRIDE_MAX = 4
# Shorter side resized to RESIZE (0 = IMAGE_SIZE), then a centre crop of IMAGE_SIZE (UCF101: 85 -> 64).
_C.DATA.RESIZE = 0
_C.DATA.HFLIP = False
_C.DATA.NUM_WORKERS = 0
# Synthetic clips built when DATA.SOURCE is synthetic and DATA.ROOT holds none.
_C.DATA.SYNTHETIC_CLIPS_PER_ACTION = 8
_C.DATA.SYNTHETIC_SEED = 0

_C.SOLVER = CN()
_C.SOLVER.BATCH_SIZE = 16
_C.SOLVER.MAX_ITERS = 100000
_C.SOLVER.G_LR = 2e-4
_C.SOLVER.D_LR = 2e-4
_C.SOLVER.BETAS = (0.5, 0.999)
# ImaGINator: weight of the L1 reconstruction (per-element mean; the paper's lambda = 1e-3 on a
# summed L1 over 3x32x64x64 values is ~393 here).
_C.SOLVER.RECON_WEIGHT = 393.0
# ImaGINator: fakes per real clip; with K > 1 the L1 term keeps each clip's closest fake (the
# minimum-over-samples loss; not in the thesis, which has K = 1).
_C.SOLVER.RECON_SAMPLES = 1
# ImaGINator algorithm 1: real videos with a wrong label as extra negatives of D_V.
_C.SOLVER.WRONG_LABEL_NEGATIVES = True
_C.SOLVER.CHECKPOINT_PERIOD = 1000
# Style-based models: lazy R1 (weight R1_GAMMA / 2 every R1_INTERVAL iterations), generator EMA
# (decay; a negative value keeps none), MoStGAN-V's motion diversity regulariser weight. Neither
# the thesis nor the MoStGAN-V paper gives R1's gamma or the diversity weight: 1.0 is the gamma
# of StyleGAN2-ADA's 256x256 setting and eq. 3 added unweighted (generators/README.md).
_C.SOLVER.R1_GAMMA = 1.0
_C.SOLVER.R1_INTERVAL = 16
_C.SOLVER.EMA_DECAY = 0.999
_C.SOLVER.DIVERSITY_WEIGHT = 1.0
_C.SOLVER.LOG_PERIOD = 20
# "bar": a tqdm bar; "log": only the plain line every LOG_PERIOD iterations (batch jobs, logs
# redirected to a file); "auto": the bar when standard output is a terminal.
_C.SOLVER.PROGRESS = "auto"
_C.SOLVER.SAMPLE_PERIOD = 1000
# Resume from OUTPUT_DIR/checkpoint_last.pth when present.
_C.SOLVER.RESUME = True
# Learning curves: evaluate (EVAL.*) at the start, every EVAL_PERIOD iterations and at the end
# into OUTPUT_DIR/curves.json, curves.png and TensorBoard's eval/<metric>; 0 = never.
_C.SOLVER.EVAL_PERIOD = 0
# A training-time budget in minutes (evaluations not counted; kept across resumes): the run ends,
# as at SOLVER.MAX_ITERS, after the iteration that reaches it; 0 = no budget.
_C.SOLVER.MAX_MINUTES = 0.0

_C.EVAL = CN()
# The action classifier of tools/train_video_classifier.py (FCD, classifier score, action
# accuracy); "" = the curves hold ACD (and SSIM / PSNR for ImaGINator) only.
_C.EVAL.CLASSIFIER_WEIGHTS = ""
# Real clips evaluated (cycled when the dataset is smaller), clips per batch, and the seed of the
# generated clips' noise (the same noise at every evaluation: the curve follows the weights).
_C.EVAL.NUM_VIDEOS = 64
_C.EVAL.BATCH_SIZE = 8
_C.EVAL.SEED = 0


def frame_size(cfg: CN) -> tuple[int, int]:
    """(height, width) of the generated frames: MODEL.IMAGE_SIZE and MODEL.IMAGE_WIDTH."""
    return int(cfg.MODEL.IMAGE_SIZE), int(cfg.MODEL.IMAGE_WIDTH or cfg.MODEL.IMAGE_SIZE)


def get_generator_defaults() -> CN:
    """A fresh copy of the defaults."""
    return _C.clone()


def load_generator_config(path: str | None = None, opts: Iterable[str] | None = None,
                          freeze: bool = True) -> CN:
    """Defaults, then the YAML at ``path`` (``_BASE_`` resolved), then ``KEY VALUE`` overrides."""
    cfg = load_config(path, opts, get_generator_defaults, freeze=False)
    check_generator_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def check_generator_config(cfg: CN) -> None:
    """Values that keys alone cannot check: the model name (one of the registry), the shared
    choices, then what the model's spec supports (frame and latent sizes)."""
    name = cfg.MODEL.NAME.lower()
    available = available_video_gans()
    if name not in available:
        raise ConfigError(f"MODEL.NAME is '{cfg.MODEL.NAME}'; expected one of "
                          f"{', '.join(available)}")
    if cfg.MODEL.CONV_TYPE not in ("1+2d", "2+1d", "3d"):
        raise ConfigError(f"MODEL.CONV_TYPE is '{cfg.MODEL.CONV_TYPE}'; expected 1+2d, 2+1d or 3d")
    if cfg.MODEL.VIDEO_D not in ("3d", "2+1d"):
        raise ConfigError(f"MODEL.VIDEO_D is '{cfg.MODEL.VIDEO_D}'; expected 3d or 2+1d")
    spec = get_video_gan(name)
    if spec.check_config is not None:
        spec.check_config(cfg)
    if cfg.DATA.SOURCE not in ("synthetic", "frames", "videos", "auto"):
        raise ConfigError(f"DATA.SOURCE is '{cfg.DATA.SOURCE}'; expected synthetic, frames, "
                          "videos or auto")
    if cfg.SOLVER.EVAL_PERIOD < 0 or cfg.SOLVER.MAX_MINUTES < 0:
        raise ConfigError(f"SOLVER.EVAL_PERIOD / MAX_MINUTES = {cfg.SOLVER.EVAL_PERIOD} / "
                          f"{cfg.SOLVER.MAX_MINUTES}; expected >= 0 (0 = off)")
    if cfg.SOLVER.RECON_SAMPLES < 1:
        raise ConfigError(f"SOLVER.RECON_SAMPLES is {cfg.SOLVER.RECON_SAMPLES}; expected >= 1 "
                          "fakes per real clip")
    if cfg.SOLVER.PROGRESS not in PROGRESS_MODES:
        raise ConfigError(f"SOLVER.PROGRESS is '{cfg.SOLVER.PROGRESS}'; expected one of "
                          f"{', '.join(PROGRESS_MODES)}")
    if cfg.EVAL.NUM_VIDEOS < 2 or cfg.EVAL.BATCH_SIZE < 1:
        raise ConfigError(f"EVAL.NUM_VIDEOS / BATCH_SIZE = {cfg.EVAL.NUM_VIDEOS} / "
                          f"{cfg.EVAL.BATCH_SIZE}; expected >= 2 clips and >= 1 per batch")
    if not 1 <= cfg.DATA.STRIDE_MIN <= cfg.DATA.STRIDE_MAX:
        raise ConfigError(f"DATA.STRIDE_MIN/MAX = {cfg.DATA.STRIDE_MIN}/{cfg.DATA.STRIDE_MAX}; "
                          "expected 1 <= STRIDE_MIN <= STRIDE_MAX")
