"""ImaGINator and G3AN networks: output shapes and parameter counts against the thesis tables."""
import pytest
import torch

from generators.discriminators import (ImageDiscriminator, VideoDiscriminator2Plus1D,
                                       VideoDiscriminator3D)
from generators.g3an import G3ANGenerator
from generators.imaginator import ImaginatorGenerator
from generators.layers import count_parameters


def conv(cin, cout, kernel_volume, bias=False, bn=False):
    return cin * cout * kernel_volume + (cout if bias else 0) + (2 * cout if bn else 0)


def imaginator_table_parameters(n):
    """Table 3.1, convolutions without bias, batch norm (2 per channel) except the last layer."""
    enc = (conv(3, 64, 16, bn=True) + conv(64, 128, 16, bn=True) + conv(128, 256, 16, bn=True)
           + conv(256, 512, 16, bn=True) + conv(512, 100, 16, bn=True))
    dec = (conv(100 + 512 + n, 4096, 2, bn=True) + conv(4096, 512, 16, bn=True)
           + conv(512 + 512 + n, 3072, 4, bn=True) + conv(3072, 256, 16, bn=True)
           + conv(256 + 256 + n, 1536, 4, bn=True) + conv(1536, 128, 16, bn=True)
           + conv(128 + 128 + n, 768, 4, bn=True) + conv(768, 64, 16, bn=True)
           + conv(64 + 64 + n, 36, 4, bn=True) + conv(36, 3, 16))
    return enc + dec


def image_d_table_parameters():
    """Table 3.2 (biased convolutions; spectral norm adds no parameters)."""
    return (conv(3, 64, 16, True) + conv(64, 128, 16, True) + conv(128, 256, 16, True)
            + conv(256, 512, 16, True) + conv(512, 1, 16, True))


def video_d_table_parameters(n):
    """Table 3.3 with the label map concatenated to the output of Conv1."""
    return (conv(3, 64, 64, True) + conv(64 + n, 128, 64, True) + conv(128, 256, 64, True)
            + conv(256, 512, 64, True) + conv(512, 1, 32, True))


def g3an_parameters(za=128, zm=10, n=0, base=64):
    widths = [8 * base, 8 * base, 4 * base, 2 * base, base]
    kt = [4, 4, 4, 1, 1]
    total = 0
    in_s, in_v, in_t = za, za + zm, zm + n
    for out, k in zip(widths, kt):
        total += conv(in_v, out, k, bn=True) + conv(out, out, 16, bn=True)  # video (1+2)D
        total += conv(in_s, out, 16, bn=True) + conv(in_t, out, k, bn=True)  # spatial, temporal
        in_s, in_v, in_t = out, 2 * out, out
    c = 4 * base  # F-SA after G^3_3: 2 x 128 channels
    total += 2 * (2 * conv(c, c // 8, 1, True) + conv(c, c, 1, True) + 1)
    total += conv(2 * base, 3, 9, True)
    return total


def test_full_size_parameter_counts_match_the_tables(capsys):
    with torch.device("meta"):  # no memory, no initialisation cost
        counts = _full_size_counts()
    with capsys.disabled():
        for name, (got, _) in counts.items():
            print(f"\n  {name}: {got:,} parameters", end="")
        print()
    for name, (got, expected) in counts.items():
        assert got == expected, name


def _full_size_counts():
    return {
        "imaginator_G (6 classes)": (count_parameters(ImaginatorGenerator(num_classes=6)),
                                     imaginator_table_parameters(6)),
        "imaginator_D_I": (count_parameters(ImageDiscriminator()), image_d_table_parameters()),
        "imaginator_D_V (6 classes)": (count_parameters(VideoDiscriminator3D(num_classes=6)),
                                       video_d_table_parameters(6)),
        "g3an_G": (count_parameters(G3ANGenerator()), g3an_parameters()),
        "g3an_D_V": (count_parameters(VideoDiscriminator2Plus1D()), g3an_video_d_parameters()),
    }


def g3an_video_d_parameters():
    total, cin = 0, 3
    for cout in (64, 128, 256, 512):
        total += conv(cin, cout, 16, True) + conv(cout, cout, 4, True)
        cin = cout
    return total + conv(512, 512, 16, True) + conv(512, 1, 4, True)


def test_imaginator_shapes_tiny():
    g = ImaginatorGenerator(num_classes=3, base_channels=4, z_dim=8, latent_dim=5)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    video = g(image, torch.tensor([0, 2]))
    assert video.shape == (2, 3, 32, 64, 64)
    assert video.abs().max() <= 1
    # intermediate shapes follow table 3.1: T 2, 4, 8, 16, 32 and 4, 8, 16, 32, 64 pixels
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[2:])))
             for b in g.decoder]
    g(image, torch.tensor([1, 1]))
    for h in hooks:
        h.remove()
    assert shapes == [(2, 4, 4), (4, 8, 8), (8, 16, 16), (16, 32, 32), (32, 64, 64)]
    with pytest.raises(ValueError, match="64, 64"):
        g(torch.rand(1, 3, 32, 32), torch.tensor([0]))


def test_imaginator_3d_variant_same_shapes():
    g = ImaginatorGenerator(num_classes=0, base_channels=4, z_dim=8, latent_dim=5, conv_type="3d")
    assert g(torch.zeros(2, 3, 64, 64)).shape == (2, 3, 32, 64, 64)


def test_g3an_shapes_and_longer_motion_codes():
    g = G3ANGenerator(base_channels=4, num_classes=2)
    z_a, z_m = g.sample_noise(2)
    video = g(z_a, z_m, torch.tensor([0, 1]))
    assert video.shape == (2, 3, 16, 64, 64)
    z_a, z_m = g.sample_noise(1, steps=3)
    assert g(z_a, z_m, torch.tensor([1])).shape == (1, 3, g.frames_for_steps(3), 64, 64) \
        == (1, 3, 24, 64, 64)
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o[1].shape[1:])))
             for b in g.blocks]
    g(*g.sample_noise(1), torch.tensor([0]))
    for h in hooks:
        h.remove()
    assert shapes == [(64, 4, 4, 4), (64, 8, 8, 8), (32, 16, 16, 16), (16, 16, 32, 32),
                      (8, 16, 64, 64)]


def test_g3an_appearance_fixed_motion_varied_changes_video():
    g = G3ANGenerator(base_channels=4).eval()
    z_a, z_m = g.sample_noise(2)
    with torch.no_grad():
        a = g(z_a[:1].expand(2, -1), z_m)
    assert not torch.allclose(a[0], a[1])


def test_discriminators_tiny():
    assert ImageDiscriminator(4)(torch.randn(3, 3, 64, 64)).shape == (3,)
    dv = VideoDiscriminator3D(4, num_classes=2)
    assert dv(torch.randn(2, 3, 32, 64, 64), torch.tensor([0, 1])).shape == (2,)
    d2 = VideoDiscriminator2Plus1D(4, num_classes=2)
    assert d2(torch.randn(2, 3, 16, 64, 64), torch.tensor([0, 1])).shape == (2,)
    with pytest.raises(ValueError, match="16, 64, 64"):
        d2(torch.randn(1, 3, 32, 64, 64), torch.tensor([0]))
