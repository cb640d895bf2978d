"""SSIM / PSNR / ACD, the Fréchet distance and feature extraction with random feature networks."""
import numpy as np
import pytest
import torch

from generators.metrics import (InceptionI3d, acd, extract_features, frechet_distance, fvd,
                                gaussian_statistics, load_feature_network, psnr, resnext101_3d,
                                ssim)


def test_psnr_known_value_and_identity():
    real = torch.zeros(2, 3, 4, 16, 16)        # 0.5 in [0, 1]
    fake = torch.full_like(real, 0.2)          # 0.6 -> mse 0.01 -> 20 dB
    assert torch.allclose(psnr(fake, real), torch.full((2,), 20.0), atol=1e-4)
    assert torch.all(psnr(real, real) == 100.0)


def test_ssim_properties():
    torch.manual_seed(0)
    real = torch.rand(2, 3, 4, 32, 32) * 2 - 1
    assert torch.allclose(ssim(real, real), torch.ones(2), atol=1e-5)
    noisy = (real + 0.3 * torch.randn_like(real)).clamp(-1, 1)
    value = ssim(noisy, real)
    assert torch.all(value < 0.9) and torch.allclose(value, ssim(real, noisy), atol=1e-6)
    more = ssim((real + 0.6 * torch.randn_like(real)).clamp(-1, 1), real)
    assert torch.all(more < value)


def test_acd_static_and_moving():
    still = torch.rand(1, 3, 1, 16, 16).expand(2, 3, 5, 16, 16) * 2 - 1
    scores = acd(still, reference=still[:, :, 0])
    assert scores["acd_c"] == pytest.approx(0.0, abs=1e-6)
    assert scores["acd_i"] == pytest.approx(0.0, abs=1e-6)
    moving = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    assert acd(moving)["acd_c"] > 0.1


def test_frechet_distance_of_shifted_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    mu, sigma = gaussian_statistics(a)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    mu2, sigma2 = gaussian_statistics(a + np.array([2.0, 0, 0]))
    assert frechet_distance(mu, sigma, mu2, sigma2) == pytest.approx(4.0, rel=1e-3)


def test_resnext101_features_random_weights_tiny_input():
    torch.manual_seed(0)
    net = resnext101_3d()
    assert sum(1 for m in net.modules() if m.__class__.__name__ == "ResNeXtBottleneck") == 33
    net.input_size = 32  # tiny inputs keep the test fast; the metric uses 112
    feats = extract_features(net, torch.rand(3, 3, 8, 64, 64) * 2 - 1, batch_size=2)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()


def test_i3d_features_and_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    net = InceptionI3d().eval()
    net.input_size = 32
    names = net.state_dict().keys()
    assert "Conv3d_1a_7x7.conv3d.weight" in names and "Mixed_5c.b3b.bn.running_var" in names
    assert "logits.conv3d.bias" in names
    path = tmp_path / "i3d.pt"
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, path)
    loaded = load_feature_network("i3d", str(path))
    loaded.input_size = 32
    videos = torch.rand(4, 3, 8, 64, 64) * 2 - 1
    a, b = extract_features(net, videos), extract_features(loaded, videos)
    assert a.shape == (4, 400) and np.allclose(a, b, atol=1e-5)
    assert fvd(net, videos[:2].repeat(2, 1, 1, 1, 1), videos[:2].repeat(2, 1, 1, 1, 1)) \
        == pytest.approx(0.0, abs=1e-3)


def test_missing_weights_error_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="resnext-101-kinetics.pth"):
        load_feature_network("resnext101", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="rgb_imagenet.pt"):
        load_feature_network("i3d", "")
    bad = tmp_path / "bad.pt"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="missing"):
        load_feature_network("i3d", str(bad))


def test_evaluate_generator_imaginator_scores():
    from generators.config import load_generator_config
    from generators.evaluation import evaluate_generator
    from generators.imaginator import ImaginatorGenerator

    cfg = load_generator_config(None, ["MODEL.NAME", "imaginator", "MODEL.NUM_CLASSES", "2"])
    g = ImaginatorGenerator(num_classes=2, base_channels=4, z_dim=8, latent_dim=5).eval()
    data = [{"video": torch.rand(3, 32, 64, 64) * 2 - 1, "label": i % 2} for i in range(3)]
    scores = evaluate_generator(g, cfg, data, num_videos=3, batch_size=2)
    assert {"ssim", "psnr", "acd_c", "acd_i", "acd_c_real"} <= set(scores)
    assert scores["num_videos"] == 3


class _LabelBlindGenerator(torch.nn.Module):
    """Animates its input frame by a noise-driven brightness ramp; ignores the label."""
    num_classes = 2

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def sample_noise(self, batch, device="cpu", generator=None):
        return torch.randn(batch, 4, device=device, generator=generator)

    def forward(self, image, labels=None, z=None):
        ramp = torch.linspace(0, 1, 32)[None, None, :, None, None]
        return image[:, :, None] * self.scale + 0.1 * z[:, :1, None, None, None] * ramp


def test_motion_noise_and_label_effects_of_the_evaluation():
    """The diagnostics of what drives the motion: a generator blind to its label has label
    effect 0 and a noise effect of its noise's size; motion is the change from frame 0."""
    from generators.config import load_generator_config
    from generators.evaluation import evaluate_generator, motion, other_labels

    clip = torch.zeros(1, 3, 4, 2, 2)
    clip[:, :, 1:] = 0.5
    assert motion(clip) == pytest.approx(0.375)
    labels = torch.tensor([0, 1, 2, 2, 0])
    relabelled = other_labels(labels, 3)
    assert (relabelled != labels).all() and relabelled.tolist() == [1, 0, 0, 1, 1]

    cfg = load_generator_config(None, ["MODEL.NAME", "imaginator", "MODEL.NUM_CLASSES", "2",
                                       "MODEL.Z_DIM", "4"])
    still = torch.rand(3, 64, 64) * 2 - 1
    data = [{"video": still[:, None].expand(3, 32, 64, 64).clone(), "label": i % 2}
            for i in range(4)]
    scores = evaluate_generator(_LabelBlindGenerator(), cfg, data, num_videos=4, batch_size=2)
    assert scores["label_effect"] == 0.0
    assert scores["motion_real"] == 0.0
    assert 0.0 < scores["motion"] < 0.1
    assert 0.0 < scores["noise_effect"] < 0.2
