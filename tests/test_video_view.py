"""Generated video views as an extra positive (GCL.VIDEO_VIEW): the frozen view source and L_vid."""
import os

import pytest
import torch

from generators.config import load_generator_config
from generators.training import build_generator
from reid.memory import InstanceMemory
from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
from reid.views.video import VideoViewError, VideoViewGenerator, video_view_loss
from tests.test_gcl_networks import H, W, TinyIdentityEncoder, tiny_module

CONFIG = "configs/generators/imaginator_reid_synthetic.yaml"
TINY = ["MODEL.BASE_CHANNELS", "2", "MODEL.Z_DIM", "8", "MODEL.LATENT_DIM", "4"]


def _tiny_checkpoint(tmp_path, opts=(), name="imaginator") -> str:
    torch.manual_seed(0)
    cfg = load_generator_config(CONFIG, TINY + list(opts))
    path = os.path.join(tmp_path, "generator_final.pth")
    torch.save({"model": name, "G": build_generator(cfg).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def view_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_view")
    weights = _tiny_checkpoint(folder)
    return VideoViewGenerator.from_files(CONFIG, weights, opts=TINY, seed=3)


def test_view_shape_range_frozen_and_resize_path(view_source):
    assert view_source.frame_size == (128, 64)
    x = torch.rand(3, 3, 64, 32) * 2 - 1  # another input size: resized to 128x64 and back
    view_source.train()  # stays in eval mode
    assert not view_source.generator.training
    out = view_source(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.abs().max() <= 1.0
    assert not out.requires_grad
    assert all(not p.requires_grad for p in view_source.parameters())
    same = view_source(torch.rand(2, 3, 128, 64) * 2 - 1)  # generator size: no resize
    assert same.shape == (2, 3, 128, 64)


def test_view_is_deterministic_for_a_seed_and_skips_frame_zero(view_source):
    x = torch.rand(4, 3, 64, 32) * 2 - 1
    view_source.reseed(11)
    a = view_source(x)
    view_source.reseed(11)
    b = view_source(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, view_source(x))  # the stream moves on
    view_source.reseed(0)
    draws = view_source.draw(256, 32)
    assert draws["frames"].min() >= 1 and draws["frames"].max() <= 31
    assert draws["labels"].min() >= 0 and draws["labels"].max() < 8


def test_picked_frame_matches_the_generated_clip(view_source):
    x = torch.rand(2, 3, 128, 64) * 2 - 1
    view_source.reseed(5)
    out = view_source(x)
    view_source.reseed(5)
    draw = view_source.draw(2, 32)
    with torch.no_grad():
        clip = view_source.generator(x, draw["labels"], draw["z"])
    expected = torch.stack([clip[i, :, int(t)] for i, t in enumerate(draw["frames"])])
    assert torch.allclose(out, expected, atol=1e-6)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="GCL.VIDEO_VIEW.WEIGHTS"):
        VideoViewGenerator.from_files(CONFIG, str(tmp_path / "missing.pth"))
    with pytest.raises(VideoViewError, match="not found"):
        VideoViewGenerator.from_files(str(tmp_path / "none.yaml"), str(tmp_path / "x.pth"))
    weights = _tiny_checkpoint(tmp_path)
    with pytest.raises(VideoViewError, match="'g3an'.*does not animate"):
        VideoViewGenerator.from_files("configs/generators/g3an_synthetic.yaml", weights)
    with pytest.raises(VideoViewError, match="image-conditioned"):
        VideoViewGenerator(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        VideoViewGenerator.from_files(CONFIG, weights, opts=TINY)(torch.zeros(2, 1, 64, 32))


def _memory():
    memory = InstanceMemory(12, dim=16)
    memory.initialize(torch.randn(12, 16))
    memory.set_labels(torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, 3]))
    return memory


def test_video_view_loss_reaches_the_encoder_through_f_vid(view_source):
    torch.manual_seed(0)
    enc = TinyIdentityEncoder()
    x = torch.rand(4, 3, H, W) * 2 - 1
    f = enc(x).detach()  # only the f_vid path can carry gradient here
    result = video_view_loss(enc, view_source, x, f, _memory(), torch.tensor([0, 3, 6, 9]),
                             num_negatives=5)
    assert set(result.terms) == {"vi_new", "vi_new_pos"}
    assert torch.isfinite(result.loss) and result.loss > 0
    result.loss.backward()
    assert enc.conv.weight.grad is not None and enc.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("generated_bn_stats", [False, True])
def test_video_view_pass_keeps_running_stats_unless_asked(view_source, generated_bn_stats):
    x = torch.rand(4, 3, H, W) * 2 - 1
    torch.manual_seed(0)
    enc = TinyIdentityEncoder().train()
    torch.manual_seed(0)
    real_only = TinyIdentityEncoder().train()
    with torch.no_grad():
        real_only(x)  # what the pass over the real batch alone does to the running statistics
    f = enc(x).detach()
    video_view_loss(enc, view_source, x, f, _memory(), torch.tensor([0, 3, 6, 9]),
                    num_negatives=5, generated_bn_stats=generated_bn_stats)
    same = (torch.equal(enc.bn.running_mean, real_only.bn.running_mean)
            and torch.equal(enc.bn.running_var, real_only.bn.running_var))
    assert same != generated_bn_stats


def _joint_step(view, use_gan=True):
    torch.manual_seed(0)
    enc, memory = TinyIdentityEncoder(), _memory()
    id_opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    if not use_gan:
        return GCLTrainStep(enc, None, id_opt, memory=memory, config=GCLStepConfig(num_negatives=4),
                            use_gan=False, video_view=view, video_view_weight=0.5)
    module = tiny_module()
    gen_opt = torch.optim.Adam(module.generator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    dis_opt = torch.optim.Adam(module.discriminator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    return GCLTrainStep(enc, module, id_opt, gen_opt, dis_opt, memory,
                        GCLStepConfig(num_negatives=5), train_encoder=True, video_view=view,
                        video_view_weight=0.5)


def test_joint_step_with_gan_adds_l_vid(view_source):
    torch.manual_seed(1)
    x = torch.rand(4, 3, H, W) * 2 - 1
    s_ori, s_new = torch.rand(4, 1, H, W) * 2 - 1, torch.rand(4, 1, H, W) * 2 - 1
    step = _joint_step(view_source)
    terms = step(x, s_ori, s_new, torch.tensor([0, 3, 6, 9]))
    assert terms["L_vid"] > 0 and torch.isfinite(torch.tensor(terms["L_vid"]))
    assert {"L_vi", "L_vi_new", "L_vi_new_pos", "img", "dis_adv"} <= set(terms)
    assert step.encoder.conv.weight.grad.abs().sum() > 0


def test_without_gan_l_vid_on_and_off(view_source):
    x, idx = torch.rand(4, 3, H, W) * 2 - 1, torch.tensor([0, 3, 6, 9])
    off = _joint_step(None, use_gan=False)(x, indices=idx)
    assert "L_vid" not in off and off["vi_wogan"] > 0
    terms = _joint_step(view_source, use_gan=False)(x, indices=idx)
    assert terms["L_vid"] > 0 and terms["vi_wogan"] > 0


def test_without_gan_variant_adds_l_vid(view_source):
    torch.manual_seed(2)
    step = _joint_step(view_source, use_gan=False)
    before = step.encoder.conv.weight.detach().clone()
    terms = step(torch.rand(4, 3, H, W) * 2 - 1, indices=torch.tensor([0, 3, 6, 9]))
    assert terms["L_vid"] > 0 and terms["vi_wogan"] > 0
    assert not torch.equal(before, step.encoder.conv.weight)
    # no contrast this step (degenerate pseudo-labels: no view-invariant term) -> no L_vid either
    step.config = GCLStepConfig(num_negatives=4, vi_terms=())
    terms = {}
    assert step._video_view_term(torch.zeros(2, 3, H, W), torch.zeros(2, 16), torch.tensor([0, 1]),
                                 None, terms) is None
    assert terms == {}


def test_resize_helper_shrinks_with_antialias_and_keeps_range():
    from reid.views.video import _resize

    x = torch.rand(2, 3, 256, 128) * 2 - 1
    small = _resize(x, (128, 64))
    assert small.shape == (2, 3, 128, 64) and small.abs().max() <= 1
    assert torch.allclose(small[:, :, 0, 0], x[:, :, :2, :2].mean(dim=(2, 3)), atol=0.35)
    assert _resize(x, (256, 128)) is x


def test_video_view_ablation_is_selected_by_name_and_described():
    from reid.config import load_config
    from reid.engine.ablation import _describe, select_ablation_configs

    folder = "configs/ablations"
    paths = select_ablation_configs(folder, ["full", "video_view"])
    assert [os.path.basename(p) for p in paths] == ["6_gcl_full.yaml", "video_view.yaml"]
    cfg = load_config(paths[1])
    assert _describe(cfg) == "L_gan + L_vi + L'_vi + L''_vi + L_vid"
    assert cfg.GCL.VIDEO_VIEW.WEIGHTS.endswith(".pth") and cfg.GCL.STAGES == ("joint",)
    assert cfg.MODEL.WEIGHTS == load_config(paths[0]).MODEL.WEIGHTS
    with pytest.raises(ValueError, match="no config.*available"):
        select_ablation_configs(folder, ["nothing_like_this"])
    # the generated frames as an extra training folder: row 2 plus the folder, named apart
    woGAN, frames = select_ablation_configs(folder, ["vi_without_gan", "generated_frames"])
    frames_cfg = load_config(frames)
    assert _describe(frames_cfg) == "L_vi^woGAN + generated frames"
    assert _describe(load_config(woGAN)) == "L_vi^woGAN"
    assert frames_cfg.DATASETS.EXTRA_TRAIN_DIRS == ("datasets/generated_views_synthetic",)
    assert frames_cfg.MODEL.WEIGHTS == load_config(woGAN).MODEL.WEIGHTS
