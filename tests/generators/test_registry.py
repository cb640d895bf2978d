"""A video GAN is added by one spec: a tiny model defined here (no package file changes) is
registered, trained, resumed, sampled and evaluated through the standard entry points (the
functions the tools call, and the tools themselves), then unregistered."""
import contextlib
import io
import json
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from common.config import ConfigError
from generators.adversarial import GANTrainer
from generators.bce_training import BCEVideoGANTrainer
from generators.config import load_generator_config
from generators.evaluation import evaluate_generator
from generators.registry import (BUILTIN_VIDEO_GANS, VideoGANSpec, available_video_gans,
                                 get_video_gan, register_video_gan, unregister_video_gan)
from generators.sampling import load_generator, write_clip_set
from generators.training import VideoGANTrainer, build_dataset, build_trainer
from generators.video_io import write_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tools import eval_video_gan, sample_video, train_video_gan  # noqa: E402

NAME = "tinygan"
FRAMES, SIZE = 4, 8


# ----------------------------------------------------------------------------- the tiny model
class TinyGenerator(nn.Module):
    """z (B, z_dim) -> video (B, 3, 4, 8, 8) in [-1, 1] through one linear layer."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Linear(z_dim, 3 * FRAMES * SIZE * SIZE)

    def forward(self, z):
        return torch.tanh(self.net(z)).view(-1, 3, FRAMES, SIZE, SIZE)


class TinyFrameD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3 * SIZE * SIZE, 1)

    def forward(self, frames):
        return self.net(frames.flatten(1)).flatten()


class TinyVideoD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3 * FRAMES * SIZE * SIZE, 1)

    def forward(self, video, labels=None):
        return self.net(video.flatten(1)).flatten()


def tiny_generator(cfg):
    return TinyGenerator(cfg.MODEL.Z_DIM)


def tiny_noise(generator, cfg, count, device="cpu", rng=None):
    return (torch.randn(count, generator.z_dim, device=device, generator=rng),)


def tiny_generate(generator, cfg, noise, labels=None, images=None):
    return generator(noise[0])


class TinyTrainer(BCEVideoGANTrainer):
    """The shared image + video discriminator trainer; the model supplies noise and generation."""

    def sample_noise(self, batch_size, inputs):
        return tiny_noise(self.G, self.cfg, batch_size, inputs["video"].device)

    def generate(self, inputs, noise):
        return tiny_generate(self.G, self.cfg, noise)


def tiny_trainer(cfg, device):
    return TinyTrainer(cfg, tiny_generator(cfg).to(device), TinyFrameD().to(device),
                       TinyVideoD().to(device))


def tiny_check(cfg):
    if cfg.MODEL.IMAGE_SIZE != SIZE:
        raise ConfigError(f"MODEL.IMAGE_SIZE is {cfg.MODEL.IMAGE_SIZE}; {NAME} makes {SIZE}x{SIZE}")


def tiny_samples(generator, cfg, options, out):
    noise = tiny_noise(generator, cfg, options.count, "cpu",
                       torch.Generator().manual_seed(options.seed))
    with torch.no_grad():
        return write_clip_set(tiny_generate(generator, cfg, noise), out, "samples", options.count)


SPEC = VideoGANSpec(
    name=NAME, build_generator=tiny_generator, build_trainer=tiny_trainer,
    sample_noise=tiny_noise, generate=tiny_generate, clip_frames=lambda cfg: FRAMES,
    check_config=tiny_check, write_samples=tiny_samples, sample_options=("count", "seed"),
    default_overrides={"MODEL.IMAGE_D_FRAMES": 1}, summary="a linear layer, for the tests")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def tiny_model():
    register_video_gan(SPEC)
    try:
        yield SPEC
    finally:
        unregister_video_gan(NAME)


def _clips(root, count=2):
    """Frames folders of moving noise, 4 frames of 8x8 each."""
    rng = np.random.default_rng(0)
    for k in range(count):
        base = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        for t in range(FRAMES):
            write_image(os.path.join(root, f"clip_{k}", f"frame_{t}.png"), np.roll(base, t, 1))
    return str(root)


@pytest.fixture
def tiny_config_file(tmp_path, tiny_model):
    root = _clips(tmp_path / "clips")
    path = tmp_path / "tiny.yaml"
    path.write_text(
        f"OUTPUT_DIR: {tmp_path / 'run'}\n"
        f"MODEL:\n  NAME: {NAME}\n  IMAGE_SIZE: {SIZE}\n  NUM_FRAMES: {FRAMES}\n  Z_DIM: 8\n"
        "  DEVICE: cpu\n"
        f"DATA:\n  SOURCE: frames\n  ROOT: {root}\n  STRIDE_MAX: 1\n"
        "SOLVER:\n  BATCH_SIZE: 2\n  MAX_ITERS: 2\n  LOG_PERIOD: 1\n  SAMPLE_PERIOD: 1\n"
        "  CHECKPOINT_PERIOD: 1\n")
    return str(path)


def _quiet(function, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = function(argv)
    return code, out.getvalue()


# ----------------------------------------------------------------------------- the proof
def test_a_registered_model_trains_samples_and_evaluates(tiny_config_file, tmp_path):
    assert NAME in available_video_gans() and get_video_gan(NAME.upper()) is SPEC
    cfg = load_generator_config(tiny_config_file)
    # the functions the training tool calls
    trainer = build_trainer(cfg)
    assert isinstance(trainer, VideoGANTrainer) and isinstance(trainer.model, GANTrainer)
    stats = trainer.train(progress=False)
    assert trainer.iteration == 2 and {"D_video", "D_image", "G_total"} <= set(stats)
    out = cfg.OUTPUT_DIR
    for name in ("checkpoint_last.pth", "generator_final.pth", "samples/iter_0000002.gif"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    resumed = build_trainer(cfg)
    resumed.train(max_iters=3, progress=False)
    assert resumed.iteration == 3
    # the training tool itself, resuming the same run
    code, printed = _quiet(train_video_gan.main, ["--config", tiny_config_file, "--no-progress",
                                                  "SOLVER.MAX_ITERS", "4"])
    assert code == 0 and "final losses:" in printed
    assert os.path.isfile(os.path.join(out, "config.yaml"))
    weights = os.path.join(out, "generator_final.pth")

    # sampling: load_generator and the sampling tool
    generator = load_generator(cfg, weights)
    assert isinstance(generator, TinyGenerator) and not generator.training
    samples = tmp_path / "samples"
    _quiet(sample_video.main, ["--config", tiny_config_file, "--weights", weights,
                               "--out", str(samples), "--count", "3"])
    assert {"samples.gif", "samples.mp4", "samples.png"} <= set(os.listdir(samples))

    # evaluation: evaluate_generator and the evaluation tool
    scores = evaluate_generator(generator, cfg, build_dataset(cfg), num_videos=2, batch_size=2)
    assert scores["num_videos"] == 2 and "acd_c" in scores and "ssim" not in scores
    _, printed = _quiet(eval_video_gan.main, ["--config", tiny_config_file, "--weights", weights,
                                              "--num-videos", "2", "--batch-size", "2"])
    assert json.loads(printed.strip().splitlines()[-1])["num_videos"] == 2

    # the spec's config check runs at load time
    with pytest.raises(ConfigError, match="MODEL.IMAGE_SIZE is 16"):
        load_generator_config(tiny_config_file, ["MODEL.IMAGE_SIZE", "16"])


def test_after_unregistering_the_name_is_refused_with_the_available_ones(tiny_config_file):
    unregister_video_gan(NAME)
    try:
        with pytest.raises(ConfigError) as err:
            load_generator_config(tiny_config_file)
        message = str(err.value)
        assert f"MODEL.NAME is '{NAME}'" in message
        assert all(name in message for name in BUILTIN_VIDEO_GANS)
        with pytest.raises(ValueError, match="unknown video GAN"):
            get_video_gan(NAME)
    finally:
        register_video_gan(SPEC)  # the fixture unregisters it again


def test_registry_rules(tiny_model):
    assert available_video_gans()[:4] == ("imaginator", "g3an", "inmodegan", "mostganv")
    assert available_video_gans()[-1] == NAME
    with pytest.raises(ValueError, match="already registered"):
        register_video_gan(SPEC)
    with pytest.raises(ValueError, match="built-in"):
        unregister_video_gan("g3an")
    with pytest.raises(ValueError, match="lower case"):
        VideoGANSpec(name="Tiny", build_generator=tiny_generator, build_trainer=tiny_trainer,
                     sample_noise=tiny_noise, generate=tiny_generate, clip_frames=len)
    with pytest.raises(ValueError, match="conditioning"):
        VideoGANSpec(name="tiny2", build_generator=tiny_generator, build_trainer=tiny_trainer,
                     sample_noise=tiny_noise, generate=tiny_generate, clip_frames=len,
                     conditioning=("audio",))


def test_builtin_specs_name_real_sampling_flags(capsys):
    with pytest.raises(SystemExit):
        sample_video.main(["--help"])
    usage = capsys.readouterr().out
    for name in BUILTIN_VIDEO_GANS:
        spec = get_video_gan(name)
        assert spec.name == name and spec.write_samples is not None
        assert spec.family in ("bce", "style")
        for option in spec.sample_options:
            assert f"--{option.replace('_', '-')}" in usage, (name, option)
