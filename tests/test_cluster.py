"""Pseudo-labeller: kNN, sparse Jaccard vs the per-row reference, eps rule, DBSCAN, edge cases."""
import logging

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from benchmarks.reference.cluster import (reference_dbscan, reference_jaccard_distance,
                                          reference_select_eps)
from benchmarks.synthetic import make_clustered_features
from reid.cluster import (ALL_OUTLIERS, SINGLE_CLUSTER, PseudoLabeler, cluster_agreement,
                          compute_jaccard_distance, knn_search, run_dbscan, select_eps,
                          sparse_to_dense_distance)
from reid.cluster.knn import faiss


def blobs(n=200, dim=32, ids=12, noise=0.05, spread=0.8, seed=0):
    return make_clustered_features(n, dim, ids, noise_fraction=noise, spread=spread, seed=seed)


# ----------------------------------------------------------------------------------- kNN
def test_knn_torch_matches_bruteforce_and_contains_self():
    x, _ = blobs(n=150, dim=16)
    sims, idx = knn_search(x, 10, backend="torch", block_size=32)   # several blocks
    assert sims.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (150, 10)
    full = torch.from_numpy(x) @ torch.from_numpy(x).T
    ref_v, _ = full.topk(10, dim=1)
    np.testing.assert_allclose(sims, ref_v.numpy(), atol=1e-5)
    assert (idx[:, 0] == np.arange(150)).all()
    assert (np.diff(sims, axis=1) <= 1e-7).all()


@pytest.mark.skipif(faiss is None, reason="faiss not installed")
def test_knn_faiss_agrees_with_torch():
    x, _ = blobs(n=120, dim=24, seed=3)
    s1, i1 = knn_search(x, 8, backend="faiss", use_gpu=False)
    s2, i2 = knn_search(x, 8, backend="torch")
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    assert (i1 == i2).mean() > 0.99


def test_knn_normalises_and_shrinks_k():
    x = torch.randn(5, 4) * 7.0
    sims, idx = knn_search(x, 30, backend="torch")
    assert idx.shape == (5, 5)
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-6)


def test_non_finite_features_name_rows():
    x = np.random.randn(20, 8).astype(np.float32)
    x[3, 1] = np.nan
    x[11, 0] = np.inf
    with pytest.raises(ValueError, match=r"rows 3, 11"):
        knn_search(x, 5)
    with pytest.raises(ValueError, match="rows 3, 11"):
        PseudoLabeler()(x)


def test_bad_shape_is_reported():
    with pytest.raises(ValueError, match="2-D"):
        knn_search(np.zeros(10, np.float32), 3)


# ------------------------------------------------------------------------------- Jaccard
@pytest.mark.parametrize("k1,k2", [(30, 6), (20, 1), (7, 3), (5, 6)])
def test_sparse_jaccard_equals_reference(k1, k2):
    x, _ = blobs(n=200, dim=32, ids=12, spread=0.9)
    knn = knn_search(x, k1, backend="torch")           # same neighbour table for both
    fast = compute_jaccard_distance(x, k1, k2, knn=knn)
    ref = reference_jaccard_distance(x, k1, k2, knn=knn)
    assert sp.issparse(fast) and fast.dtype == np.float32
    dense = sparse_to_dense_distance(fast)
    np.testing.assert_allclose(dense, ref, atol=1e-5)
    np.testing.assert_allclose(dense, dense.T, atol=0)
    # Only pairs below 1 (and the diagonal) are stored.
    assert fast.nnz == int(((ref < 1 - 1e-6) | np.eye(200, dtype=bool)).sum())
    np.testing.assert_allclose(compute_jaccard_distance(x, k1, k2, knn=knn, dense=True), dense)


def test_jaccard_handles_n_below_k1():
    x, _ = blobs(n=12, dim=8, ids=3, noise=0.0)
    dist = compute_jaccard_distance(x, k1=30, k2=6, dense=True)
    ref = reference_jaccard_distance(x, k1=30, k2=6, knn=knn_search(x, 12, backend="torch"))
    assert dist.shape == (12, 12)
    np.testing.assert_allclose(dist, ref, atol=1e-5)


