"""Feature extraction: batching, flip averaging, normalisation, labels, model mode."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reid.evaluation import extract_features


class _Images(Dataset):
    def __init__(self, n=10):
        gen = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 8, 4, generator=gen) * 2 - 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"img": self.images[i], "pid": i // 2, "camid": i % 3, "index": i,
                "path": f"img_{i}.jpg"}


class _LeftRightModel(nn.Module):
    """Embedding that is not flip invariant: the mean of the left and the right half."""

    def forward(self, x):
        return torch.stack([x[..., :2].mean(dim=(1, 2, 3)), x[..., 2:].mean(dim=(1, 2, 3)),
                            torch.ones(len(x))], dim=1)


def test_flip_average_normalised_and_in_order():
    data = _Images()
    model = _LeftRightModel().train()
    feats, pids, camids = extract_features(model, DataLoader(data, batch_size=3), "cpu",
                                           flip=True)
    x = data.images
    left, right = x[..., :2].mean(dim=(1, 2, 3)), x[..., 2:].mean(dim=(1, 2, 3))
    avg = (left + right) / 2
    expected = torch.nn.functional.normalize(torch.stack([avg, avg, torch.ones(10)], 1), dim=1)
    assert feats.dtype == torch.float32 and feats.shape == (10, 3)
    torch.testing.assert_close(feats, expected)
    np.testing.assert_array_equal(pids, np.arange(10) // 2)
    np.testing.assert_array_equal(camids, np.arange(10) % 3)
    assert model.training  # the caller's mode is restored


def test_without_flip():
    data = _Images(4)
    feats, _, _ = extract_features(_LeftRightModel(), DataLoader(data, batch_size=4), flip=False)
    x = data.images
    raw = torch.stack([x[..., :2].mean(dim=(1, 2, 3)), x[..., 2:].mean(dim=(1, 2, 3)),
                       torch.ones(4)], 1)
    torch.testing.assert_close(feats, torch.nn.functional.normalize(raw, dim=1))


def test_bad_batches():
    with pytest.raises(TypeError, match="dicts"):
        extract_features(_LeftRightModel(), [torch.zeros(2, 3, 8, 4)])
    with pytest.raises(ValueError, match="no images"):
        extract_features(_LeftRightModel(), [])


def test_progress_bar_only_when_asked(capsys):
    data = _Images(4)
    loader = DataLoader(data, batch_size=2)
    with_bar, _, _ = extract_features(_LeftRightModel(), loader, desc="query features")
    assert "query features" in capsys.readouterr().err
    quiet, _, _ = extract_features(_LeftRightModel(), loader, desc="query features",
                                   progress=False)
    assert capsys.readouterr().err == ""  # the plain-log mode writes no bar frames
    torch.testing.assert_close(quiet, with_bar)
