"""Re-ranking on a gallery smaller than k1 + 1: k1 / k2 capped with a warning, same result as the
dense reference with the capped values."""
import numpy as np
import pytest
import torch

from reid.evaluation import re_ranking, re_ranking_reference
from reid.evaluation.rerank import capped_neighbours


def _features(num_q: int, num_g: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    qf = torch.nn.functional.normalize(torch.randn(num_q, 8, generator=generator), dim=1)
    gf = torch.nn.functional.normalize(torch.randn(num_g, 8, generator=generator), dim=1)
    return qf, gf


def test_six_image_gallery_caps_k1_k2_and_matches_the_reference():
    qf, gf = _features(2, 6)
    with pytest.warns(UserWarning, match=r"k1=7, k2=6 instead of k1=20, k2=6"):
        dist = re_ranking(qf, gf, k1=20, k2=6)
    assert dist.shape == (2, 6) and np.isfinite(dist).all()
    np.testing.assert_allclose(dist, re_ranking_reference(qf, gf, k1=7, k2=6), atol=1e-5)


def test_k2_follows_the_capped_k1():
    with pytest.warns(UserWarning, match=r"k1=3, k2=4 instead of k1=20, k2=6"):
        assert capped_neighbours(20, 6, 4) == (3, 4)
    qf, gf = _features(1, 3, seed=1)
    with pytest.warns(UserWarning, match="at most k1 = 3"):
        dist = re_ranking(qf, gf, k1=20, k2=6)
    assert np.isfinite(dist).all()
    np.testing.assert_allclose(dist, re_ranking_reference(qf, gf, k1=3, k2=4), atol=1e-5)


def test_enough_items_change_nothing_and_too_few_are_refused():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert capped_neighbours(20, 6, 21) == (20, 6)
    with pytest.raises(ValueError, match="at least 2"):
        capped_neighbours(20, 6, 1)
    with pytest.raises(ValueError, match="k1 >= 1"):
        capped_neighbours(0, 1, 10)
