"""GCL generative networks: shapes, parameter counts, gradient flow through the training step."""
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reid.losses import GANLossWeights
from reid.memory import InstanceMemory
from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep, NonFiniteLossError
from reid.models.gcl import (AppearanceDecoder, GCLGenerativeModule, MultiScaleDiscriminator,
                             StructureEncoder, build_generative_module, count_parameters,
                             set_requires_grad)

H, W = 64, 32  # small images for the step tests (ASPP dilations must stay below W/4)


class _Features(NamedTuple):
    embedding: torch.Tensor
    parts: torch.Tensor
    feature_map: torch.Tensor


class TinyIdentityEncoder(nn.Module):
    """Stand-in for IdentityEncoder with the same forward / forward_all API, a few kB of weights."""

    def __init__(self, code_dim: int = 16, embed_dim: int = 16, num_parts: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, code_dim, 3, stride=4, padding=1)
        self.bn = nn.BatchNorm2d(code_dim)
        self.embedding = nn.Linear(code_dim, embed_dim)
        self.num_parts = num_parts

    def forward_all(self, x):
        fmap = F.relu(self.bn(self.conv(x)))
        parts = F.adaptive_avg_pool2d(fmap, (self.num_parts, 1)).flatten(2)
        return _Features(self.embedding(fmap.mean(dim=(2, 3))), parts, fmap)

    def forward(self, x):
        return self.forward_all(x).embedding


def tiny_module():
    return GCLGenerativeModule(structure_dim=8, code_dim=16, num_parts=4, num_res_blocks=4,
                               mlp_dim=8, disc_channels=4, disc_scales=3, aspp_dilations=(1, 2, 3))


def test_full_size_shapes_and_parameter_counts():
    module = build_generative_module(None)
    e_str, g, d = module.structure_encoder, module.generator, module.discriminator
    n_gen = count_parameters([e_str, g])
    n_dis = count_parameters(d)
    print(f"E_str {count_parameters(e_str)/1e6:.3f} M + G {count_parameters(g)/1e6:.3f} M = "
          f"{n_gen/1e6:.3f} M (authors 13.38 M); D {n_dis/1e6:.3f} M (authors 1.03 M)")
    assert abs(n_gen - 13.38e6) / 13.38e6 < 0.01
    assert abs(n_dis - 1.03e6) / 1.03e6 < 0.01
    with torch.no_grad():
        feats = e_str(torch.rand(1, 1, 256, 128) * 2 - 1)
        assert feats.shape == (1, 128, 64, 32)
        img = g(feats, torch.rand(1, 2048, 4))
        assert img.shape == (1, 3, 256, 128)
        assert img.abs().max() <= 1.0
        outs = d(img)
    assert [tuple(o.shape) for o in outs] == [(1, 1, 64, 32), (1, 1, 32, 16), (1, 1, 16, 8)]


def test_network_input_errors_name_the_shape():
    with pytest.raises(ValueError, match="structure maps"):
        StructureEncoder()(torch.zeros(1, 3, 64, 32))
    dec = AppearanceDecoder(in_channels=16, code_dim=32, mlp_dim=8)
    with pytest.raises(ValueError, match="appearance code"):
        dec(torch.zeros(2, 16, 8, 4), torch.zeros(2, 32, 3))
    with pytest.raises(ValueError, match="images"):
        MultiScaleDiscriminator()(torch.zeros(1, 1, 64, 32))


def test_generate_views_batched_equals_separate_passes():
    module, enc = tiny_module(), TinyIdentityEncoder().eval()
    x = torch.rand(3, 3, H, W) * 2 - 1
    s_ori, s_new = torch.rand(3, 1, H, W) * 2 - 1, torch.rand(3, 1, H, W) * 2 - 1
    with torch.no_grad():
        a = module.generate_views(enc, x, s_ori, s_new, batched=True)
        b = module.generate_views(enc, x, s_ori, s_new, batched=False)
    for name in ("x_ori", "x_new", "x_cycle", "embedding_new", "parts_cycle"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-5), name
    assert a.fakes().shape == (9, 3, H, W)


