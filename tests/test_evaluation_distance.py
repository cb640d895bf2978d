"""Distance matrices: cosine and (squared) Euclidean against direct formulas."""
import numpy as np
import pytest
import torch

from reid.evaluation import compute_distance_matrix


def _features():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(7, 16, generator=gen), torch.randn(11, 16, generator=gen)


def test_cosine_is_one_minus_normalised_dot_product():
    qf, gf = _features()
    expected = 1 - torch.nn.functional.normalize(qf, dim=1) @ \
        torch.nn.functional.normalize(gf, dim=1).t()
    dist = compute_distance_matrix(qf, gf, "cosine", chunk_size=3)
    assert dist.dtype == np.float32 and dist.shape == (7, 11)
    np.testing.assert_allclose(dist, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("squared", [True, False])
def test_euclidean(squared):
    qf, gf = _features()
    expected = torch.cdist(qf.double(), gf.double())
    expected = expected ** 2 if squared else expected
    dist = compute_distance_matrix(qf, gf.numpy(), "euclidean", squared=squared, chunk_size=4)
    np.testing.assert_allclose(dist, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_bad_inputs():
    qf, gf = _features()
    with pytest.raises(ValueError, match="unknown distance metric 'manhattan'"):
        compute_distance_matrix(qf, gf, "manhattan")
    with pytest.raises(ValueError, match="feature sizes differ"):
        compute_distance_matrix(qf, gf[:, :8])
