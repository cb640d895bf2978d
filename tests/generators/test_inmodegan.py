"""InMoDeGAN: motion bank orthonormality, LMD, direction manipulation, TPD, training steps and
optical-flow statistics, at tiny sizes."""
import math

import numpy as np
import pytest
import torch

from generators.inmodegan import (InMoDeGANGenerator, MotionBank, build_inmodegan,
                                  direction_motion_statistics, flow_statistics, farneback_flow,
                                  linear_motion_decomposition, time_to_channel)

TINY = dict(resolution=64, num_frames=4, za_dim=16, zm_dim=8, w_dim=16, num_directions=8,
            mlp_layers=2, channel_base=128, channel_max=8)


def _tiny_generator(**kw) -> InMoDeGANGenerator:
    args = dict(TINY)
    args.update(kw)
    return InMoDeGANGenerator(**args)


@pytest.mark.parametrize("basis", ["svd", "qr"])
def test_motion_bank_orthonormal_after_optimiser_steps(basis):
    bank = MotionBank(num_directions=6, dim=10, basis=basis)
    target = torch.randn(6, 10)
    opt = torch.optim.Adam(bank.parameters(), lr=0.1)
    start = bank.matrix.detach().clone()
    for _ in range(5):
        loss = (bank.directions() - target).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.allclose(start, bank.matrix.detach())
    d = bank.directions()
    torch.testing.assert_close(d @ d.t(), torch.eye(6), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="basis"):
        MotionBank(4, 4, basis="eig")
    with pytest.raises(ValueError, match="cannot exceed"):
        MotionBank(8, 4)


def test_lmd_matches_recursion():
    w0 = torch.randn(2, 5)
    a = torch.randn(2, 6, 3)
    d = torch.linalg.qr(torch.randn(5, 3))[0].t()
    w = linear_motion_decomposition(w0, a, d)
    assert w.shape == (2, 7, 5)
    current = w0.clone()
    torch.testing.assert_close(w[:, 0], w0)
    for t in range(6):                       # w_{t+1} = w_t + sum_i alpha_{t,i} d_i (eq. 5.2)
        current = current + sum(a[:, t, i:i + 1] * d[i] for i in range(3))
        torch.testing.assert_close(w[:, t + 1], current)


def test_deactivating_a_direction_removes_its_contribution():
    g = _tiny_generator(use_noise=False)
    z_a, z_m = g.sample_noise(3)
    d = g.motion_bank.directions().detach()
    w_all, a = g.latent_codes(z_a, z_m)
    w_off, _ = g.latent_codes(z_a, z_m, g.mask(inactive=[2]))
    w_only, _ = g.latent_codes(z_a, z_m, g.mask(active=[2]))
    w0 = w_all[:, :1]
    # Without d_2 its coordinate stays at w_0's; the removed part is exactly cumsum(alpha_2) d_2.
    torch.testing.assert_close(((w_off - w0) @ d[2]), torch.zeros(3, 4), atol=1e-5, rtol=0)
    removed = torch.cat([torch.zeros(3, 1), a[:, :, 2].cumsum(1)], 1)[..., None] * d[2]
    torch.testing.assert_close(w_all - w_off, removed, atol=1e-5, rtol=0)
    torch.testing.assert_close(w_only - w0, removed, atol=1e-5, rtol=0)
    # No direction active: every frame renders w_0, so the video is static.
    static = g.sample(3, noise=(z_a, z_m), active=[])
    torch.testing.assert_close(static, static[:, :, :1].expand_as(static))
    with pytest.raises(ValueError, match="outside"):
        g.mask(active=[8])


def test_time_to_channel_order():
    video = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4, 1, 1)[0]
    video = video.reshape(2, 3, 4, 1, 1)[:1].expand(1, 3, 4, 2, 2)      # (1, 3, T=4, 2, 2)
    stacked = time_to_channel(video, 2)
    assert stacked.shape == (1, 6, 2, 2)
    torch.testing.assert_close(stacked[:, :3], video[:, :, 0])
    torch.testing.assert_close(stacked[:, 3:], video[:, :, 2])