def _step(train_encoder, with_memory=True, reference=False):
    torch.manual_seed(0)
    enc, module = TinyIdentityEncoder(), tiny_module()
    memory = InstanceMemory(12, dim=16) if with_memory else None
    if memory is not None:
        memory.initialize(torch.randn(12, 16))
        memory.set_labels(torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, 3]))
    id_opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    gen_opt = torch.optim.Adam(module.generator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    dis_opt = torch.optim.Adam(module.discriminator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    if reference:  # the benchmark's straightforward formulation of the same step
        from benchmarks.gcl_step import ReferenceGCLTrainStep as step_type
    else:
        step_type = GCLTrainStep
    step = step_type(enc, module, id_opt, gen_opt, dis_opt, memory, GCLStepConfig(num_negatives=5),
                     train_encoder=train_encoder)
    return step, enc, module, memory


def _batch():
    x = torch.rand(4, 3, H, W) * 2 - 1
    return x, torch.rand(4, 1, H, W) * 2 - 1, torch.rand(4, 1, H, W) * 2 - 1, torch.tensor([0, 3, 6, 9])


def test_set_requires_grad_and_frozen_encoder_gets_no_gradient():
    step, enc, module, _ = _step(train_encoder=False, with_memory=False)
    before = [p.detach().clone() for p in enc.parameters()]
    gen_before = [p.detach().clone() for p in module.generator.parameters()]
    x, s_ori, s_new, idx = _batch()
    terms = step(x, s_ori, s_new)
    assert all(p.grad is None and not p.requires_grad for p in enc.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, enc.parameters()))
    assert not enc.training  # gan_warmup keeps E_id in eval mode
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, module.generator.parameters()))
    assert {"img", "feat", "adv", "dis_adv", "gp"} <= set(terms)
    assert "L_vi" not in terms
    set_requires_grad([enc, None], True)
    assert all(p.requires_grad for p in enc.parameters())


@pytest.mark.parametrize("reference", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_joint_step_trains_encoder_and_updates_memory(reference):
    step, enc, module, memory = _step(train_encoder=True, reference=reference)
    before = [p.detach().clone() for p in enc.parameters()]
    mem_before = memory.features.clone()
    d_before = [p.detach().clone() for p in module.discriminator.parameters()]
    x, s_ori, s_new, idx = _batch()
    terms = step(x, s_ori, s_new, idx)
    assert enc.conv.weight.grad is not None and enc.conv.weight.grad.abs().sum() > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, enc.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, module.discriminator.parameters()))
    assert {"L_vi", "L_vi_new", "L_vi_new_pos"} <= set(terms)
    changed = (memory.features - mem_before).abs().sum(dim=1) > 0
    assert changed.nonzero().view(-1).tolist() == [0, 3, 6, 9]
    assert all(p.requires_grad for p in module.discriminator.parameters())


def test_without_gan_variant_trains_only_the_encoder():
    torch.manual_seed(0)
    enc = TinyIdentityEncoder()
    memory = InstanceMemory(12, dim=16)
    memory.initialize(torch.randn(12, 16))
    memory.set_labels(torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, 3]))
    step = GCLTrainStep(enc, None, torch.optim.SGD(enc.parameters(), lr=0.1), memory=memory,
                        config=GCLStepConfig(num_negatives=4), use_gan=False)
    terms = step(torch.rand(4, 3, H, W) * 2 - 1, indices=torch.tensor([0, 3, 6, 9]))
    assert terms["vi_wogan"] > 0
    assert enc.conv.weight.grad is not None


def test_non_finite_loss_stops_with_terms():
    step, enc, module, _ = _step(train_encoder=False, with_memory=False)
    step.config = GCLStepConfig(gan_weights=GANLossWeights(img=float("nan")))
    x, s_ori, s_new, _ = _batch()
    with pytest.raises(NonFiniteLossError, match="img"):
        step(x, s_ori, s_new)


def test_step_config_from_cfg():
    from reid.config.defaults import get_cfg_defaults

    cfg = get_cfg_defaults()
    sc = GCLStepConfig.from_cfg(cfg)
    assert sc.temperature == 0.04 and sc.num_negatives == 8192 and sc.gan_weights.img == 5.0
    assert sc.feat_loss_on == "parts"
    assert sc.negative_anchor == "generated" and sc.real_positive_grad  # thesis defaults
    with pytest.raises(ValueError, match="feat_loss_on"):
        GCLStepConfig(feat_loss_on="pixels")
    cfg.GCL.NEGATIVE_ANCHOR, cfg.GCL.REAL_POSITIVE_GRAD = "original", False
    sc = GCLStepConfig.from_cfg(cfg)
    assert sc.negative_anchor == "original" and not sc.real_positive_grad
    with pytest.raises(ValueError, match="GCL.NEGATIVE_ANCHOR"):
        GCLStepConfig(negative_anchor="memory")


def test_negative_anchor_changes_the_contrastive_terms_of_the_step():
    def run(anchor):
        step, _, _, _ = _step(train_encoder=True)
        step.config = GCLStepConfig(num_negatives=5, negative_anchor=anchor)
        torch.manual_seed(1)
        return step(*_batch())

    generated, original = run("generated"), run("original")
    assert generated["img"] == pytest.approx(original["img"])  # same views, same L_gan
    assert generated["L_vi"] != pytest.approx(original["L_vi"], rel=1e-4)


