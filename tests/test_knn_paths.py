"""Every exact kNN path agrees with a brute-force numpy search; the per-CPU path selection."""
import logging

import numpy as np
import pytest
import torch

from reid.cluster import knn as knn_module
from reid.cluster.kernels import NUMBA_AVAILABLE
from reid.cluster.knn import (CPU_ISAS, CPU_KNN_PATHS, UPPER_MIN_DIM, cpu_knn, faiss, knn_search,
                              l2_normalize, select_cpu_knn_path)

NUMBA_PATHS = [p for p in CPU_KNN_PATHS if p != "torch-topk"]
needs_numba = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")
PATHS = [pytest.param(p, marks=needs_numba) if p in NUMBA_PATHS else p for p in CPU_KNN_PATHS]


def features_with_ties(n: int = 150, dim: int = 24, seed: int = 0) -> torch.Tensor:
    """Unit rows with exact duplicates (ties in every duplicate's list) and a few clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, dim))
    x = centres[rng.integers(0, 6, n)] + 0.5 * rng.standard_normal((n, dim))
    x[n // 2:n // 2 + 10] = x[:10]                           # ten duplicated rows
    return l2_normalize(x.astype(np.float32))


def brute_force_sims(x: torch.Tensor, k: int) -> np.ndarray:
    """float64 similarities of the k nearest rows of every row, descending (numpy)."""
    x64 = x.numpy().astype(np.float64)
    return -np.sort(-(x64 @ x64.T), axis=1)[:, :k]


def assert_exact(x: torch.Tensor, sims: np.ndarray, idx: np.ndarray, k: int) -> None:
    """Indices form a valid top-k (ties may pick either row) and the similarities match them."""
    x64 = x.numpy().astype(np.float64)
    assert sims.shape == idx.shape == (x.shape[0], k)
    assert sims.dtype == np.float32 and idx.dtype == np.int64
    for row in idx:                                          # no index twice in a row
        assert np.unique(row).size == k
    chosen = np.einsum("nd,nkd->nk", x64, x64[idx])
    np.testing.assert_allclose(np.sort(chosen, axis=1)[:, ::-1], brute_force_sims(x, k), atol=1e-5)
    np.testing.assert_allclose(sims, chosen, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()             # descending


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("k", [1, 7, 150])                   # 150 = N: every row
def test_cpu_path_matches_brute_force(path, k):
    x = features_with_ties()
    sims, idx = cpu_knn(x, k, path, block_size=64)           # several blocks, a partial last one
    assert_exact(x, sims, idx, k)


@pytest.mark.parametrize("path", PATHS)
def test_cpu_path_with_block_larger_than_n(path):
    x = features_with_ties(n=40)
    assert_exact(x, *cpu_knn(x, 12, path, block_size=4096), 12)


@pytest.mark.skipif(faiss is None, reason="faiss not installed")
def test_faiss_backend_matches_brute_force():
    x = features_with_ties()
    assert_exact(x, *knn_search(x, 9, backend="faiss", use_gpu=False), 9)


@pytest.mark.parametrize("precision", ["auto", "float32", "bf16"])
def test_knn_search_shrinks_k_above_n(precision):
    x = features_with_ties(n=30)
    sims, idx = knn_search(x, 45, backend="torch", use_gpu=False, precision=precision)
    assert_exact(x, sims, idx, 30)


@needs_numba
def test_upper_blocks_equal_row_blocks_exactly():
    """Same float32 products per pair and the same tie rule (earlier column first)."""
    x = features_with_ties(n=300, dim=16)
    up_v, up_i = cpu_knn(x, 10, "blas-upper", block_size=64)
    row_v, row_i = cpu_knn(x, 10, "blas-rows", block_size=300)
    np.testing.assert_allclose(up_v, row_v, atol=1e-6)
    np.testing.assert_allclose(np.einsum("nd,nkd->nk", x.numpy(), x.numpy()[up_i]), row_v,
                               atol=1e-5)


@needs_numba
def test_merge_block_in_column_chunks_equals_topk_rows():
    from reid.cluster.kernels import merge_topk_block, topk_rows
    rng = np.random.default_rng(1)
    values = rng.integers(-20, 20, size=(25, 90)).astype(np.float32)   # many exact ties
    best_v = np.full((25, 6), -np.inf, dtype=np.float32)
    best_i = np.full((25, 6), -1, dtype=np.int64)
    counts = np.zeros(25, dtype=np.int64)
    for start in range(0, 90, 40):
        merge_topk_block(values[:, start:start + 40], start, best_v, best_i, counts, 0)
    ref_v, ref_i = topk_rows(values, 6)
    np.testing.assert_array_equal(best_v, ref_v)
    np.testing.assert_array_equal(best_i, ref_i)              # same tie rule
    assert (counts == 6).all()


@pytest.mark.parametrize("isa, dim, expected", [
    ("amx", 512, "bf16-candidates"), ("amx", 2048, "bf16-candidates"),
    ("avx512_bf16", 512, "bf16-candidates"), ("avx512_bf16", 2048, "bf16-candidates"),
    ("avx512", 512, "blas-rows"), ("avx512", 2048, "blas-upper"),
    ("avx2", 512, "blas-rows"), ("avx2", UPPER_MIN_DIM, "blas-upper"),
    ("avx2", 2048, "blas-upper"), ("other", 64, "blas-rows"),
])
def test_selection_per_isa(isa, dim, expected):
    assert select_cpu_knn_path(isa, numba_available=True, dim=dim) == expected
    assert select_cpu_knn_path(isa, numba_available=False, dim=dim) == "torch-topk"


@pytest.mark.parametrize("isa", CPU_ISAS)
def test_precision_forces_the_path(isa):
    assert select_cpu_knn_path(isa, numba_available=True, precision="bf16") == "bf16-candidates"
    assert select_cpu_knn_path(isa, numba_available=True, precision="float32",
                               dim=64) == "blas-rows"


@needs_numba
def test_knn_search_uses_and_logs_the_selected_path(monkeypatch, caplog):
    monkeypatch.setattr(knn_module, "cpu_matrix_isa", lambda: "amx")
    monkeypatch.setattr(knn_module, "_logged_paths", set())
    calls = []
    real = knn_module.cpu_knn
    monkeypatch.setattr(knn_module, "cpu_knn",
                        lambda x, k, path, *a: calls.append(path) or real(x, k, path, *a))
    x = features_with_ties(n=40)
    with caplog.at_level(logging.INFO, logger="reid.cluster"):
        knn_search(x, 5, backend="torch", use_gpu=False)
        knn_search(x, 5, backend="torch", use_gpu=False)
    assert calls == ["bf16-candidates", "bf16-candidates"]
    logged = [r.getMessage() for r in caplog.records if "CPU path" in r.getMessage()]
    assert len(logged) == 1 and "bf16-candidates" in logged[0] and "amx" in logged[0]


def test_bad_inputs_are_named():
    x = features_with_ties(n=20)
    with pytest.raises(ValueError, match="isa 'sse2' is not one of"):
        select_cpu_knn_path("sse2")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        select_cpu_knn_path("avx2", precision="fp8")
    with pytest.raises(ValueError, match="path 'ivf' is not one of"):
        cpu_knn(x, 3, "ivf")
    with pytest.raises(ValueError, match=r"k must be in \[1, N=20\], got 21"):
        cpu_knn(x, 21, "torch-topk")
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        knn_search(x, 0)
    with pytest.raises(ValueError, match="precision 'half'"):
        knn_search(x, 3, precision="half")


def test_numba_paths_without_numba_raise(monkeypatch):
    monkeypatch.setattr(knn_module, "NUMBA_AVAILABLE", False)
    with pytest.raises(ImportError, match="'blas-rows' needs numba"):
        cpu_knn(features_with_ties(n=20), 3, "blas-rows")