def _train_steps(resolution: int):
    trainer = build_inmodegan(**{**TINY, "resolution": resolution}, temporal_strides=(1, 2),
                              r1_interval=2, ema_decay=0.9)
    assert trainer.discriminator.video_weight == 0.5
    real = torch.rand(2, 3, 4, resolution, resolution) * 2 - 1
    before = trainer.generator.motion_bank.matrix.detach().clone()
    seen_r1 = False
    for _ in range(2):
        stats = trainer.step(real)
        assert all(math.isfinite(v) for v in stats.values()), stats
        seen_r1 |= "r1" in stats
    assert seen_r1
    bank = trainer.generator.motion_bank
    assert not torch.allclose(before, bank.matrix.detach())
    d = bank.directions()
    torch.testing.assert_close(d @ d.t(), torch.eye(8), atol=1e-5, rtol=0)
    video = trainer.sampling_generator.sample(2, num_frames=6)          # longer than training
    assert video.shape == (2, 3, 6, resolution, resolution) and video.abs().max() <= 1
    with pytest.raises(ValueError, match="expects real videos"):
        trainer.step(torch.zeros(2, 3, 5, resolution, resolution))
    state = trainer.state_dict()
    assert state["iteration"] == 2


def test_training_steps_finite_and_bank_stays_orthonormal():
    _train_steps(16)


@pytest.mark.slow
def test_training_steps_at_64():
    _train_steps(64)


def test_resolution_128_and_unsupported_resolution():
    g = _tiny_generator(resolution=128, channel_max=4)
    assert g.sample(1).shape == (1, 3, 4, 128, 128)
    with pytest.raises(ValueError, match="power of two"):
        build_inmodegan(**{**TINY, "resolution": 48})


def _translating_video(dx: int, dy: int, frames: int = 4, size: int = 32) -> torch.Tensor:
    rng = np.random.default_rng(0)
    texture = cv_blur(rng.random((size * 2, size * 2)).astype(np.float32))
    out = [texture[8 - f * dy: 8 - f * dy + size, 8 - f * dx: 8 - f * dx + size]
           for f in range(frames)]
    video = torch.from_numpy(np.stack(out)) * 2 - 1                    # (T, H, W)
    return video[None, None].expand(1, 3, -1, -1, -1).contiguous()


def cv_blur(image: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.GaussianBlur(image, (5, 5), 1.5)


def test_flow_statistics_of_known_translation():
    video = _translating_video(1, 1)                  # moves right and down: 45 degrees
    flow = farneback_flow(video)
    assert flow.shape == (1, 3, 32, 32, 2)
    region = np.zeros((32, 32), bool)
    region[8:24, 8:24] = True
    stats = flow_statistics(flow, num_bins=4, regions={"centre": region})
    assert abs(stats["dominant_deg"] - 45.0) < 15.0
    assert int(np.argmax(stats["phi"])) == 0 and stats["Phi"] > 0
    assert stats["regions"]["centre"] > 0.5
    still = flow_statistics(farneback_flow(_translating_video(0, 0)), radius=stats["radius"])
    assert still["Phi"] < 0.02


def test_direction_motion_statistics_runs():
    g = _tiny_generator(use_noise=False)
    mask = np.ones((64, 64), bool)
    stats = direction_motion_statistics(g, direction=1, batch=1, num_frames=3,
                                        regions={"body": mask})
    for key in ("original", "deactivated", "only", "none", "delta_deactivated", "delta_only"):
        assert key in stats
    assert stats["none"]["Phi"] < 0.02                 # static video: (almost) no flow
    assert stats["original"]["phi"].shape == (4,)
    assert set(stats["delta_only"]["regions"]) == {"body"}
