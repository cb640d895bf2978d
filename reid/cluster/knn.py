"""Exact cosine k-nearest-neighbour search over L2-normalised features.

Backends, chosen by ``backend``:

* ``"faiss"``: a FAISS flat inner-product index, on the GPU (``StandardGpuResources`` +
  ``GpuIndexFlatIP``) when CUDA, faiss-gpu and ``use_gpu`` allow, ``IndexFlatIP`` on the CPU otherwise.
* ``"torch"``: blocked matrix products plus ``topk``. Only the upper triangle of blocks of the
  (symmetric) similarity matrix is computed, each block feeding the rows of both of its sides,
  which halves the arithmetic. Runs on CUDA when available and allowed.
  On the CPU with numba present, rows are searched by blocks with a compiled top-k selection;
  where the CPU multiplies bf16 in hardware (``precision="auto"``), a bf16 product proposes
  k + margin candidates per row that are re-scored exactly in float32, and a rigorous error
  bound decides per row whether the candidates provably hold the float32 k nearest (rows that
  fail it are searched again in float32). Same neighbours as float32, up to genuine ties.
* ``"auto"`` (default): faiss on the GPU when it can; otherwise torch (on CUDA when available,
  else CPU). On a 2-core CPU the torch search is several times faster than faiss-cpu's flat
  index at N = 13k, with the same neighbours up to floating-point ties.

All backends return float32 similarities (descending) and int64 indices, ``(N, k)`` each.
Each row usually starts with the query itself. ``k`` larger than ``N`` is shrunk to ``N``.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple, Union

import numpy as np
import torch

from common.precision import cpu_has_fast_bf16

from .kernels import NUMBA_AVAILABLE, rescore, topk_rows

try:  # faiss is optional: the torch backend covers its absence.
    import faiss  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    faiss = None

logger = logging.getLogger("reid.cluster")

ArrayLike = Union[np.ndarray, torch.Tensor]
BACKENDS = ("auto", "faiss", "torch")


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


def fast_bf16_matmul() -> bool:
    """True when this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    return cpu_has_fast_bf16()


def _exact_rows_knn(x: torch.Tensor, rows: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """float32 kNN of the given rows against all rows (matrix product + compiled selection)."""
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


def _blocked_exact_knn(x: torch.Tensor, k: int, block_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """float32 kNN by blocks of rows (CPU, compiled selection)."""
    parts = [_exact_rows_knn(x, np.arange(a, min(a + block_size, x.shape[0])), k)
             for a in range(0, x.shape[0], block_size)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


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
        precision: torch on CPU only: "bf16" (bf16 candidates re-scored in float32 with a
            rigorous bound, rows that fail it searched again: the float32 neighbours), "float32",
            or "auto" (bf16 where the CPU multiplies bf16 in hardware and numba is present).
        margin: extra bf16 candidates per row beyond k (default max(k, 32)).

    Returns:
        (similarities float32 (N, k') descending, indices int64 (N, k')), k' = min(k, N).
    """
    if k < 1:
        raise ValueError(f"knn_search: k must be >= 1, got {k}")
    x = l2_normalize(features)
    k = min(int(k), x.shape[0])
    chosen = resolve_backend(backend, use_gpu)
    if chosen.startswith("faiss"):
        return _faiss_knn(x, k, use_gpu=chosen == "faiss-gpu")
    if precision not in ("auto", "bf16", "float32"):
        raise ValueError(f"knn_search: precision '{precision}' is not one of auto, bf16, float32")
    if chosen == "torch-cpu" and NUMBA_AVAILABLE:
        x = x.cpu()
        if precision == "bf16" or (precision == "auto" and fast_bf16_matmul()):
            margin = max(k, 32) if margin is None else int(margin)
            sims, idx, redone = _bf16_candidate_knn(x, k, margin, min(block_size, 1024))
            logger.debug("kNN: bf16 candidates, %d/%d rows searched again in float32",
                         redone, x.shape[0])
            return sims, idx
        return _exact_rows_knn(x, np.arange(x.shape[0]), k) if x.shape[0] <= block_size else \
            _blocked_exact_knn(x, k, block_size)
    device = torch.device("cuda" if chosen == "torch-cuda" else "cpu")
    with torch.no_grad():
        sims, idx = _torch_knn(x.to(device), k, block_size)
    return sims.cpu().numpy(), idx.cpu().numpy()