# ----------------------------------------------------------------------------------- eps
def test_select_eps_on_hand_made_matrix():
    d = np.array([[0.0, 0.2, 0.5, 0.9],
                  [0.2, 0.0, 0.0, 0.4],
                  [0.5, 0.0, 0.0, 1.0],
                  [0.9, 0.4, 1.0, 0.0]], dtype=np.float32)
    # Positive upper-triangle values: 0.2 0.5 0.9 0.4 1.0 (the 0 is excluded, as the authors do).
    assert select_eps(d, 0.4) == pytest.approx((0.2 + 0.4) / 2)
    assert select_eps(d, 0.6) == pytest.approx((0.2 + 0.4 + 0.5) / 3)
    assert select_eps(d, 0.01) == pytest.approx(0.2)                 # at least one value
    assert reference_select_eps(d, 0.6) == pytest.approx(select_eps(d, 0.6))
    # Sparse form: absent pairs are 1.0; explicit zero stored off the diagonal.
    rows, cols = np.nonzero((d < 1) & (d > 0) | np.eye(4, dtype=bool))
    rows, cols = np.append(rows, [1, 2]), np.append(cols, [2, 1])      # explicit stored zeros
    s = sp.csr_matrix((d[rows, cols], (rows, cols)), shape=(4, 4))
    assert s.nnz == 14
    assert select_eps(s, 0.6) == pytest.approx(select_eps(d, 0.6))
    assert select_eps(s, 1.0) == pytest.approx(select_eps(d, 1.0))   # needs the implicit ones
    with pytest.raises(ValueError, match="rho"):
        select_eps(d, 0.0)


def test_select_eps_sparse_matches_reference_on_jaccard():
    x, _ = blobs(n=200, dim=32)
    knn = knn_search(x, 30, backend="torch")
    fast = compute_jaccard_distance(x, knn=knn)
    ref = reference_jaccard_distance(x, knn=knn)
    for rho in (0.002, 0.05, 0.5):
        assert select_eps(fast, rho) == pytest.approx(reference_select_eps(ref, rho), abs=1e-6)


# -------------------------------------------------------------------------------- DBSCAN
def test_dbscan_sparse_equals_dense_reference():
    x, _ = blobs(n=200, dim=32, spread=1.0, noise=0.1)
    knn = knn_search(x, 30, backend="torch")
    fast = compute_jaccard_distance(x, knn=knn)
    ref = reference_jaccard_distance(x, knn=knn)
    for eps in (0.3, 0.5, 0.7):
        np.testing.assert_array_equal(run_dbscan(fast, eps), reference_dbscan(ref, eps))


def test_separable_clusters_are_recovered_perfectly():
    x, gt = make_clustered_features(240, 64, 12, noise_fraction=0.0, spread=0.3, seed=1)
    result = PseudoLabeler(k1=20, k2=6, eps=0.6)(x, gt_labels=gt)
    assert result.num_clusters == 12 and result.num_outliers == 0
    assert result.purity == pytest.approx(1.0)
    assert result.nmi == pytest.approx(1.0) and result.ari == pytest.approx(1.0)
    assert result.degenerate is None and result.usable
    assert result.labels.dtype == np.int64
    assert set(result.timings) == {"knn", "jaccard", "eps", "dbscan"}


def test_eps_from_rho_is_chosen_once_then_kept(caplog):
    x, gt = blobs(n=300, dim=32, ids=15, noise=0.05, spread=0.7)
    labeler = PseudoLabeler(rho=0.01)
    with caplog.at_level(logging.INFO, logger="reid.cluster"):
        first = labeler(x, gt_labels=gt)
    assert "clusters" in caplog.text and "outliers" in caplog.text
    assert labeler.eps == pytest.approx(first.eps) and 0 < first.eps < 1
    shifted, _ = blobs(n=300, dim=32, ids=15, spread=0.4, seed=5)
    assert labeler(shifted).eps == first.eps
    assert select_eps(compute_jaccard_distance(shifted), 0.01) != pytest.approx(first.eps)
    state = labeler.state_dict()
    labeler.reset_eps()
    assert labeler.eps is None
    labeler.load_state_dict(state)
    assert labeler.eps == first.eps


