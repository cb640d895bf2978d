"""The paper choices that are config keys: InMoDeGAN's temporal-pyramid levels and batch,
MoStGAN-V's hypernetwork, motion-style resolutions and frame-fusion discriminator, and the
parameter-matched table 3.12 comparison of ImaGINator; tiny widths throughout."""
import pytest
import torch

from benchmarks.video_gan import imaginator_parameters, matched_base_channels, model_config
from generators.config import ConfigError, load_generator_config
from generators.inmodegan import InMoDeGANDiscriminator, pyramid_strides
from generators.inmodegan.hooks import temporal_strides
from generators.layers import count_parameters
from generators.mostganv import (Conv1dHyperNetwork, FrameFusionDiscriminator,
                                 LowRankHyperNetwork, MoStGANVGenerator,
                                 SparseFrameDiscriminator, build_discriminator,
                                 build_hypernetwork)
from generators.mostganv import generator as mostganv_generator
from generators.registry import get_video_gan

# 32x32 with a distinct width per resolution: 4 -> 64, 8 -> 32, 16 -> 16, 32 -> 8 channels
TINY_G = dict(resolution=32, z_dim=8, w_dim=8, zm_dim=4, num_freqs=3, motion_dim=4,
              num_styles=3, rank=1, mapping_layers=1, trajectory_kernel=3, anchor_spacing=4.0,
              channel_base=256, channel_max=64)
TIMES = torch.tensor([[0.0, 2.0, 5.0], [1.0, 3.0, 4.0]])


def _generator(**kw) -> MoStGANVGenerator:
    torch.manual_seed(0)
    return MoStGANVGenerator(**{**TINY_G, **kw})


def _config(name, opts=()):
    return load_generator_config(f"configs/generators/{name}.yaml",
                                 ["MODEL.DEVICE", "cpu", *opts])


# --- MoStGAN-V hypernetworks --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["conv1d", "linear"])
def test_hypernetwork_factor_shapes(kind):
    hyper = build_hypernetwork(kind, motion_dim=4, in_channels=5, kernel_size=3, rank=2)
    factors = hyper(torch.randn(6, 3, 4))                       # (B*n, K, motion_dim)
    assert factors.shape == (6, 3, 2, 5 + 3 + 3)
    assert isinstance(hyper, Conv1dHyperNetwork if kind == "conv1d" else LowRankHyperNetwork)


def test_hypernetwork_parameter_counts_conv1d_vs_linear():
    out = 2 * (5 + 2 * 3)                                       # rank x (I + k + k)
    conv1 = build_hypernetwork("conv1d", 4, 5, 3, rank=2, conv_kernel=1)
    conv3 = build_hypernetwork("conv1d", 4, 5, 3, rank=2, conv_kernel=3)
    linear = build_hypernetwork("linear", 4, 5, 3, rank=2)
    assert count_parameters(conv1) == out * 4                   # no bias
    assert count_parameters(conv3) == out * 4 * 3
    assert count_parameters(linear) == out * (4 + 1)            # weight + bias
    # in the generator: one hypernetwork per motion layer, the counts differ by the biases
    g_conv, g_linear = _generator(hypernet="conv1d"), _generator(hypernet="linear")
    shapes = g_conv.synthesis.layer_shapes()
    biases = sum(TINY_G["rank"] * (shapes[j][1] + 2 * shapes[j][2])
                 for j in g_conv.motion_layers)
    assert count_parameters(g_linear) - count_parameters(g_conv) == biases


def test_conv1d_hypernetwork_mixes_neighbouring_styles_only_with_a_wider_kernel():
    torch.manual_seed(0)
    motion = torch.randn(2, 4, 6)
    changed = motion.clone()
    changed[:, 0] += 1.0
    for kernel, neighbour_changes in ((1, False), (3, True)):
        hyper = Conv1dHyperNetwork(6, 5, 3, rank=1, conv_kernel=kernel)
        a, b = hyper(motion), hyper(changed)
        assert not torch.allclose(a[:, 0], b[:, 0])
        assert torch.allclose(a[:, 1], b[:, 1]) != neighbour_changes
        torch.testing.assert_close(a[:, 3], b[:, 3])            # beyond the kernel's reach
    with pytest.raises(ValueError, match="odd"):
        Conv1dHyperNetwork(6, 5, 3, conv_kernel=2)


@pytest.mark.parametrize("kind,kernel", [("conv1d", 1), ("conv1d", 3), ("linear", 1)])
def test_generator_output_shapes_per_hypernetwork(kind, kernel):
    g = _generator(hypernet=kind, hypernet_kernel=kernel)
    video, diversity = g(*g.sample_noise(2, 5.0), TIMES, return_diversity=True)
    assert video.shape == (2, 3, 3, 32, 32) and torch.isfinite(video).all()
    assert diversity.ndim == 0 and diversity >= 0


# --- MoStGAN-V motion-style resolutions ---------------------------------------------------------

