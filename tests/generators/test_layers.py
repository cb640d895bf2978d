"""Building blocks: transposed (1+2)D vs 3D shapes, fusions, F-SA vs a direct computation, init."""
import pytest
import torch
from torch import nn

from generators.layers import (FactorizedSelfAttention, SpatialSelfAttention,
                               TemporalSelfAttention, VideoUpsampling, g3_fusion, init_gan_weights,
                               label_map, one_hot_labels, skip_fusion, upsampled_size)


@pytest.mark.parametrize("temporal,spatial", [((2, 1, 0), (4, 1, 0)), ((4, 2, 1), (4, 2, 1)),
                                              ((1, 1, 0), (4, 2, 1))])
def test_one_plus_two_d_matches_full_3d_transposed_shape(temporal, spatial):
    x = torch.randn(2, 6, 3, 5, 5)
    factorised = VideoUpsampling(6, 10, 4, temporal, spatial, "1+2d")
    two_plus_one = VideoUpsampling(6, 10, 4, temporal, spatial, "2+1d")
    full = nn.ConvTranspose3d(6, 4, (temporal[0], spatial[0], spatial[0]),
                              (temporal[1], spatial[1], spatial[1]),
                              (temporal[2], spatial[2], spatial[2]))
    expected = full(x).shape
    assert factorised(x).shape == expected
    assert two_plus_one(x).shape == expected
    assert VideoUpsampling(6, 10, 4, temporal, spatial, "3d")(x).shape == expected
    assert expected[2] == upsampled_size(3, *temporal)
    # the (1+2)D block really is temporal-only then spatial-only
    convs = [m for m in factorised.modules() if isinstance(m, nn.ConvTranspose3d)]
    assert convs[0].kernel_size == (temporal[0], 1, 1) and convs[0].out_channels == 10
    assert convs[1].kernel_size == (1, spatial[0], spatial[0])


def test_skip_fusion_replicates_image_and_labels_over_time():
    video = torch.randn(2, 3, 4, 5, 5)
    image = torch.randn(2, 2, 5, 5)
    onehot = one_hot_labels(torch.tensor([1, 0]), 3, 2, torch.device("cpu"))
    fused = skip_fusion(video, image, onehot)
    assert fused.shape == (2, 3 + 2 + 3, 4, 5, 5)
    for t in range(4):
        assert torch.equal(fused[:, 3:5, t], image)
    assert torch.all(fused[0, 5 + 1] == 1) and torch.all(fused[0, 5] == 0)
    with pytest.raises(ValueError, match="spatially"):
        skip_fusion(video, torch.randn(2, 2, 4, 4))


def test_g3_fusion_adds_temporal_and_concatenates_spatial():
    v = torch.randn(1, 2, 3, 4, 4)
    s = torch.randn(1, 2, 1, 4, 4)
    t = torch.randn(1, 2, 3, 1, 1)
    out = g3_fusion(v, s, t)
    assert out.shape == (1, 4, 3, 4, 4)
    assert torch.allclose(out[:, :2], s.expand(-1, -1, 3, -1, -1))
    assert torch.allclose(out[:, 2:, 1, 2, 3], v[:, :, 1, 2, 3] + t[:, :, 1, 0, 0])


def test_label_map_and_bad_labels():
    onehot = one_hot_labels(torch.tensor([2]), 4, 1, torch.device("cpu"))
    assert label_map(onehot, (2, 3)).shape == (1, 4, 2, 3)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        one_hot_labels(torch.tensor([4]), 4, 1, torch.device("cpu"))
    with pytest.raises(ValueError, match="pass labels"):
        one_hot_labels(None, 4, 1, torch.device("cpu"))


def _direct_attention(layer, x, axis):
    """Per-position loops over eqs. 4.1-4.4 (no reshapes)."""
    f, g, h = layer.f(x), layer.g(x), layer.h(x)
    b, c, t, hh, ww = x.shape
    out = x.clone()
    for n in range(b):
        if axis == "time":
            for y in range(hh):
                for xx in range(ww):
                    for j in range(t):
                        logits = torch.stack([g[n, :, j, y, xx] @ f[n, :, i, y, xx]
                                              for i in range(t)])
                        a = torch.softmax(logits, 0)
                        acc = sum(a[i] * h[n, :, i, y, xx] for i in range(t))
                        out[n, :, j, y, xx] = layer.gamma * acc + x[n, :, j, y, xx]
        else:
            positions = [(y, xx) for y in range(hh) for xx in range(ww)]
            for k in range(t):
                for (yj, xj) in positions:
                    logits = torch.stack([g[n, :, k, yj, xj] @ f[n, :, k, yi, xi]
                                          for (yi, xi) in positions])
                    a = torch.softmax(logits, 0)
                    acc = sum(a[m] * h[n, :, k, yi, xi] for m, (yi, xi) in enumerate(positions))
                    out[n, :, k, yj, xj] = layer.gamma * acc + x[n, :, k, yj, xj]
    return out


@pytest.mark.parametrize("cls,axis", [(TemporalSelfAttention, "time"),
                                      (SpatialSelfAttention, "space")])
def test_attention_matches_direct_per_position_computation(cls, axis):
    torch.manual_seed(0)
    layer = cls(16)
    assert layer.gamma.item() == 0.0  # initialised to zero: identity at start
    x = torch.randn(2, 16, 3, 2, 3)
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.gamma.fill_(0.7)
        expected = _direct_attention(layer, x, axis)
        assert torch.allclose(layer(x), expected, atol=1e-5)


def test_attention_is_not_a_mere_reshape():
    """Distinct values along each axis: a reshape-based layout would mix time and space."""
    torch.manual_seed(1)
    layer = TemporalSelfAttention(8)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    x = torch.zeros(1, 8, 4, 2, 2)
    x[:, :, :, 0, 0] = torch.randn(1, 8, 4)  # only one spatial position carries signal
    with torch.no_grad():
        y = layer(x)
    # positions without signal attend only among themselves: output = gamma * h(0) + 0 = bias
    rest = y[:, :, :, 1, 1]
    assert torch.allclose(rest, rest[:, :, :1].expand_as(rest), atol=1e-6)


def test_factorized_attention_is_temporal_then_spatial():
    fsa = FactorizedSelfAttention(8)
    assert isinstance(fsa.temporal, TemporalSelfAttention)
    x = torch.randn(1, 8, 3, 2, 2)
    with torch.no_grad():
        fsa.temporal.gamma.fill_(0.5)
        fsa.spatial.gamma.fill_(0.5)
        assert torch.allclose(fsa(x), fsa.spatial(fsa.temporal(x)))


def test_init_covers_transposed_convolutions_and_spectral_norm():
    from generators.layers import spectral

    model = nn.Sequential(nn.ConvTranspose3d(4, 64, 3), nn.BatchNorm3d(64),
                          spectral(nn.ConvTranspose2d(64, 64, 3)))
    nn.init.constant_(model[0].weight, 5.0)
    init_gan_weights(model)
    assert abs(model[0].weight.std().item() - 0.02) < 0.005
    assert abs(model[1].weight.mean().item() - 1.0) < 0.02
    original = model[2].parametrizations.weight.original
    assert abs(original.std().item() - 0.02) < 0.005
    model.eval()
    # spectral normalisation still gives a unit largest singular value after re-initialisation
    w = model[2].weight.detach()
    sigma = torch.linalg.matrix_norm(w.permute(1, 0, 2, 3).flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, rel=0.1)
