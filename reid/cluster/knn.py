"""Exact cosine k-nearest-neighbour search over L2-normalised features.

Backends, chosen by ``backend``:

* ``"faiss"``: a FAISS flat inner-product index, on the GPU (``StandardGpuResources`` +
  ``GpuIndexFlatIP``) when CUDA, faiss-gpu and ``use_gpu`` allow, ``IndexFlatIP`` on the CPU otherwise.
* ``"torch"``: exact search on CUDA (blocked matrix products plus ``topk``, upper triangle of
  blocks only) or, on the CPU, by the exact path chosen for this CPU (see below).
* ``"auto"`` (default): faiss on the GPU when it can; otherwise torch (on CUDA when available,
  else the CPU path below).

CPU paths (:data:`CPU_KNN_PATHS`, all exact: same neighbours as float32, up to genuine ties):

* ``"bf16-candidates"``: per block of rows a bf16 product proposes k + margin candidates, which
  are re-scored exactly in float32; a rigorous error bound decides per row whether they provably
  hold the float32 k nearest (rows that fail it are searched again in float32). Needs numba.
* ``"blas-rows"``: float32 products of blocks of rows with all rows through numpy's BLAS, and
  a compiled (numba) top-k selection per row.
* ``"blas-upper"``: numpy BLAS products over the upper triangle of blocks only (half the
  arithmetic), each block merged into the running top-k lists of its rows and, transposed, of
  its columns by a compiled kernel.
* ``"torch-rows"``: the same as "blas-rows" with torch's matrix product (MKL / oneDNN).
* ``"torch-topk"``: torch products over the upper triangle of blocks (each block feeding the
  rows of both sides) with ``torch.topk``; needs neither numba nor faiss.

:func:`select_cpu_knn_path` picks one from the CPU's matrix instructions (:func:`cpu_matrix_isa`),
on measurements of ``tools/bench_cluster.py --knn-paths`` (N = 12,936, k = 30):

* AVX512-BF16 (2-core EPYC, loaded): bf16 candidates 2.24 s against faiss ``IndexFlatIP``
  3.93 s at 512-d; AMX multiplies bf16 faster still, so it gets the same path.
* AVX2 only (2-core EPYC Zen 3, heavily loaded, load average 9-11): bf16 is emulated there
  (7 GFLOP/s against 50-68 for float32), so a float32 path: numpy's OpenBLAS product beat
  torch's MKL product by 1.2-1.4x (6.9 s against 8.1 s at 512-d; faiss ``IndexFlatIP`` 7.1 s,
  ``torch.topk`` 9.9 s). The upper-triangle version wins once the product dominates: at
  2048-d 15.2 s against 19.9 s ("blas-rows"), 25.3 s ("torch-rows"), 21.1 s (faiss), while at
  512-d merging the transposed blocks costs more than the product saved (8.0 s against 6.9 s).
  So "blas-upper" from :data:`UPPER_MIN_DIM` (between the two sizes measured) and "blas-rows"
  below. A second run in one process (load average 12) agreed: 2048-d "blas-upper" 13.6 s,
  "torch-topk" 16.0 s, faiss ``IndexFlatIP`` 17.8 s, "blas-rows" 18.1 s, "torch-rows" 20.5 s;
  512-d "blas-rows" 6.4 s, "blas-upper" / faiss 6.8 s, "torch-topk" 10.2 s, bf16 candidates
  48.5 s. AVX512 without bf16 gets the same float32 rule (not measured).
* Without numba: ``"torch-topk"``.

All backends return float32 similarities (descending) and int64 indices, ``(N, k)`` each.
Each row usually starts with the query itself. ``k`` larger than ``N`` is shrunk to ``N``.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple, Union

import numpy as np
import torch

from common.precision import CPU_ISAS, cpu_matrix_isa

from .kernels import NUMBA_AVAILABLE, merge_topk_block, rescore, topk_rows

try:  # faiss is optional: the torch backend covers its absence.
    import faiss  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    faiss = None

logger = logging.getLogger("reid.cluster")

ArrayLike = Union[np.ndarray, torch.Tensor]
BACKENDS = ("auto", "faiss", "torch")
CPU_KNN_PATHS = ("bf16-candidates", "blas-upper", "blas-rows", "torch-rows", "torch-topk")
UPPER_MIN_DIM = 1024     # from this feature size on, "blas-upper" beats "blas-rows" (docstring)
PRECISIONS = ("auto", "bf16", "float32")
_NUMBA_PATHS = ("bf16-candidates", "blas-upper", "blas-rows", "torch-rows")
_logged_paths: set = set()      # CPU paths whose choice was already logged in this process


def check_features(features: ArrayLike, name: str = "features") -> torch.Tensor:
    """Validate an (N, D) feature array and return it as a float32 CPU/GPU torch tensor.

    Raises ValueError naming the first non-finite rows, or the bad shape.
    """
    if isinstance(features, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(features))
    elif isinstance(features, torch.Tensor):
        tensor = features.detach()
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor of shape (N, D), "
                        f"got {type(features).__name__}")
    if tensor.dim() != 2 or tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array (N, D), got shape "
                         f"{tuple(tensor.shape)}")
    tensor = tensor.float()
    finite = torch.isfinite(tensor).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().cpu().tolist()
        shown = ", ".join(str(i) for i in bad[:10])
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise ValueError(f"{name}: {len(bad)} row(s) contain NaN or Inf values, rows {shown}{more}")
    return tensor


def l2_normalize(features: ArrayLike) -> torch.Tensor:
    """Validated, row-wise L2-normalised float32 tensor (zero rows stay zero)."""
    tensor = check_features(features)
    return torch.nn.functional.normalize(tensor, dim=1).contiguous()


def faiss_gpu_available() -> bool:
    """True when faiss was built with GPU support and a CUDA device is visible."""
    return (faiss is not None and hasattr(faiss, "StandardGpuResources")
            and torch.cuda.is_available() and faiss.get_num_gpus() > 0)


def _merge_topk(best_v: torch.Tensor, best_i: torch.Tensor, rows: slice,
                cand_v: torch.Tensor, cand_i: torch.Tensor, k: int) -> None:
    """Keep the k largest of (current best, candidates) for the given rows, in place."""
    all_v = torch.cat([best_v[rows], cand_v], dim=1)
    all_i = torch.cat([best_i[rows], cand_i], dim=1)
    top_v, pos = all_v.topk(k, dim=1)
    best_v[rows] = top_v
    best_i[rows] = torch.gather(all_i, 1, pos)


def _torch_knn(x: torch.Tensor, k: int, block_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Blocked exact kNN by inner product using only the upper triangle of blocks."""
    n = x.shape[0]
    best_v = torch.full((n, k), -float("inf"), dtype=torch.float32, device=x.device)
    best_i = torch.full((n, k), -1, dtype=torch.int64, device=x.device)
    starts = list(range(0, n, block_size))
    for a in starts:
        rows_a = slice(a, min(a + block_size, n))
        xa = x[rows_a]
        for b in starts:
            if b < a:
                continue
            rows_b = slice(b, min(b + block_size, n))
            sims = xa @ x[rows_b].T
            ka = min(k, sims.shape[1])
            v, i = sims.topk(ka, dim=1)
            _merge_topk(best_v, best_i, rows_a, v, i + b, k)
            if b != a:
                sims_t = sims.T.contiguous()
                kb = min(k, sims_t.shape[1])
                v, i = sims_t.topk(kb, dim=1)
                _merge_topk(best_v, best_i, rows_b, v, i + a, k)
    return best_v, best_i


