"""InstanceMemory and ClusterMemory: update rules (exact numbers), sampling, state dicts."""
import pytest
import torch
import torch.nn.functional as F

from common.distributed import all_gather_cat
from reid.memory import ClusterMemory, InstanceMemory


def _memory():
    mem = InstanceMemory(4, dim=2, momentum=0.2)
    mem.initialize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]))
    return mem


def test_initialize_normalises_and_checks_shape():
    mem = _memory()
    assert torch.allclose(mem.features[2], torch.tensor([2 ** -0.5, 2 ** -0.5]))
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        mem.initialize(torch.zeros(3, 2))


def test_update_rule_exact_numbers():
    mem = _memory()
    mem.update(torch.tensor([0]), torch.tensor([[0.0, 3.0]]))  # f normalised to (0, 1)
    # 0.2 * (1, 0) + 0.8 * (0, 1) = (0.2, 0.8), renormalised
    expected = torch.tensor([0.2, 0.8]) / (0.2 ** 2 + 0.8 ** 2) ** 0.5
    assert torch.allclose(mem.features[0], expected, atol=1e-6)
    assert torch.allclose(mem.features[1], torch.tensor([0.0, 1.0]))  # untouched


def test_update_duplicate_indices_average_then_update_once():
    mem = _memory()
    mem.update(torch.tensor([1, 1]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    # batch mean (0, 0): M[1] <- normalise(0.2 * (0, 1)) = (0, 1)
    assert torch.allclose(mem.features[1], torch.tensor([0.0, 1.0]))
    mem2 = _memory()
    mem2.update(torch.tensor([3, 3, 0]), torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))
    expected = F.normalize(torch.tensor([-0.2, 0.8]), dim=0)
    assert torch.allclose(mem2.features[3], expected, atol=1e-6)


def test_update_rejects_bad_indices():
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        _memory().update(torch.tensor([4]), torch.ones(1, 2))


def test_state_dict_round_trip():
    mem = _memory()
    mem.set_labels(torch.tensor([0, 0, 1, -1]))
    other = InstanceMemory(4, dim=2)
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.features, mem.features) and other.labels.tolist() == [0, 0, 1, -1]
    with pytest.raises(ValueError, match="4 labels"):
        mem.set_labels(torch.tensor([0, 1]))


def test_sample_positives_same_label_not_self():
    mem = InstanceMemory(8, dim=2)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, -1, -1])
    idx = torch.tensor([0, 3, 5, 6])
    for _ in range(20):
        pos, is_anchor, has_other = mem.sample_positives(idx, labels)
        assert pos[0].item() in (1, 2) and pos[1].item() == 4
        assert pos[2].item() == 5  # singleton cluster: falls back to its own entry
    assert is_anchor.tolist() == [True, True, True, False]
    assert has_other.tolist() == [True, True, False, False]


def test_sample_negatives_other_labels_outliers_included_and_fewer_than_k():
    mem = InstanceMemory(8, dim=2)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, -1, -1])
    idx = torch.tensor([0, 3])
    neg, valid = mem.sample_negatives(idx, labels, num_negatives=100)
    assert neg.shape == (2, 6)  # anchor 3 has 6 negatives (0,1,2,5,6,7); anchor 0 has 5
    assert valid.sum(dim=1).tolist() == [5, 6]
    assert set(neg[0][valid[0]].tolist()) == {3, 4, 5, 6, 7}
    assert set(neg[1][valid[1]].tolist()) == {0, 1, 2, 5, 6, 7}
    neg, valid = mem.sample_negatives(idx, labels, num_negatives=3)
    assert neg.shape == (2, 3) and bool(valid.all())
    assert all(labels[n].item() != labels[i].item() for i, row in zip(idx, neg) for n in row)
    assert len(set(neg[0].tolist())) == 3  # distinct


def test_sample_negatives_none_available():
    mem = InstanceMemory(4, dim=2)
    neg, valid = mem.sample_negatives(torch.tensor([0, 1]), torch.zeros(4, dtype=torch.long), 8)
    assert neg.shape == (2, 0) and valid.shape == (2, 0)


def test_all_gather_is_noop_without_distributed():
    t = torch.arange(3)
    assert all_gather_cat(t) is t
    seen = []
    mem = InstanceMemory(4, dim=2, gather_fn=lambda x: seen.append(x.shape[0]) or x)
    mem.update(torch.tensor([0, 1]), torch.ones(2, 2))
    assert seen == [2, 2]


def test_cluster_memory_rebuild_and_mean_update():
    mem = ClusterMemory(dim=2, momentum=0.1, temperature=0.05)
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    mem.rebuild(feats, torch.tensor([0, 0, 1, -1]))
    assert torch.allclose(mem.centroids, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    mem.update(torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 0, -1]))
    assert torch.allclose(mem.centroids[0], F.normalize(torch.tensor([0.1, 0.9]), dim=0), atol=1e-6)
    assert torch.allclose(mem.centroids[1], torch.tensor([0.0, 1.0]))
    state = mem.state_dict()
    other = ClusterMemory(dim=2)
    other.load_state_dict(state)
    assert torch.equal(other.centroids, mem.centroids)


def test_cluster_memory_hard_update_and_errors():
    mem = ClusterMemory(dim=2, momentum=0.5, update_mode="hard")
    mem.rebuild(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    mem.update(torch.tensor([[1.0, 0.1], [0.0, 1.0]]), torch.tensor([0, 0]))
    assert torch.allclose(mem.centroids[0], F.normalize(torch.tensor([0.5, 0.5]), dim=0), atol=1e-6)
    with pytest.raises(ValueError, match="outlier"):
        mem.rebuild(torch.ones(2, 2), torch.tensor([-1, -1]))
    with pytest.raises(ValueError, match="empty clusters"):
        mem.rebuild(torch.ones(2, 2), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="update_mode"):
        ClusterMemory(update_mode="max")


def test_cluster_contrast_update_before_backward_keeps_graph_valid():
    from reid.losses import cluster_contrast_loss
    from reid.memory import ClusterMemory

    memory = ClusterMemory(dim=4, momentum=0.1, temperature=0.05)
    feats = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    memory.rebuild(feats, torch.tensor([0, 0, 1, 1, 2, 2]))
    before = memory.centroids.clone()
    x = torch.randn(3, 4, requires_grad=True)
    loss = cluster_contrast_loss(x, torch.tensor([0, 1, 2]), memory, update=True)
    loss.backward()  # the in-loss centroid update must not break the backward pass
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not torch.equal(before, memory.centroids)