def test_all_outliers_is_flagged_not_raised(caplog):
    x = np.random.default_rng(0).standard_normal((40, 256)).astype(np.float32)   # no structure
    with caplog.at_level(logging.WARNING, logger="reid.cluster"):
        result = PseudoLabeler(k1=10, eps=0.05)(x)
    assert result.degenerate == ALL_OUTLIERS and not result.usable
    assert result.num_clusters == 0 and (result.labels == -1).all()
    assert "skipped" in caplog.text


def test_single_cluster_is_flagged():
    x, _ = make_clustered_features(60, 16, 1, noise_fraction=0.0, spread=0.2)
    result = PseudoLabeler(k1=10, eps=0.9)(x)
    assert result.degenerate == SINGLE_CLUSTER and result.num_clusters == 1


def test_n_below_k1_shrinks_k(caplog):
    x, gt = make_clustered_features(20, 16, 2, noise_fraction=0.0, spread=0.2, seed=2)
    with caplog.at_level(logging.WARNING, logger="reid.cluster"):
        result = PseudoLabeler(k1=30, k2=6, min_samples=4, rho=0.1)(x, gt_labels=gt)
    assert "20 samples < k1=30" in caplog.text
    assert result.labels.shape == (20,) and 0 < result.eps < 1
    assert result.labels.min() >= -1 and result.purity == pytest.approx(1.0)


def test_from_cfg_reads_cluster_section():
    from reid.config.defaults import _C
    cfg = _C.clone()
    cfg.CLUSTER.K1 = 17
    cfg.CLUSTER.EPS = 0.55
    labeler = PseudoLabeler.from_cfg(cfg)
    assert labeler.k1 == 17 and labeler.eps == 0.55 and labeler.rho == cfg.CLUSTER.RHO


# --------------------------------------------------------------------- monitoring scores
def test_cluster_agreement_on_known_labelings():
    gt = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    perfect = np.array([5, 5, 5, 3, 3, 3, 9, 9])
    s = cluster_agreement(perfect, gt)
    assert s["purity"] == 1.0 and s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    merged = np.array([0, 0, 0, 0, 0, 0, 1, 1])       # ids 0 and 1 merged
    s = cluster_agreement(merged, gt)
    assert s["purity"] == pytest.approx(5 / 8)
    assert 0 < s["nmi"] < 1 and 0 < s["ari"] < 1
    with_outliers = np.array([0, 0, -1, 1, 1, -1, 2, 2])
    assert cluster_agreement(with_outliers, gt)["purity"] == 1.0
    assert np.isnan(cluster_agreement(np.full(8, -1), gt)["nmi"])
    with pytest.raises(ValueError, match="gt_labels"):
        cluster_agreement(perfect, gt[:5])


# ------------------------------------------------------------- compiled kernels, fast paths
from reid.cluster.jaccard import (jaccard_from_weights, jaccard_from_weights_numpy,  # noqa: E402
                                  jaccard_graph_for_rho, jaccard_weights)
from reid.cluster.dbscan import prune_graph  # noqa: E402
from reid.cluster.kernels import NUMBA_AVAILABLE  # noqa: E402
from reid.cluster.knn import _bf16_candidate_knn, l2_normalize  # noqa: E402

needs_numba = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")


def _weights(n=300, dim=32, ids=15, seed=0, k1=20, k2=6):
    x, _ = blobs(n=n, dim=dim, ids=ids, spread=0.9, seed=seed)
    xt = l2_normalize(x)
    knn = knn_search(xt, k1, backend="torch", precision="float32")
    return jaccard_weights(xt, knn[1], k2)


