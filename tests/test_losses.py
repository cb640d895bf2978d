"""Losses on hand-made tensors with values computed by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from reid.losses import (ClusterContrastLoss, CrossEntropyLabelSmooth, GANLossWeights, TripletLoss,
                         batch_hard_triplet_loss, cluster_contrast_loss, contrastive_log_loss,
                         feature_reconstruction_loss, gan_objective, image_reconstruction_loss,
                         lsgan_discriminator_loss, lsgan_generator_loss, r1_gradient_penalty,
                         view_invariant_losses)
from reid.memory import ClusterMemory, InstanceMemory


def test_contrastive_log_loss_by_hand():
    tau = 0.04
    loss = contrastive_log_loss(torch.tensor([0.5]), torch.tensor([[0.1, -0.2]]), None, tau)
    expected = math.log(1 + (math.exp(0.1 / tau) + math.exp(-0.2 / tau)) / math.exp(0.5 / tau))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # a masked negative is ignored; an anchor without negatives contributes 0
    valid = torch.tensor([[True, False], [False, False]])
    loss = contrastive_log_loss(torch.tensor([0.5, 0.3]), torch.tensor([[0.1, 0.9], [0.2, 0.2]]), valid, tau)
    assert loss[0].item() == pytest.approx(math.log(1 + math.exp((0.1 - 0.5) / tau)), rel=1e-5)
    assert loss[1].item() == pytest.approx(0.0, abs=1e-6)


def _vi_memory():
    mem = InstanceMemory(3, dim=2)
    mem.initialize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    mem.set_labels(torch.tensor([0, 0, 1]))
    return mem


def test_view_invariant_losses_by_hand():
    f = torch.tensor([[2.0, 0.0]], requires_grad=True)     # normalised (1, 0)
    f_new = torch.tensor([[0.6, 0.8]], requires_grad=True)
    res = view_invariant_losses(f, f_new, _vi_memory(), torch.tensor([0]), num_negatives=10, temperature=0.5)
    # f_pos = entry 1 = (0.8, 0.6); the only negative is entry 2 = (0, 1), scored against f'_new: 0.8
    assert res.terms["vi"].item() == pytest.approx(math.log(1 + math.exp((0.8 - 0.8) / 0.5)), rel=1e-5)
    assert res.terms["vi_new"].item() == pytest.approx(math.log(1 + math.exp((0.8 - 0.6) / 0.5)), rel=1e-5)
    assert res.terms["vi_new_pos"].item() == pytest.approx(math.log(1 + math.exp((0.8 - 0.96) / 0.5)), rel=1e-5)
    assert res.loss.item() == pytest.approx(sum(t.item() for t in res.terms.values()), rel=1e-6)
    assert res.num_anchors == 1 and res.num_negatives == 1 and res.skipped is None
    res.loss.backward()
    assert f.grad.abs().sum() > 0 and f_new.grad.abs().sum() > 0


def test_view_invariant_subset_and_without_gan():
    f = torch.tensor([[1.0, 0.0]])
    res = view_invariant_losses(f, torch.tensor([[0.6, 0.8]]), _vi_memory(), torch.tensor([0]),
                                temperature=0.5, terms=("vi_new",))
    assert set(res.terms) == {"vi_new"}
    res = view_invariant_losses(f, None, _vi_memory(), torch.tensor([0]), temperature=0.5,
                                terms=("vi",), negative_anchor="original")
    assert res.loss.item() == pytest.approx(math.log(1 + math.exp((0.0 - 0.8) / 0.5)), rel=1e-5)
    with pytest.raises(ValueError, match="only the 'vi' term"):
        view_invariant_losses(f, None, _vi_memory(), torch.tensor([0]))
    with pytest.raises(ValueError, match="unknown view-invariant loss"):
        view_invariant_losses(f, f, _vi_memory(), torch.tensor([0]), terms=("vi_bad",))


def test_view_invariant_negatives_scored_against_the_original_feature():
    f = torch.tensor([[1.0, 0.0]])
    f_new = torch.tensor([[0.6, 0.8]])
    res = view_invariant_losses(f, f_new, _vi_memory(), torch.tensor([0]), temperature=0.5,
                                negative_anchor="original")
    # the only negative (0, 1) scores 0.0 against f instead of 0.8 against f'_new
    assert res.terms["vi"].item() == pytest.approx(math.log(1 + math.exp((0.0 - 0.8) / 0.5)), rel=1e-5)
    assert res.terms["vi_new"].item() == pytest.approx(math.log(1 + math.exp((0.0 - 0.6) / 0.5)), rel=1e-5)
    assert res.terms["vi_new_pos"].item() == pytest.approx(math.log(1 + math.exp((0.0 - 0.96) / 0.5)), rel=1e-5)
    with pytest.raises(ValueError, match="negative_anchor"):
        view_invariant_losses(f, f_new, _vi_memory(), torch.tensor([0]), negative_anchor="memory")


def test_view_invariant_real_positive_without_gradient():
    def grads(real_positive_grad):
        f = torch.tensor([[1.0, 0.2]], requires_grad=True)
        f_new = torch.tensor([[0.6, 0.8]], requires_grad=True)
        res = view_invariant_losses(f, f_new, _vi_memory(), torch.tensor([0]), temperature=0.5,
                                    terms=("vi_new",), negative_anchor="generated",
                                    real_positive_grad=real_positive_grad)
        res.loss.backward()
        return res.loss.item(), f.grad, f_new.grad

    loss_on, f_grad_on, new_grad_on = grads(True)
    loss_off, f_grad_off, new_grad_off = grads(False)
    assert loss_on == pytest.approx(loss_off)            # same value, only the gradient differs
    assert f_grad_on.abs().sum() > 0 and f_grad_off is None  # E_id(x) is a fixed target
    assert torch.allclose(new_grad_on, new_grad_off)     # the generated view is pulled the same way


def test_view_invariant_fewer_than_k_and_no_negatives_and_outlier_anchors():
    f = torch.randn(2, 2, requires_grad=True)
    mem = _vi_memory()
    res = view_invariant_losses(f, f * 2, mem, torch.tensor([0, 1]), num_negatives=8192)
    assert res.num_negatives == 1 and torch.isfinite(res.loss)
    mem.set_labels(torch.tensor([0, 0, 0]))  # a single cluster, no outliers
    res = view_invariant_losses(f, f * 2, mem, torch.tensor([0, 1]))
    assert res.loss.item() == 0.0 and "no negatives" in res.skipped
    res.loss.backward()  # the zero keeps the graph
    mem.set_labels(torch.tensor([-1, -1, 0]))
    res = view_invariant_losses(f, f * 2, mem, torch.tensor([0, 1]))
    assert res.loss.item() == 0.0 and res.num_anchors == 0 and "outliers" in res.skipped


def test_lsgan_losses_by_hand():
    real = [torch.full((2, 1, 4, 2), 0.5), torch.full((2, 1, 2, 1), 1.0)]
    fake = [torch.full((6, 1, 4, 2), 0.25), torch.full((6, 1, 2, 1), 0.0)]
    d = lsgan_discriminator_loss(real, fake, groups=3)
    assert d.item() == pytest.approx(3 * ((0.25 + 0.0625) + (0.0 + 0.0)))
    g = lsgan_generator_loss(fake, groups=3)
    assert g.item() == pytest.approx(3 * (0.5625 + 1.0))
    with pytest.raises(ValueError, match="scales"):
        lsgan_discriminator_loss(real, fake[:1])


def test_r1_penalty_of_a_linear_critic():
    w = torch.tensor([1.0, -2.0, 3.0])
    x = torch.randn(4, 3, requires_grad=True)
    outs = [(x * w).sum(dim=1), (x * w).sum(dim=1)]  # two "scales": gradient 2w per sample
    assert r1_gradient_penalty(outs, x).item() == pytest.approx(4 * 14.0)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_gradient_penalty(outs, torch.randn(4, 3))


def test_reconstruction_losses_and_gan_objective_weights():
    x = torch.zeros(1, 3, 2, 2)
    l_img = image_reconstruction_loss(x, torch.full_like(x, 0.5), torch.full_like(x, -0.25))
    assert l_img.item() == pytest.approx(0.75)
    f = torch.tensor([[1.0, 2.0]], requires_grad=True)
    l_feat = feature_reconstruction_loss(f, torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 2.0]]))
    assert l_feat.item() == pytest.approx(0.5 + 0.5)
    assert not l_feat.requires_grad  # the target f_id is detached, the inputs carry no graph
    total = gan_objective(l_img, l_feat, torch.tensor(0.1), GANLossWeights(5.0, 5.0, 1.0))
    assert total.item() == pytest.approx(5 * 0.75 + 5 * 1.0 + 0.1)
    with pytest.raises(ValueError, match="shapes differ"):
        image_reconstruction_loss(x, x[:, :1], x)


def test_cluster_contrast_loss_by_hand_and_update():
    mem = ClusterMemory(dim=2, momentum=0.1, temperature=0.05)
    mem.rebuild(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    f = torch.tensor([[0.6, 0.8]])
    loss = cluster_contrast_loss(f, torch.tensor([0]), mem, update=False)
    assert loss.item() == pytest.approx(math.log(1 + math.exp((0.8 - 0.6) / 0.05)), rel=1e-5)
    f = torch.tensor([[1.0, 0.0]])
    cluster_contrast_loss(f, torch.tensor([0]), mem)
    assert torch.allclose(mem.centroids[0], torch.tensor([1.0, 0.0]))
    module = ClusterContrastLoss(mem)
    module(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))
    assert torch.allclose(mem.centroids[0], F.normalize(torch.tensor([0.1, 0.9]), dim=0), atol=1e-6)
    with pytest.raises(ValueError, match="outliers"):
        cluster_contrast_loss(f, torch.tensor([-1]), mem)


def test_batch_hard_triplet_by_hand():
    feats = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor 0: hardest pos 1, hardest neg 3 -> relu(1 - 3 + 0.3) = 0; anchor 1: 1 - 2 + 0.3 = 0
    # anchor 2: 0.5 - 2 + 0.3 = 0; anchor 3: 0.5 - 2.5 + 0.3 = 0
    assert batch_hard_triplet_loss(feats, labels, margin=0.3).item() == pytest.approx(0.0, abs=1e-5)
    assert TripletLoss(margin=2.0)(feats, labels).item() == pytest.approx(
        ((1 - 3 + 2) + (1 - 2 + 2) + (0.5 - 2 + 2) + (0.5 - 2.5 + 2)) / 4, rel=1e-4)
    assert batch_hard_triplet_loss(feats, torch.tensor([0, 1, 2, 3])).item() == 0.0


def test_cross_entropy_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    eps = 0.1
    logp = torch.log_softmax(logits, dim=1)[0]
    expected = -((1 - eps) * logp[0] + eps / 3 * logp.sum())
    assert CrossEntropyLabelSmooth(eps)(logits, torch.tensor([0])).item() == pytest.approx(expected.item(), rel=1e-5)
