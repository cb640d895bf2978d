"""Style-based blocks: modulated convolution against a per-sample loop, resampling, synthesis,
discriminator, losses, R1 on a known function, EMA."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from generators.stylegan import (GeneratorEMA, MappingNetwork, MinibatchStdLayer,
                                 ModulatedConv2d, ResidualDiscriminator, SynthesisNetwork,
                                 d_logistic_loss, downsample2d, g_nonsaturating_loss,
                                 modulated_conv2d, r1_penalty, upsample2d)


def _reference_modconv(x, weight, styles, demodulate, padding, transform=None):
    outs = []
    for b in range(x.shape[0]):
        w = weight * styles[b][None, :, None, None]
        if transform is not None:
            w = transform(w[None])[0]
        if demodulate:
            w = w / torch.sqrt((w ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[b:b + 1], w, padding=padding))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_per_sample_loop(demodulate):
    x = torch.randn(3, 5, 8, 8, dtype=torch.float64)
    weight = torch.randn(4, 5, 3, 3, dtype=torch.float64)
    styles = torch.randn(3, 5, dtype=torch.float64)
    ours = modulated_conv2d(x, weight, styles, demodulate, padding=1)
    ref = _reference_modconv(x, weight, styles, demodulate, 1)
    assert ours.shape == (3, 4, 8, 8)
    torch.testing.assert_close(ours, ref)


def test_modulated_conv_weight_transform_applied_per_sample():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    styles = torch.randn(2, 3, dtype=torch.float64)
    transform = lambda w: w * torch.linspace(0.5, 2.0, w.shape[1], dtype=w.dtype)[None, :, None,
                                                                                    None, None]
    ours = modulated_conv2d(x, weight, styles, True, 1, transform)
    ref = _reference_modconv(x, weight, styles, True, 1, transform)
    torch.testing.assert_close(ours, ref)


def test_demodulated_output_has_unit_weight_norm():
    conv = ModulatedConv2d(6, 4, 3, w_dim=8)
    # An input of a single unit impulse per channel makes the output the weight norm per channel.
    w = torch.randn(2, 8)
    styles = conv.affine(w)
    weights = conv.weight.unsqueeze(0) * conv.scale * styles[:, None, :, None, None]
    demod = weights * (weights.square().sum((2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    torch.testing.assert_close(demod.square().sum((2, 3, 4)), torch.ones(2, 4))


def test_up_and_down_sampling_shapes_and_constant_preserved():
    x = torch.ones(2, 3, 8, 8)
    up = upsample2d(x)
    down = downsample2d(x)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))


def test_mapping_and_synthesis_shapes_noise_and_skip():
    mapping = MappingNetwork(z_dim=16, w_dim=16, num_layers=2)
    synthesis = SynthesisNetwork(resolution=16, w_dim=16, channel_base=128, channel_max=16)
    w = mapping(torch.randn(3, 16))
    image = synthesis(w)
    assert image.shape == (3, 3, 16, 16) and torch.isfinite(image).all()
    assert synthesis.num_conv_layers == 5 and synthesis.num_ws == 8
    # Per-layer ws are accepted; noise makes two calls differ only once strengths are non-zero.
    ws = w[:, None].expand(-1, synthesis.num_ws, -1)
    torch.manual_seed(1)
    a = synthesis(ws)
    torch.manual_seed(2)
    b = synthesis(ws)
    torch.testing.assert_close(a, b)
    for layer in synthesis.styled_layers:
        nn.init.constant_(layer.noise.strength, 0.5)
    assert not torch.allclose(synthesis(ws), synthesis(ws))
    with pytest.raises(ValueError, match="ws must be"):
        synthesis(torch.randn(3, 7))


def test_synthesis_input_code_and_layer_transforms():
    synthesis = SynthesisNetwork(resolution=8, w_dim=8, channel_base=64, channel_max=8,
                                 input_code_dim=4, use_noise=False)
    w = torch.randn(2, 8)
    code = torch.randn(2, 4)
    base = synthesis(w, input_code=code)
    zero = [lambda wt: wt * 0 + 1e-3] + [None] * (synthesis.num_conv_layers - 1)
    changed = synthesis(w, layer_transforms=zero, input_code=code)
    assert base.shape == changed.shape == (2, 3, 8, 8)
    assert not torch.allclose(base, changed)
    with pytest.raises(ValueError, match="input_code"):
        synthesis(w)


def test_discriminator_and_minibatch_std():
    d = ResidualDiscriminator(resolution=16, in_channels=6, channel_base=128, channel_max=16)
    assert d(torch.randn(6, 6, 16, 16)).shape == (6,)
    layer = MinibatchStdLayer(group_size=4)
    x = torch.randn(6, 4, 2, 2)
    out = layer(x)                      # batch 6 -> group of 3
    assert out.shape == (6, 5, 2, 2)
    groups = x.reshape(3, 2, 4, 2, 2)
    expected = groups.var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3))
    torch.testing.assert_close(out[:2, 4, 0, 0], expected)
    with pytest.raises(ValueError, match="expects"):
        d(torch.randn(2, 3, 16, 16))


def test_losses_known_values():
    zero = torch.zeros(4)
    assert math.isclose(float(d_logistic_loss(zero, zero)), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(float(g_nonsaturating_loss(zero)), math.log(2), rel_tol=1e-6)
    assert float(g_nonsaturating_loss(torch.full((2,), 20.0))) < 1e-6


def test_r1_penalty_on_linear_function():
    weight = torch.randn(3, 4, 4)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = (x * weight).sum(dim=(1, 2, 3))          # D(x) = sum(w * x) -> grad = w
    penalty = r1_penalty(logits, x)
    torch.testing.assert_close(penalty, weight.square().sum())
    # Quadratic D(x) = 0.5 ||x||^2 has gradient x: the penalty is the mean squared norm of x.
    x2 = torch.randn(4, 2, 3, 3, requires_grad=True)
    penalty2 = r1_penalty(0.5 * x2.square().sum(dim=(1, 2, 3)), x2)
    torch.testing.assert_close(penalty2, x2.detach().square().sum(dim=(1, 2, 3)).mean())
    assert penalty2.requires_grad


def test_generator_ema():
    model = nn.Linear(3, 2)
    ema = GeneratorEMA(model, decay=0.5)
    before = ema.shadow.weight.clone()
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow.weight, before + 1.0)
    assert not any(p.requires_grad for p in ema.shadow.parameters())
    assert math.isclose(GeneratorEMA.decay_from_half_life(10, 10), 0.5)
    with pytest.raises(ValueError):
        GeneratorEMA(model, decay=1.0)
