"""Exact cosine k-nearest-neighbour search over L2-normalised features.

Backends, chosen by ``backend``:

* ``"faiss"``: a FAISS flat inner-product index, on the GPU (``StandardGpuResources`` +
  ``GpuIndexFlatIP``) when CUDA, faiss-gpu and ``use_gpu`` allow, ``IndexFlatIP`` on the CPU otherwise.
* ``"torch"``: blocked matrix products plus ``topk``. Only the upper triangle of blocks of the
  (symmetric) similarity matrix is computed, each block feeding the rows of both of its sides,
  which halves the arithmetic. Runs on CUDA when available and allowed.
* ``"auto"`` (default): faiss on the GPU when it can; otherwise torch (on CUDA when available,
  else CPU). On a 2-core CPU the blocked torch search is several times faster than faiss-cpu's
  flat index at N = 13k, with the same neighbours up to floating-point ties.

All backends return float32 similarities (descending) and int64 indices, ``(N, k)`` each.
Each row usually starts with the query itself. ``k`` larger than ``N`` is shrunk to ``N``.
"""
from __future__ import annotations

import logging
from typing import Tuple, Union

import numpy as np
import torch

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
        raise ImportError("kNN backend 'faiss' was requested but faiss is not installed "
                          "(pip install faiss-cpu, or use backend 'torch')")
    if backend in ("auto", "faiss") and faiss is not None:
        if use_gpu and faiss_gpu_available():
            return "faiss-gpu"
        if backend == "faiss":
            return "faiss-cpu"
    return "torch-cuda" if use_gpu and torch.cuda.is_available() else "torch-cpu"


def knn_search(features: ArrayLike, k: int, use_gpu: bool = True, backend: str = "auto",
               block_size: int = 2048) -> Tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of every row among all rows, by cosine similarity.

    Args:
        features: (N, D) float array (numpy or torch, any device); rows are L2-normalised here.
        k: neighbours per row, the row itself included; shrunk to N when larger.
        use_gpu: allow a GPU (faiss-gpu or CUDA torch) when one is present.
        backend: "auto" | "faiss" | "torch" (see the module docstring).
        block_size: rows per block of the torch backend.

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
    device = torch.device("cuda" if chosen == "torch-cuda" else "cpu")
    with torch.no_grad():
        sims, idx = _torch_knn(x.to(device), k, block_size)
    return sims.cpu().numpy(), idx.cpu().numpy()
