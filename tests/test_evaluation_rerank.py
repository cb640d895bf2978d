"""k-reciprocal re-ranking: the sparse, chunked version equals the dense per-item reference."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reid.evaluation import evaluate, re_ranking, re_ranking_reference


def _clustered_features(num_q, num_g, dim, num_ids, seed):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, num_ids, (num_q + num_g,), generator=gen)
    centres = torch.randn(num_ids, dim, generator=gen)
    x = F.normalize(centres[ids] + 0.8 * torch.randn(num_q + num_g, dim, generator=gen), dim=1)
    return x[:num_q], x[num_q:], ids[:num_q].numpy(), ids[num_q:].numpy()


@pytest.mark.parametrize("num_q,num_g,dim,k1,k2,lam", [
    (10, 50, 16, 20, 6, 0.3),
    (7, 40, 8, 5, 3, 0.5),
    (12, 30, 4, 9, 1, 0.0),
    (15, 45, 32, 7, 6, 1.0),
])
def test_matches_dense_reference(num_q, num_g, dim, k1, k2, lam):
    qf, gf, _, _ = _clustered_features(num_q, num_g, dim, 6, seed=num_q + k1)
    fast = re_ranking(qf, gf, k1, k2, lam)
    slow = re_ranking_reference(qf, gf, k1, k2, lam)
    assert fast.dtype == np.float32 and fast.shape == (num_q, num_g)
    np.testing.assert_allclose(fast, slow, atol=1e-5)


@pytest.mark.parametrize("block", [5, 16, 64])
def test_block_size_does_not_change_the_result(block):
    qf, gf, _, _ = _clustered_features(20, 70, 8, 5, seed=3)
    np.testing.assert_allclose(re_ranking(qf, gf, block_size=block),
                               re_ranking(qf, gf, block_size=4096), atol=1e-6)


def test_jaccard_chunking_does_not_change_the_result(monkeypatch):
    import reid.evaluation.rerank as rerank

    qf, gf, _, _ = _clustered_features(20, 70, 8, 5, seed=4)
    whole = re_ranking(qf, gf)
    monkeypatch.setattr(rerank, "_TRIPLE_CHUNK", 500)
    np.testing.assert_allclose(re_ranking(qf, gf), whole, atol=1e-7)


def test_re_ranking_helps_on_clustered_data():
    qf, gf, q_ids, g_ids = _clustered_features(40, 160, 16, 8, seed=5)
    q_cams, g_cams = np.zeros(40, int), np.ones(160, int)
    plain = evaluate(2 - 2 * (qf @ gf.t()).numpy(), q_ids, g_ids, q_cams, g_cams)
    reranked = evaluate(re_ranking(qf, gf), q_ids, g_ids, q_cams, g_cams)
    assert reranked["mAP"] >= plain["mAP"]


def test_bad_arguments():
    qf, gf, _, _ = _clustered_features(4, 10, 8, 2, seed=6)
    with pytest.raises(ValueError, match="k2 <= k1 \\+ 1"):
        re_ranking(qf, gf, k1=3, k2=5)
    with pytest.raises(ValueError, match="lambda_value"):
        re_ranking(qf, gf, k1=3, k2=2, lambda_value=1.5)
    with pytest.raises(ValueError, match="features"):
        re_ranking(qf, gf[:, :4], k1=3)


def test_compiled_and_vectorised_paths_agree(monkeypatch):
    import reid.evaluation.rerank as rerank

    if not rerank.NUMBA_AVAILABLE:
        pytest.skip("numba not installed: only the vectorised path exists")
    qf, gf, _, _ = _clustered_features(30, 120, 16, 6, seed=7)
    compiled = re_ranking(qf, gf, block_size=32)
    monkeypatch.setattr(rerank, "NUMBA_AVAILABLE", False)
    vectorised = re_ranking(qf, gf, block_size=32)
    np.testing.assert_allclose(compiled, vectorised, atol=1e-6)


def test_compiled_neighbour_lists_are_exact_and_stable():
    import reid.evaluation.rerank as rerank

    if not rerank.NUMBA_AVAILABLE:
        pytest.skip("numba not installed")
    qf, gf, _, _ = _clustered_features(9, 40, 8, 4, seed=8)
    x = torch.cat([qf, gf, gf[:5]])          # exact duplicates: ties keep the lower index
    ranks, dist, row_max, q_to_g = rerank._neighbour_pass_compiled(x, 9, 6, 7)
    full = torch.cdist(x.double(), x.double()).pow(2).numpy()
    expected = np.argsort(full, axis=1, kind="stable")[:, :6]
    dup = np.arange(9, 14)
    assert set(ranks[dup, 0]) <= set(dup) | set(dup + 40)
    clean = np.setdiff1d(np.arange(len(x)), np.concatenate([dup, dup + 40]))
    np.testing.assert_array_equal(ranks[clean], expected[clean])
    np.testing.assert_allclose(dist, np.take_along_axis(full, ranks, 1), atol=1e-5)
    np.testing.assert_allclose(row_max, full.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(q_to_g, full[:9, 9:], atol=1e-5)


def test_tiny_gallery_caps_k1_and_k2():
    qf, gf, _, _ = _clustered_features(3, 5, 8, 2, seed=9)
    with pytest.warns(UserWarning, match="k1=7, k2=6"):
        fast = re_ranking(qf, gf, k1=20, k2=6)
    with pytest.warns(UserWarning):
        slow = re_ranking_reference(qf, gf, *_capped(8))
    np.testing.assert_allclose(fast, slow, atol=1e-5)


def _capped(num_items):
    from reid.evaluation.rerank import capped_neighbours
    return capped_neighbours(20, 6, num_items)


def test_identical_features_give_finite_distances():
    x = torch.ones(6, 4) / 2.0
    out = re_ranking(x[:2], x[2:], k1=3, k2=2)
    assert out.shape == (2, 4) and np.isfinite(out).all()
    assert (out >= 0).all() and (out <= 1).all()


def _float32_near_tie():
    """A probe with two neighbours 2 and 2 + 2e-8 away (squared): float32's
    sq_i + sq_j - 2 <x_i, x_j> gives both exactly 2.0, float64 tells them apart. The farther one
    (b) comes first in the gallery, so a float32 pass that keeps ties in index order would take
    it as the probe's nearest neighbour; the other gallery items lie beyond 3."""
    dim = 8
    probe = np.zeros(dim)
    probe[0] = 1.0
    near = np.zeros(dim)
    near[1] = 1.0
    theta = np.arccos(-1e-8)
    far = np.zeros(dim)
    far[0], far[2] = np.cos(theta), np.sin(theta)
    rng = np.random.default_rng(0)
    others = np.concatenate([-np.ones((6, 1)), 0.3 * rng.standard_normal((6, dim - 1))], axis=1)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    qf = torch.tensor(probe[None], dtype=torch.float32)
    gf = torch.tensor(np.stack([far, near, *others]), dtype=torch.float32)
    return qf, gf