# Error bound terms of a bf16 matrix product with float32 accumulation (see _bf16_candidate_knn).
BF16_UNIT_ROUNDOFF = 2.0 ** -8
FP32_UNIT_ROUNDOFF = 2.0 ** -24


def select_cpu_knn_path(isa: Optional[str] = None, numba_available: Optional[bool] = None,
                        precision: str = "auto", dim: int = 2048) -> str:
    """The fastest exact CPU path (one of :data:`CPU_KNN_PATHS`) for a CPU with matrix
    instructions ``isa`` (default: this CPU's); the measurements behind the rule are in the
    module docstring.

    "amx" and "avx512_bf16" (bf16 products in hardware) get "bf16-candidates"; "avx512",
    "avx2" and "other" get "blas-upper" for feature size ``dim`` >= :data:`UPPER_MIN_DIM` and
    "blas-rows" below; without numba it is "torch-topk" whatever the ISA.
    ``precision`` "bf16" / "float32" forces the bf16-candidate / the float32 path.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"select_cpu_knn_path: precision '{precision}' is not one of "
                         f"{', '.join(PRECISIONS)}")
    isa = cpu_matrix_isa() if isa is None else isa
    if isa not in CPU_ISAS:
        raise ValueError(f"select_cpu_knn_path: isa '{isa}' is not one of {CPU_ISAS}")
    numba_available = NUMBA_AVAILABLE if numba_available is None else numba_available
    if not numba_available:
        return "torch-topk"
    if precision == "bf16" or (precision == "auto" and isa in ("amx", "avx512_bf16")):
        return "bf16-candidates"
    return "blas-upper" if dim >= UPPER_MIN_DIM else "blas-rows"


def _exact_rows_knn(x: torch.Tensor, rows: np.ndarray, k: int, blas: str = "torch"
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """float32 kNN of the given rows against all rows: matrix product by torch's (``blas``
    "torch") or numpy's ("numpy") BLAS, then the compiled top-k selection."""
    if blas == "numpy":
        x_np = x.numpy()
        sims = x_np[rows] @ x_np.T
    else:
        with torch.no_grad():
            sims = (x[torch.from_numpy(rows)] @ x.T).numpy()
    vals, idx = topk_rows(sims, k)
    return vals, idx.astype(np.int64)