def test_motion_styles_only_at_the_configured_resolutions(monkeypatch):
    g = _generator(motion_resolutions=(16, 16))
    resolutions = g.synthesis.layer_resolutions()
    assert resolutions == [4, 8, 8, 16, 16, 32, 32]
    assert g.motion_layers == [3, 4] and len(g.hypernetworks) == 2
    seen = []
    original = mostganv_generator.motion_style_attention

    def recording(weight, factors):
        seen.append(tuple(weight.shape[1:3]))                   # (out, in) channels
        return original(weight, factors)

    monkeypatch.setattr(mostganv_generator, "motion_style_attention", recording)
    g(*g.sample_noise(2, 5.0), TIMES)
    # only the two 16x16 convolutions (32 -> 16 up-sampling, 16 -> 16) took motion styles
    assert seen == [(16, 32), (16, 16)]
    every = _generator(motion_resolutions=(4, 32))
    assert every.motion_layers == list(range(7))
    paper = _generator(resolution=256, channel_base=512, channel_max=4)
    assert {paper.synthesis.layer_resolutions()[j] for j in paper.motion_layers} == \
        {16, 32, 64, 128}
    with pytest.raises(ValueError, match="select no synthesis layer"):
        _generator(motion_resolutions=(64, 128))


# --- MoStGAN-V frame-fusion discriminator -------------------------------------------------------

@pytest.mark.parametrize("kind", ["fusion", "stacked"])
@pytest.mark.parametrize("differences", [True, False])
def test_discriminator_output_shapes(kind, differences):
    torch.manual_seed(0)
    d = build_discriminator(kind, resolution=32, num_frames=3, channel_base=256, channel_max=16,
                            use_differences=differences, fusion_resolution=16)
    assert isinstance(d, FrameFusionDiscriminator if kind == "fusion"
                      else SparseFrameDiscriminator)
    video = torch.randn(2, 3, 3, 32, 32)
    logits = d(video, TIMES)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    assert not torch.allclose(logits, d(video, TIMES + torch.tensor([0.0, 0.0, 4.0])))


def test_fusion_discriminator_sees_per_frame_features():
    torch.manual_seed(0)
    d = FrameFusionDiscriminator(resolution=32, num_frames=3, channel_base=256, channel_max=16,
                                 fusion_resolution=16)
    inputs = []
    d.from_rgb.register_forward_hook(lambda module, args, out: inputs.append(args[0].shape))
    video = torch.randn(2, 3, 3, 32, 32)
    feats = d.frame_features(video)
    # 3 frames + 3 pair differences, each its own image through the 2D trunk
    assert inputs == [torch.Size([2 * 6, 3, 32, 32])]
    assert feats.shape == (2, 6, d.frame_channels, 16, 16) and d.frame_channels == 8
    changed = video.clone()
    changed[:, :, 1] += 0.5
    other = d.frame_features(changed)
    # frames 0 and 2 and their difference keep their features; frame 1 and its differences
    # (1 - 0, 2 - 1: images 3 and 5) do not
    for image in (0, 2, 4):
        torch.testing.assert_close(feats[:, image], other[:, image])
    for image in (1, 3, 5):
        assert not torch.allclose(feats[:, image], other[:, image])
    # fused on channels at 16x16: the first clip-level block takes 6 x 8 channels
    assert d.video_blocks[0].conv0.weight.shape[1] == 6 * 8
    # fusing at the input resolution works too (per image: fromRGB only)
    whole = FrameFusionDiscriminator(resolution=16, num_frames=2, channel_base=64,
                                     channel_max=8, fusion_resolution=16)
    assert whole(torch.randn(2, 3, 2, 16, 16), TIMES[:, :2]).shape == (2,)
    with pytest.raises(ValueError, match="fusion_resolution"):
        FrameFusionDiscriminator(resolution=16, fusion_resolution=32)


# --- InMoDeGAN temporal pyramid -----------------------------------------------------------------

