"""InstanceMemory: DBSCAN outliers as negatives, or kept out of the negatives."""
import torch

from reid.memory import InstanceMemory


def _memory(outlier_negatives):
    memory = InstanceMemory(8, dim=4, outlier_negatives=outlier_negatives)
    memory.initialize(torch.randn(8, 4))
    memory.set_labels(torch.tensor([0, 0, 1, 1, -1, -1, 2, 2]))
    return memory


def test_outliers_are_negatives_by_default():
    neg, valid = _memory(True).sample_negatives(torch.tensor([0]), num_negatives=100,
                                                 generator=torch.Generator().manual_seed(0))
    assert sorted(neg[valid].tolist()) == [2, 3, 4, 5, 6, 7]


def test_outliers_can_be_kept_out_of_the_negatives():
    memory = _memory(False)
    neg, valid = memory.sample_negatives(torch.tensor([0, 2]), num_negatives=100,
                                         generator=torch.Generator().manual_seed(0))
    assert sorted(neg[0][valid[0]].tolist()) == [2, 3, 6, 7]
    assert sorted(neg[1][valid[1]].tolist()) == [0, 1, 6, 7]
    assert "outlier_negatives=False" in repr(memory)
