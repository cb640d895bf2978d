"""MoStGAN-V: motion codes at arbitrary times, MoStAtt shapes and low rank, diversity loss,
sparse-frame discriminator, training steps and arbitrary-length sampling, at tiny sizes."""
import math

import pytest
import torch

from generators.mostganv import (MoStGANVGenerator, MotionEncoder, SparseFrameDiscriminator,
                                 build_mostganv, frame_pair_differences, motion_diversity_loss,
                                 motion_style_attention, motion_styles, sample_frame_times)

TINY = dict(resolution=16, z_dim=16, w_dim=16, zm_dim=8, num_freqs=4, motion_dim=8,
            num_styles=3, rank=1, mapping_layers=2, trajectory_kernel=3, anchor_spacing=4.0,
            channel_base=64, channel_max=8)


def test_motion_encoder_arbitrary_times_and_continuity():
    enc = MotionEncoder(zm_dim=6, hidden_dim=8, num_freqs=5, kernel_size=3, anchor_spacing=4.0)
    z = enc.sample_noise(2, max_time=20.0)
    assert z.shape == (2, 6, 7)
    times = torch.tensor([[0.0, 3.5, 19.25], [1.0, 1.001, 20.0]])
    codes = enc(z, times)
    assert codes.shape == (2, 3, 10) and torch.isfinite(codes).all()
    # Continuous in time: nearby stamps give nearby codes.
    assert (codes[1, 0] - codes[1, 1]).abs().max() < 0.05 * (codes[1, 0].abs().max() + 1)
    with pytest.raises(ValueError, match="anchors"):
        enc(z, torch.tensor([[0.0, 100.0], [0.0, 1.0]]))


def test_motion_styles_are_low_rank():
    factors = torch.randn(2, 4, 1, 5 + 3 + 3)
    styles = motion_styles(factors, in_channels=5, kernel_size=3)
    assert styles.shape == (2, 4, 5, 3, 3)
    for b in range(2):
        for k in range(4):
            assert torch.linalg.matrix_rank(styles[b, k].reshape(5, 9)) == 1
            assert torch.linalg.matrix_rank(styles[b, k].permute(1, 0, 2).reshape(3, 15)) == 1
    rank2 = motion_styles(torch.randn(1, 1, 2, 11), 5, 3)
    assert torch.linalg.matrix_rank(rank2[0, 0].reshape(5, 9)) <= 2


def test_motion_style_attention_shapes_and_identity_when_styles_vanish():
    weight = torch.randn(2, 6, 5, 3, 3)
    factors = torch.randn(2, 4, 1, 11)
    out, scores = motion_style_attention(weight, factors)
    assert out.shape == weight.shape and scores.shape == (2, 6, 4)
    assert not torch.allclose(out, weight)
    # Modulation is bounded: |W'' / W - 1| <= 1 (max-normalised, leaky ReLU).
    ratio = (out / weight - 1).abs()
    assert float(ratio.max()) <= 1.0 + 1e-5
    # Equal motion styles -> uniform attention; zero styles -> weights unchanged.
    same = factors[:, :1].expand(-1, 4, -1, -1)
    _, s_same = motion_style_attention(weight, same)
    torch.testing.assert_close(s_same, s_same[..., :1].expand_as(s_same))
    unchanged, _ = motion_style_attention(weight, torch.zeros_like(factors))
    torch.testing.assert_close(unchanged, weight)


def test_motion_diversity_loss_zero_for_orthogonal_columns():
    eye = torch.eye(6)[:, :3].unsqueeze(0) * 3.0
    assert float(motion_diversity_loss(eye)) < 1e-10
    parallel = torch.ones(1, 6, 3)
    assert math.isclose(float(motion_diversity_loss(parallel)), 6 / 9, rel_tol=1e-5)


def test_frame_differences_and_discriminator():
    video = torch.randn(2, 3, 3, 16, 16)
    diffs = frame_pair_differences(video)
    assert diffs.shape == (2, 3, 3, 16, 16)
    torch.testing.assert_close(diffs[:, :, 1], video[:, :, 2] - video[:, :, 0])
    d = SparseFrameDiscriminator(resolution=16, num_frames=3, channel_base=64, channel_max=8)
    times = torch.tensor([[0.0, 2.0, 7.0], [1.0, 3.0, 4.0]])
    logits = d(video, times)
    assert logits.shape == (2,)
    assert not torch.allclose(logits, d(video, times + torch.tensor([0.0, 0.0, 5.0])))
    with pytest.raises(ValueError, match="expects"):
        d(torch.randn(2, 3, 4, 16, 16), times)


def test_sample_frame_times():
    times = sample_frame_times(5, 8, 3, torch.Generator().manual_seed(0))
    assert times.shape == (5, 3)
    assert (times[:, 1:] > times[:, :-1]).all() and times.min() >= 0 and times.max() < 8
    with pytest.raises(ValueError):
        sample_frame_times(1, 2, 3)


def test_arbitrary_length_sampling():
    g = MoStGANVGenerator(**TINY)
    assert g.sample(2, num_frames=5).shape == (2, 3, 5, 16, 16)
    long = g.sample(1, times=torch.tensor([0.0, 0.5, 33.0, 70.25]))
    assert long.shape == (1, 3, 4, 16, 16) and long.abs().max() <= 1
    video, diversity = g(*g.sample_noise(2, 9.0), torch.tensor([[0.0, 4.0, 9.0]] * 2),
                         return_diversity=True)
    assert video.shape == (2, 3, 3, 16, 16) and diversity.ndim == 0 and diversity >= 0


def test_training_steps_finite():
    trainer = build_mostganv(**TINY, r1_interval=2, ema_decay=0.9)
    real = torch.rand(2, 3, 6, 16, 16) * 2 - 1
    seen_r1 = False
    hyper_before = trainer.generator.hypernetworks[0].weight.detach().clone()
    for _ in range(2):
        stats = trainer.step(real)
        assert all(math.isfinite(v) for v in stats.values()), stats
        assert "diversity" in stats
        seen_r1 |= "r1" in stats
    assert seen_r1
    assert not torch.allclose(hyper_before, trainer.generator.hypernetworks[0].weight)
    assert trainer.sampling_generator.sample(1, num_frames=7).shape == (1, 3, 7, 16, 16)
    with pytest.raises(ValueError, match="expects real videos"):
        trainer.step(torch.zeros(2, 3, 6, 8, 8))
