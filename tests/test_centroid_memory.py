"""CentroidMemory (GCL.MEMORY centroid): centroids from the instance entries, their update rule
(exact numbers), centroid positives / negatives, the view-invariant losses against them, state
dicts, and the joint stage training and resuming with it."""
import math

import pytest
import torch
import torch.nn.functional as F

from reid.losses.view_invariant import view_invariant_losses
from reid.memory import CentroidMemory, InstanceMemory, build_memory
from reid.memory.grouping import cluster_centroids, grouped_mean


def _memory(momentum=0.2):
    mem = CentroidMemory(5, dim=2, momentum=momentum)
    mem.initialize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 2.0], [-1.0, 0.0]]))
    mem.set_labels(torch.tensor([0, 0, 1, 1, -1]))
    return mem


def test_grouped_mean_and_centroids():
    unique, mean = grouped_mean(torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]]),
                                torch.tensor([7, 7, 2]))
    assert unique.tolist() == [2, 7]
    assert torch.equal(mean, torch.tensor([[0.0, 4.0], [2.0, 1.0]]))
    cents = cluster_centroids(torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, 5.0]]),
                              torch.tensor([0, 0, -1]), "test")
    assert torch.allclose(cents, F.normalize(torch.tensor([[0.5, 0.5]]), dim=1))
    assert cluster_centroids(torch.ones(2, 2), torch.tensor([-1, -1]), "test").shape == (0, 2)
    with pytest.raises(ValueError, match="test: .*empty clusters \\[1\\]"):
        cluster_centroids(torch.ones(2, 2), torch.tensor([0, 2]), "test")


def test_centroids_are_the_normalised_means_of_the_entries():
    mem = _memory()
    h = 2 ** -0.5
    want = F.normalize(torch.tensor([[1.0 + h, h], [0.0, 2.0]]), dim=1)
    assert torch.allclose(mem.bank, want, atol=1e-6)
    assert mem.num_clusters == 2


def test_update_moves_entries_and_the_batch_clusters_centroids():
    mem = _memory(momentum=0.5)
    old = mem.centroids.clone()
    mem.update(torch.tensor([0, 1, 4]), torch.tensor([[0.0, 3.0], [0.0, 1.0], [0.0, 1.0]]))
    # entry 0: normalise(0.5 * (1, 0) + 0.5 * (0, 1)); the outlier's entry moves too
    assert torch.allclose(mem.features[0], torch.tensor([2 ** -0.5, 2 ** -0.5]), atol=1e-6)
    assert torch.allclose(mem.features[4], F.normalize(torch.tensor([-0.5, 0.5]), dim=0), atol=1e-6)
    # cluster 0's batch mean is (0, 1): c0 <- normalise(0.5 * c0 + 0.5 * (0, 1)); cluster 1 kept
    want = F.normalize(0.5 * old[0] + 0.5 * torch.tensor([0.0, 1.0]), dim=0)
    assert torch.allclose(mem.centroids[0], want, atol=1e-6)
    assert torch.equal(mem.centroids[1], old[1])


def test_positives_are_the_own_centroid_and_negatives_the_others():
    mem = CentroidMemory(8, dim=2)
    mem.initialize(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)))
    mem.set_labels(torch.tensor([0, 0, 1, 1, 2, 2, 3, -1]))
    pos, is_anchor, _ = mem.sample_positives(torch.tensor([0, 3, 7]))
    assert is_anchor.tolist() == [True, True, False]
    assert pos[:2].tolist() == [0, 1]
    neg, valid = mem.sample_negatives(torch.tensor([0, 3]))
    assert neg.shape == (2, 3) and bool(valid.all())
    assert sorted(neg[0].tolist()) == [1, 2, 3] and sorted(neg[1].tolist()) == [0, 2, 3]
    gen = torch.Generator().manual_seed(1)
    neg, valid = mem.sample_negatives(torch.tensor([0, 3, 5]), num_negatives=2, generator=gen)
    assert neg.shape == (3, 2) and bool(valid.all())
    assert all(len(set(row)) == 2 for row in neg.tolist())
    assert 0 not in neg[0].tolist() and 1 not in neg[1].tolist() and 2 not in neg[2].tolist()


