"""The one place where every configuration key of the video-GAN jobs is defined.

YAML files under ``configs/generators/`` (with ``_BASE_`` inheritance) and command-line ``KEY VALUE``
pairs may only change keys that exist here; an unknown key is a :class:`ConfigError` naming the key
and the closest valid ones. The YAML reading, key checking and override parsing are the ReID job's
(:mod:`reid.config`); only the defaults differ.

>>> cfg = load_generator_config("configs/generators/g3an.yaml", ["SOLVER.MAX_ITERS", "10"])
"""
from __future__ import annotations

import os
from typing import Iterable

from yacs.config import CfgNode as CN

from reid.config import ConfigError, merge_overrides
from reid.config import _merge_mapping, _read_yaml  # the shared YAML + _BASE_ + key-check reader

__all__ = ["ConfigError", "get_generator_defaults", "load_generator_config"]

_C = CN()
# Everything a run writes (checkpoints, TensorBoard events, sample grids and GIFs, the config).
_C.OUTPUT_DIR = "outputs/generators/g3an"
_C.SEED = 1

_C.MODEL = CN()
# "imaginator" (thesis chapter 3) or "g3an" (chapter 4).
_C.MODEL.NAME = "g3an"
# "auto" = cuda when available, else cpu.
_C.MODEL.DEVICE = "auto"
# Number of motion categories (one-hot labels); 0 = unconditional (UvA-NEMO).
_C.MODEL.NUM_CLASSES = 0
_C.MODEL.IMAGE_SIZE = 64
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
# ImaGINator algorithm 1: real videos with a wrong label as extra negatives of D_V.
_C.SOLVER.WRONG_LABEL_NEGATIVES = True
_C.SOLVER.CHECKPOINT_PERIOD = 1000
_C.SOLVER.LOG_PERIOD = 20
_C.SOLVER.SAMPLE_PERIOD = 1000
# Resume from OUTPUT_DIR/checkpoint_last.pth when present.
_C.SOLVER.RESUME = True


def get_generator_defaults() -> CN:
    """A fresh copy of the defaults."""
    return _C.clone()


def load_generator_config(path: str | None = None, opts: Iterable[str] | None = None,
                          freeze: bool = True) -> CN:
    """Defaults, then the YAML at ``path`` (``_BASE_`` resolved), then ``KEY VALUE`` overrides."""
    cfg = get_generator_defaults()
    if path:
        _merge_mapping(cfg, _read_yaml(path), os.path.basename(path))
    merge_overrides(cfg, list(opts or []))
    check_generator_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def check_generator_config(cfg: CN) -> None:
    """Values that keys alone cannot check: names and sizes the models support."""
    name = cfg.MODEL.NAME.lower()
    if name not in ("imaginator", "g3an"):
        raise ConfigError(f"MODEL.NAME is '{cfg.MODEL.NAME}'; expected 'imaginator' or 'g3an'")
    if cfg.MODEL.CONV_TYPE not in ("1+2d", "2+1d", "3d"):
        raise ConfigError(f"MODEL.CONV_TYPE is '{cfg.MODEL.CONV_TYPE}'; expected 1+2d, 2+1d or 3d")
    if cfg.MODEL.VIDEO_D not in ("3d", "2+1d"):
        raise ConfigError(f"MODEL.VIDEO_D is '{cfg.MODEL.VIDEO_D}'; expected 3d or 2+1d")
    if cfg.MODEL.IMAGE_SIZE != 64:
        raise ConfigError(f"MODEL.IMAGE_SIZE is {cfg.MODEL.IMAGE_SIZE}; the table architectures "
                          "generate 64x64 frames")
    if cfg.DATA.SOURCE not in ("synthetic", "frames", "videos", "auto"):
        raise ConfigError(f"DATA.SOURCE is '{cfg.DATA.SOURCE}'; expected synthetic, frames, "
                          "videos or auto")
    if not 1 <= cfg.DATA.STRIDE_MIN <= cfg.DATA.STRIDE_MAX:
        raise ConfigError(f"DATA.STRIDE_MIN/MAX = {cfg.DATA.STRIDE_MIN}/{cfg.DATA.STRIDE_MAX}; "
                          "expected 1 <= STRIDE_MIN <= STRIDE_MAX")