def _bf16_candidate_knn(x: torch.Tensor, k: int, margin: int, block_size: int
                        ) -> Tuple[np.ndarray, np.ndarray, int]:
    """Exact float32 kNN from a bf16 candidate search (CPU, compiled kernels).

    Per block of rows: the bf16 product (float32 accumulation, bf16 output), the ``k + margin``
    best candidates by their bf16 value (compared as int16 bit patterns, which order
    non-negative floats correctly), exact float32 re-scoring of the candidates, and the k best
    of those. A row is accepted only when its k-th exact similarity exceeds a rigorous upper
    bound on the exact similarity of every non-candidate:

        bf16 value of the last candidate, unrounded (relative 2^-8),
        + float32 accumulation error (D * 2^-24),
        + input rounding |x.y - x~.y~| <= |x~| R + |r_x| Y~ + |r_x| R,

    with r = x - bf16(x), R = max |r_y| and Y~ = max |y~|. Other rows (and rows whose last
    candidate is negative) are searched again in float32. Returns (sims, indices, #re-searched).
    """
    n, dim = x.shape
    kc = min(n, k + margin)
    x_np = x.numpy()
    xb = x.to(torch.bfloat16)
    resid = (x - xb.float()).norm(dim=1).numpy().astype(np.float64)
    xb_norm = xb.float().norm(dim=1).numpy().astype(np.float64)
    big_r, big_y = float(resid.max()), float(xb_norm.max())
    out_v = np.empty((n, k), dtype=np.float32)
    out_i = np.empty((n, k), dtype=np.int64)
    redo = []
    for a in range(0, n, block_size):
        b = min(a + block_size, n)
        with torch.no_grad():
            bits = (xb[a:b] @ xb.T).view(torch.int16).numpy()
        cand_bits, cand = topk_rows(bits, kc)
        exact = rescore(x_np, a, cand)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        out_v[a:b] = np.take_along_axis(exact, order, axis=1)
        out_i[a:b] = np.take_along_axis(cand, order, axis=1)
        if kc == n:
            continue
        last_bits = cand_bits[:, -1]
        last = (last_bits.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
        last = last.astype(np.float64) / (1.0 - BF16_UNIT_ROUNDOFF)
        bound = (last + dim * FP32_UNIT_ROUNDOFF * 1.01
                 + xb_norm[a:b] * big_r + resid[a:b] * big_y + resid[a:b] * big_r + 1e-6)
        bad = (last_bits < 0) | (out_v[a:b, -1].astype(np.float64) <= bound)
        redo.append(np.flatnonzero(bad) + a)
    redo_rows = np.concatenate(redo) if redo else np.zeros(0, dtype=np.int64)
    for start in range(0, redo_rows.size, block_size):
        rows = redo_rows[start:start + block_size]
        out_v[rows], out_i[rows] = _exact_rows_knn(x, rows, k)
    return out_v, out_i, int(redo_rows.size)


def _blocked_exact_knn(x: torch.Tensor, k: int, block_size: int, blas: str = "torch"
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """float32 kNN by blocks of rows (CPU, compiled selection; ``blas`` as in _exact_rows_knn)."""
    parts = [_exact_rows_knn(x, np.arange(a, min(a + block_size, x.shape[0])), k, blas)
             for a in range(0, x.shape[0], block_size)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _upper_blocks_knn(x: torch.Tensor, k: int, block_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """float32 kNN from the upper triangle of blocks of X X^T (numpy BLAS): block (a, b), b >= a,
    feeds the lists of rows a.. and, transposed, of rows b.. . Every row receives its column
    blocks in increasing order, so ties keep the earlier column."""
    x_np = x.numpy()
    n = x_np.shape[0]
    best_v = np.full((n, k), -np.inf, dtype=np.float32)
    best_i = np.full((n, k), -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for a in range(0, n, block_size):
        xa = x_np[a:a + block_size]
        for b in range(a, n, block_size):
            sims = xa @ x_np[b:b + block_size].T
            merge_topk_block(sims, b, best_v, best_i, counts, a)
            if b != a:
                merge_topk_block(sims.T, a, best_v, best_i, counts, b)
    return best_v, best_i


def _faiss_knn(x: torch.Tensor, k: int, use_gpu: bool) -> Tuple[np.ndarray, np.ndarray]:
    data = x.cpu().numpy().astype(np.float32, copy=False)
    dim = data.shape[1]
    if use_gpu and faiss_gpu_available():
        resources = faiss.StandardGpuResources()
        index = faiss.GpuIndexFlatIP(resources, dim)
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(data)
    sims, idx = index.search(data, k)
    return sims.astype(np.float32, copy=False), idx.astype(np.int64, copy=False)


def cpu_knn(x: torch.Tensor, k: int, path: str, block_size: int = 2048,
            margin: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Exact kNN of L2-normalised CPU float32 rows by the named CPU path (:data:`CPU_KNN_PATHS`);
    1 <= k <= N. Returns (float32 similarities, int64 indices), (N, k) each."""
    if path not in CPU_KNN_PATHS:
        raise ValueError(f"cpu_knn: path '{path}' is not one of {CPU_KNN_PATHS}")
    if path in _NUMBA_PATHS and not NUMBA_AVAILABLE:
        raise ImportError(f"cpu_knn: path '{path}' needs numba (pip install numba); "
                          f"'torch-topk' does not")
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"cpu_knn: k must be in [1, N={x.shape[0]}], got {k}")
    x = x.cpu().contiguous()
    if path == "bf16-candidates":
        margin = max(k, 32) if margin is None else int(margin)
        sims, idx, redone = _bf16_candidate_knn(x, k, margin, min(block_size, 1024))
        logger.debug("kNN: bf16 candidates, %d/%d rows searched again in float32",
                     redone, x.shape[0])
        return sims, idx
    if path == "blas-upper":
        return _upper_blocks_knn(x, k, block_size)
    if path == "torch-topk":
        with torch.no_grad():
            sims, idx = _torch_knn(x, k, block_size)
        return sims.numpy(), idx.numpy()
    return _blocked_exact_knn(x, k, block_size, "numpy" if path == "blas-rows" else "torch")


def _log_cpu_path_once(path: str, isa: str) -> None:
    """Log, once per process and path, which CPU kNN path was chosen and why."""
    if path not in _logged_paths:
        _logged_paths.add(path)
        logger.info("kNN: CPU path '%s' (CPU matrix instructions: %s, numba %s)", path, isa,
                    "present" if NUMBA_AVAILABLE else "absent")


def resolve_backend(backend: str, use_gpu: bool) -> str:
    """Name of the backend ``auto`` resolves to ("faiss-gpu", "faiss-cpu", "torch-cuda", "torch-cpu")."""
    if backend not in BACKENDS:
        raise ValueError(f"kNN backend '{backend}' is not one of {BACKENDS}")
    if backend == "faiss" and faiss is None:
        raise ImportError("kNN backend 'faiss' was requested but faiss is not installed: "
                          "pip install -e '.[faiss]' (faiss-cpu) or '.[gpu]' (faiss-gpu, "
                          "instead of faiss-cpu), or use backend 'torch'")
    if backend in ("auto", "faiss") and faiss is not None:
        if use_gpu and faiss_gpu_available():
            return "faiss-gpu"
        if backend == "faiss":
            return "faiss-cpu"
    return "torch-cuda" if use_gpu and torch.cuda.is_available() else "torch-cpu"


def knn_search(features: ArrayLike, k: int, use_gpu: bool = True, backend: str = "auto",
               block_size: int = 2048, precision: str = "auto",
               margin: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of every row among all rows, by cosine similarity.

    Args:
        features: (N, D) float array (numpy or torch, any device); rows are L2-normalised here.
        k: neighbours per row, the row itself included; shrunk to N when larger.
        use_gpu: allow a GPU (faiss-gpu or CUDA torch) when one is present.
        backend: "auto" | "faiss" | "torch" (see the module docstring).
        block_size: rows per block of the torch backend.
        precision: torch on CPU only: "bf16" (the "bf16-candidates" path: the float32
            neighbours), "float32" (the float32 path), or "auto" (the path
            :func:`select_cpu_knn_path` picks for this CPU; logged once).
        margin: extra bf16 candidates per row beyond k (default max(k, 32)).

    Returns:
        (similarities float32 (N, k') descending, indices int64 (N, k')), k' = min(k, N).
    """
    if k < 1:
        raise ValueError(f"knn_search: k must be >= 1, got {k}")
    if precision not in PRECISIONS:
        raise ValueError(f"knn_search: precision '{precision}' is not one of "
                         f"{', '.join(PRECISIONS)}")
    x = l2_normalize(features)
    k = min(int(k), x.shape[0])
    chosen = resolve_backend(backend, use_gpu)
    if chosen.startswith("faiss"):
        return _faiss_knn(x, k, use_gpu=chosen == "faiss-gpu")
    if chosen == "torch-cpu":
        isa = cpu_matrix_isa()
        path = select_cpu_knn_path(isa, precision=precision, dim=x.shape[1])
        _log_cpu_path_once(path, isa)
        return cpu_knn(x, k, path, block_size, margin)
    with torch.no_grad():
        sims, idx = _torch_knn(x.to("cuda"), k, block_size)
    return sims.cpu().numpy(), idx.cpu().numpy()