@needs_numba
def test_topk_rows_matches_sort():
    from reid.cluster.kernels import topk_rows
    vals = np.random.default_rng(0).standard_normal((50, 700)).astype(np.float32)
    top_v, top_i = topk_rows(vals, 13)
    order = np.argsort(-vals, axis=1)[:, :13]
    np.testing.assert_array_equal(top_i, order)
    np.testing.assert_array_equal(top_v, np.take_along_axis(vals, order, axis=1))
    bits = torch.from_numpy(np.abs(vals)).bfloat16().view(torch.int16).numpy()
    bits_v, _ = topk_rows(bits, 13)               # int16 bit patterns order non-negative bf16
    np.testing.assert_array_equal(bits_v, -np.sort(-bits, axis=1)[:, :13])


@needs_numba
@pytest.mark.parametrize("margin", [0, 4, 40])
def test_bf16_candidate_knn_equals_float32_search(margin):
    # Tie-free data; margin 0 forces the float32 re-search of rows failing the bound.
    x = l2_normalize(torch.from_numpy(blobs(n=400, dim=48, ids=20, spread=0.9, seed=4)[0]))
    v32, i32 = knn_search(x, 12, backend="torch", precision="float32")
    v16, i16, redone = _bf16_candidate_knn(x, 12, margin, block_size=128)
    np.testing.assert_array_equal(i16, i32)
    np.testing.assert_allclose(v16, v32, atol=1e-6)
    if margin == 0:
        assert redone > 0
    if margin == 40:
        assert redone == 0
    with torch.no_grad():
        ref_v, ref_i = (x @ x.T).topk(12, dim=1)
    np.testing.assert_array_equal(i32, ref_i.numpy())
    np.testing.assert_array_equal(knn_search(x, 12, backend="torch", precision="bf16")[1], i32)
    with pytest.raises(ValueError, match="precision"):
        knn_search(x, 12, backend="torch", precision="fp8")


@needs_numba
@pytest.mark.parametrize("max_distance", [1.0, 0.6])
def test_compiled_jaccard_graph_equals_numpy(max_distance):
    v = _weights()
    fast = jaccard_from_weights(v, max_distance=max_distance, use_kernels=True)
    slow = jaccard_from_weights_numpy(v, max_distance=max_distance)
    assert fast.nnz == slow.nnz
    np.testing.assert_array_equal(fast.indptr, slow.indptr)
    np.testing.assert_array_equal(fast.indices, slow.indices)
    np.testing.assert_allclose(fast.data, slow.data, rtol=0, atol=1e-7)


@pytest.mark.parametrize("rho", [0.002, 0.02, 0.3, 0.9])
def test_eps_first_graph_equals_full_computation(rho):
    v = _weights(seed=2)
    full = jaccard_from_weights_numpy(v)
    graph, eps = jaccard_graph_for_rho(v, rho)
    assert eps == pytest.approx(select_eps(full, rho), rel=0, abs=1e-12)
    # Every pair within eps (what DBSCAN reads) is present with the same distance.
    near, near_fast = prune_graph(full, eps), prune_graph(graph, eps)
    near.sort_indices()
    near_fast.sort_indices()
    np.testing.assert_array_equal(near.indptr, near_fast.indptr)
    np.testing.assert_array_equal(near.indices, near_fast.indices)
    np.testing.assert_array_equal(near.data, near_fast.data)
    np.testing.assert_allclose(graph.diagonal(), full.diagonal())
    np.testing.assert_array_equal(run_dbscan(graph, eps), run_dbscan(full, eps))


def test_pseudo_labeler_first_and_later_epochs_equal_full_path():
    x, gt = blobs(n=300, dim=32, ids=15, spread=0.8, seed=6)
    labeler = PseudoLabeler(k1=20, k2=6, rho=0.01)
    first = labeler(x)
    full = compute_jaccard_distance(x, 20, 6)
    eps = select_eps(full, 0.01)
    assert first.eps == pytest.approx(eps, abs=1e-12)
    expected = run_dbscan(full, eps)
    assert cluster_agreement(first.labels, expected)["ari"] == pytest.approx(1.0)
    np.testing.assert_array_equal(first.labels < 0, expected < 0)
    again = labeler(x)                                   # eps known: graph pruned while built
    np.testing.assert_array_equal(again.labels, first.labels)