def _encoder_grads(scale, vi_terms):
    step, enc, module, _ = _step(train_encoder=True)
    step.config = GCLStepConfig(num_negatives=5, encoder_gan_grad=scale, vi_terms=vi_terms)
    torch.manual_seed(1)
    terms = step(*_batch())
    grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in enc.parameters()]
    return grads, terms, module


def test_encoder_gan_grad_scales_only_the_encoder_share_of_l_gan():
    full, _, _ = _encoder_grads(1.0, ())
    half, _, _ = _encoder_grads(0.5, ())
    none, _, module = _encoder_grads(0.0, ())
    assert any(g.abs().sum() > 0 for g in full)
    for a, b, c in zip(full, half, none):
        assert torch.allclose(b, 0.5 * a, atol=1e-6) and torch.all(c == 0)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.generator.parameters())
    # With the contrastive terms on, E_id still learns from them alone.
    contrast_only, terms, _ = _encoder_grads(0.0, ("vi", "vi_new", "vi_new_pos"))
    assert "L_vi" in terms and any(g.abs().sum() > 0 for g in contrast_only)


def test_shared_discriminator_pass_gives_the_straightforward_gradients():
    """The trainer's step scores the generated images with D once; G and D must still get the
    gradients of L_gan through a fixed D and of the D loss on detached images."""
    from reid.losses import (feature_reconstruction_loss, gan_objective, image_reconstruction_loss,
                             lsgan_discriminator_loss, lsgan_generator_loss, r1_gradient_penalty)

    torch.manual_seed(0)
    enc, module = TinyIdentityEncoder().eval(), tiny_module()
    set_requires_grad(enc, False)
    step = GCLTrainStep(enc, module, config=GCLStepConfig(num_negatives=5), train_encoder=False)
    x, s_ori, s_new, _ = _batch()
    step(x, s_ori, s_new)  # no optimisers: the gradients stay in .grad
    g_params = module.generator_parameters()
    d_params = module.discriminator_parameters()
    step_g = [p.grad.clone() for p in g_params]
    step_d = [p.grad.clone() for p in d_params]

    weights = GANLossWeights()
    views = module.generate_views(enc, x, s_ori, s_new, train_encoder=False)
    l_gan = gan_objective(image_reconstruction_loss(x, views.x_ori, views.x_cycle),
                          feature_reconstruction_loss(views.parts, views.parts_new, views.parts_cycle),
                          lsgan_generator_loss(module.discriminator(views.fakes()), groups=3), weights)
    ref_g = torch.autograd.grad(l_gan, g_params)
    real = x.clone().requires_grad_(True)
    real_out = module.discriminator(real)
    d_total = (lsgan_discriminator_loss(real_out, module.discriminator(views.fakes().detach()), groups=3)
               + 3 * step.config.gp_weight * r1_gradient_penalty(real_out, real))
    ref_d = torch.autograd.grad(d_total, d_params)
    for got, want in zip(step_g + step_d, list(ref_g) + list(ref_d)):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (2, 2, 2, 2), (3, 1, 0, 2)])
def test_channels_last_reflection_pad_matches_f_pad_with_gradients(padding):
    from reid.models.gcl.layers import reflection_pad

    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 6, dtype=torch.double).contiguous(memory_format=torch.channels_last)
    y = reflection_pad(x, padding)
    assert torch.equal(y, F.pad(x, padding, mode="reflect"))
    assert y.is_contiguous(memory_format=torch.channels_last)

    def pad(t):
        return reflection_pad(t.contiguous(memory_format=torch.channels_last), padding)

    x.requires_grad_(True)
    assert torch.autograd.gradcheck(pad, (x,))
    assert torch.autograd.gradgradcheck(pad, (x,))  # the R1 penalty differentiates D twice


def test_norms_keep_the_autocast_dtype_and_match_float32():
    from reid.models.gcl.layers import InstanceNorm2d, LayerNorm2d, adaptive_instance_norm

    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 4)
    scale, bias = torch.rand(2, 8), torch.rand(2, 8)
    ln = LayerNorm2d(8)
    references = (F.instance_norm(x), F.group_norm(x, 1, ln.weight, ln.bias),
                  F.instance_norm(x) * scale[:, :, None, None] + bias[:, :, None, None])
    for norm, ref in zip((InstanceNorm2d(8), ln, lambda t: adaptive_instance_norm(t, scale, bias)), references):
        assert torch.allclose(norm(x), ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = norm(x.bfloat16())
        assert out.dtype == torch.bfloat16
        assert torch.allclose(out.float(), ref, atol=0.05)