def test_neighbour_order_is_settled_in_float64(monkeypatch):
    """At a near tie inside float32 rounding the default agrees with the float64 reference;
    without the float64 re-ordering (margin 0) it takes the wrong neighbour and the distances
    move, which shows that the case is a real tie for the float32 pass."""
    import reid.evaluation.rerank as rerank

    qf, gf = _float32_near_tie()
    q, a, b = qf[0].double(), gf[1].double(), gf[0].double()
    assert ((q - a) ** 2).sum() < ((q - b) ** 2).sum()
    x32 = torch.cat([qf, gf])
    sq = x32.pow(2).sum(1)
    assert (sq[0] + sq[1] - 2 * x32[0] @ x32[1]) == (sq[0] + sq[2] - 2 * x32[0] @ x32[2])
    args = (qf, gf, 3, 2, 0.3)
    reference = re_ranking_reference(*args)
    for precision in rerank.PRECISIONS:
        np.testing.assert_allclose(re_ranking(*args, precision=precision), reference, atol=1e-6)
    monkeypatch.setattr(rerank, "_REFINE_MARGIN", 0)
    assert np.abs(re_ranking(*args) - reference).max() > 1e-3


def test_float64_precision_matches_the_default_and_refuses_others():
    qf, gf, _, _ = _clustered_features(20, 70, 8, 5, seed=10)
    np.testing.assert_allclose(re_ranking(qf, gf, precision="float64"), re_ranking(qf, gf),
                               atol=1e-6)
    with pytest.raises(ValueError, match="precision 'bf16'"):
        re_ranking(qf, gf, precision="bf16")