@pytest.mark.parametrize("levels", [1, 3, 4])
def test_temporal_pyramid_levels(levels):
    assert pyramid_strides(levels) == tuple(2 ** i for i in range(levels))
    d = InMoDeGANDiscriminator(num_frames=16, resolution=8, strides=pyramid_strides(levels),
                               channel_base=32, channel_max=4)
    frames = [disc.from_rgb.weight.shape[1] // 3 for disc in d.pyramid.discriminators]
    assert frames == [16, 8, 4, 2][:levels]
    scores = d(torch.randn(2, 3, 16, 8, 8))
    assert len(scores) == 1 + levels and all(s.shape == (2,) for s, _ in scores)
    assert [w for _, w in scores] == [1.0] + [0.5] * levels


# --- config keys ---------------------------------------------------------------------------------

def test_paper_configs_load_with_the_paper_values():
    cfg = _config("inmodegan")
    assert cfg.SOLVER.BATCH_SIZE == 32
    assert cfg.MODEL.INMODEGAN.TEMPORAL_LEVELS == 4 and temporal_strides(cfg) == (1, 2, 4, 8)
    assert cfg.MODEL.INMODEGAN.VIDEO_WEIGHT == 0.5
    synthetic = _config("inmodegan_synthetic")
    assert synthetic.SOLVER.BATCH_SIZE == 4 and temporal_strides(synthetic) == (1, 2, 4)
    v = _config("mostganv").MODEL.MOSTGANV
    assert (v.HYPERNET, v.HYPERNET_KERNEL, tuple(v.MOTION_RESOLUTIONS)) == ("conv1d", 1, (16, 128))
    assert (v.DISCRIMINATOR, v.FUSION_RESOLUTION, v.FRAME_DIFFERENCES) == ("fusion", 16, True)
    solver = _config("mostganv").SOLVER
    assert (solver.R1_GAMMA, solver.DIVERSITY_WEIGHT) == (1.0, 1.0)   # not given in the paper
    # the networks built from the paper configs (meta device: no memory) carry the choices
    with torch.device("meta"):
        inmodegan = get_video_gan("inmodegan").build_trainer(cfg, "meta")
        mostganv = get_video_gan("mostganv").build_trainer(_config("mostganv"), "meta")
    assert inmodegan.discriminator.pyramid.strides == [1, 2, 4, 8]
    assert isinstance(mostganv.discriminator, FrameFusionDiscriminator)
    assert all(isinstance(h, Conv1dHyperNetwork) for h in mostganv.generator.hypernetworks)
    layer_res = mostganv.generator.synthesis.layer_resolutions()
    assert {layer_res[j] for j in mostganv.generator.motion_layers} == {16, 32, 64, 128}


@pytest.mark.parametrize("name,key,value,message", [
    ("mostganv", "MODEL.MOSTGANV.HYPERNET", "mlp", "MODEL.MOSTGANV.HYPERNET is 'mlp'"),
    ("mostganv", "MODEL.MOSTGANV.HYPERNET_KERNEL", "2", "MODEL.MOSTGANV.HYPERNET_KERNEL"),
    ("mostganv", "MODEL.MOSTGANV.MOTION_RESOLUTIONS", "[16]", "MOTION_RESOLUTIONS"),
    ("mostganv", "MODEL.MOSTGANV.MOTION_RESOLUTIONS", "[128, 16]", "MOTION_RESOLUTIONS"),
    ("mostganv", "MODEL.MOSTGANV.MOTION_RESOLUTIONS", "[12, 128]", "MOTION_RESOLUTIONS"),
    ("mostganv_synthetic", "MODEL.MOSTGANV.MOTION_RESOLUTIONS", "[64, 128]",
     "MOTION_RESOLUTIONS.*selects no"),
    ("mostganv", "MODEL.MOSTGANV.DISCRIMINATOR", "3d", "MODEL.MOSTGANV.DISCRIMINATOR is '3d'"),
    ("mostganv", "MODEL.MOSTGANV.FUSION_RESOLUTION", "12", "MODEL.MOSTGANV.FUSION_RESOLUTION"),
    ("mostganv_synthetic", "MODEL.MOSTGANV.FUSION_RESOLUTION", "64", "FUSION_RESOLUTION"),
    ("inmodegan", "MODEL.INMODEGAN.TEMPORAL_LEVELS", "0", "MODEL.INMODEGAN.TEMPORAL_LEVELS"),
    ("inmodegan", "MODEL.INMODEGAN.TEMPORAL_LEVELS", "5", "TEMPORAL_LEVELS 5.*NUM_FRAMES"),
    ("inmodegan", "MODEL.INMODEGAN.TEMPORAL_STRIDES", "[1, 2]", "TEMPORAL_STRIDES"),
])
def test_bad_values_are_refused_naming_the_key(name, key, value, message):
    with pytest.raises(ConfigError, match=message):
        _config(name, [key, value])


def test_other_choices_load_and_build():
    cfg = _config("mostganv_synthetic", ["MODEL.MOSTGANV.HYPERNET", "linear",
                                         "MODEL.MOSTGANV.DISCRIMINATOR", "stacked",
                                         "MODEL.MOSTGANV.MOTION_RESOLUTIONS", "[4, 32]"])
    with torch.device("meta"):
        model = get_video_gan("mostganv").build_trainer(cfg, "meta")
    assert isinstance(model.discriminator, SparseFrameDiscriminator)
    assert all(isinstance(h, LowRankHyperNetwork) for h in model.generator.hypernetworks)
    assert len(model.generator.motion_layers) == model.generator.synthesis.num_conv_layers
    custom = _config("inmodegan", ["MODEL.INMODEGAN.TEMPORAL_LEVELS", "2",
                                   "MODEL.INMODEGAN.TEMPORAL_STRIDES", "[1, 3]"])
    assert temporal_strides(custom) == (1, 3)


# --- ImaGINator table 3.12 ------------------------------------------------------------------------

@pytest.mark.parametrize("base", [4, 64])
def test_table_3_12_widths_match_parameter_counts(base):
    conv12 = model_config("imaginator", base, conv_type="1+2d", device="cpu")
    target = imaginator_parameters(conv12, "1+2d", base)
    conv3d = model_config("imaginator", base, conv_type="3d", device="cpu")
    width = matched_base_channels(conv3d, target, "3d")
    assert width != base
    assert abs(imaginator_parameters(conv3d, "3d", width) / target - 1) < 0.03