def test_view_invariant_losses_against_centroids_exact():
    mem = _memory()
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    f_new = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    tau = 0.5
    result = view_invariant_losses(f, f_new, mem, torch.tensor([0, 2]), temperature=tau)
    c = mem.centroids
    fn, fnn = F.normalize(f, dim=1), F.normalize(f_new, dim=1)

    def term(pos, neg):
        return torch.log1p(torch.exp(neg / tau) / torch.exp(pos / tau))

    other = torch.tensor([1, 0])  # each anchor's only negative: the other centroid
    neg = (fnn * c[other]).sum(dim=1)
    want_vi = term((fn * c[torch.tensor([0, 1])]).sum(dim=1), neg).mean()
    want_new = term((fnn * fn).sum(dim=1), neg).mean()
    want_pos = term((fnn * c[torch.tensor([0, 1])]).sum(dim=1), neg).mean()
    assert math.isclose(float(result.terms["vi"]), float(want_vi), rel_tol=1e-5)
    assert math.isclose(float(result.terms["vi_new"]), float(want_new), rel_tol=1e-5)
    assert math.isclose(float(result.terms["vi_new_pos"]), float(want_pos), rel_tol=1e-5)
    assert result.num_anchors == 2 and result.num_negatives == 1


def test_an_outlier_batch_is_skipped_and_an_empty_memory_refuses():
    mem = _memory()
    result = view_invariant_losses(torch.ones(1, 2), torch.ones(1, 2), mem, torch.tensor([4]))
    assert result.skipped and "outliers" in result.skipped
    with pytest.raises(RuntimeError, match="set_labels"):
        CentroidMemory(3, dim=2).bank


def test_state_dict_round_trip_resizes_the_centroids():
    mem = _memory()
    other = CentroidMemory(5, dim=2)
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.centroids, mem.centroids)
    assert torch.equal(other.features, mem.features) and torch.equal(other.labels, mem.labels)


def test_build_memory_follows_the_config():
    from reid.config import load_config

    assert type(build_memory(load_config(None, []), 4, 8)) is InstanceMemory
    mem = build_memory(load_config(None, ["GCL.MEMORY", "centroid", "GCL.MEMORY_MOMENTUM", "0.3"]), 4, 8)
    assert isinstance(mem, CentroidMemory) and mem.momentum == 0.3 and mem.features.shape == (4, 8)


def test_the_config_refuses_an_unknown_memory():
    from common.config import ConfigError
    from reid.config import load_config

    with pytest.raises(ConfigError, match="GCL.MEMORY must be one of instance, centroid; got 'cluster'"):
        load_config(None, ["GCL.MEMORY", "cluster"])


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from tests.toy_gcl import make_toy_gcl_root

    return make_toy_gcl_root(str(tmp_path_factory.mktemp("centroid")))


@pytest.mark.slow
def test_joint_stage_with_centroids_trains_and_resumes_exactly(toy_root, tmp_path):
    from reid.engine import GCLTrainer
    from tests.toy_gcl import toy_cfg

    from common.serialization import load_checkpoint_file

    opts = ["GCL.MEMORY", "centroid", "GCL.STAGES", "('joint',)", "TEST.EVAL_PERIOD", "0",
            "DETERMINISTIC", "True"]
    straight = str(tmp_path / "straight")
    GCLTrainer(toy_cfg(toy_root, straight, *opts)).run()
    split = str(tmp_path / "split")
    GCLTrainer(toy_cfg(toy_root, split, *opts, "SOLVER.JOINT.EPOCHS", "1")).run()
    GCLTrainer(toy_cfg(toy_root, split, *opts), resume=True).run()
    a = load_checkpoint_file(f"{straight}/checkpoints/last.pth")
    b = load_checkpoint_file(f"{split}/checkpoints/last.pth")
    assert a["memory"]["centroids"].shape[0] >= 2
    assert torch.equal(a["memory"]["centroids"], b["memory"]["centroids"])
    for key, value in a["models"]["E_id"].items():
        assert torch.equal(value, b["models"]["E_id"][key]), key
