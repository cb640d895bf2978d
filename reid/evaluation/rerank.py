"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) that fits Market-1501 size in memory.

Definition (the same as the authors' code, and as :func:`re_ranking_reference`), over all
N = num_q + num_g probe-and-gallery features x:

* d(i, j) = ||x_i - x_j||^2, normalised per row: dn(i, j) = d(i, j) / max_j d(i, j);
* R(i, k) = the k nearest items of i (i itself first), k-reciprocal set
  R*(i) = {j in R(i, k1 + 1) : i in R(j, k1 + 1)};
* expansion: for every c in R*(i) with half set H(c) = k-reciprocal set of c with
  round(k1 / 2) + 1 neighbours, add H(c) when |H(c) & R*(i)| > 2/3 |H(c)|;
* V(i, j) = exp(-dn(i, j)) / sum over the expanded set (0 outside it); then query expansion
  V(i) <- mean of V(r) over the k2 nearest r of i;
* Jaccard(q, g) = 1 - m / (2 - m) with m = sum_k min(V(q, k), V(g, k));
* final(q, g) = (1 - lambda) Jaccard(q, g) + lambda dn(q, g).

Nothing here is N x N: the distances are streamed in row chunks (torch, CPU or GPU) keeping only
the top-(k1 + 1) neighbour lists and row maxima; V is a sparse matrix; the Jaccard numerator is
accumulated per query chunk from the sparse non-zeros through an inverted (column) index.

On the CPU with numba (the usual case) three compiled kernels replace the slow steps: the
distance blocks (one BLAS product each) are folded into the running neighbour lists and row
maxima without sorting (an entry below a list's k-th value is inserted, anything else costs one
comparison); the expanded sets are built per item with stamped membership arrays; and the
Jaccard numerator and the final combination are computed per query row straight into the
output. Without numba, or for GPU tensors, the torch / numpy path gives the same results. The
kernels are compiled on first use and cached on disk (:mod:`common.numba_kernels`).

Neighbour order is settled in float64: the float32 pass keeps a few extra candidates per item,
which are re-scored exactly (:func:`_refine_neighbours`), so two neighbours closer than float32
rounding are not swapped (at Market size such a swap at one gallery item's k2 boundary moves
hundreds of query-gallery distances by up to 0.06). ``precision="float64"`` computes every
distance in float64 instead, as a check at scale.

On a small set (N < k1 + 1, e.g. a tiny gallery) k1 is capped to N - 1 and k2 to the capped
k1 + 1 (:func:`capped_neighbours`), with a warning naming the given and the capped values.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from common.numba_kernels import NUMBA_AVAILABLE, numba_kernel, prange

# (query rows x nonzeros) triples handled at once in the Jaccard step.
_TRIPLE_CHUNK = 1 << 22
# Extra neighbours kept by the float32 distance pass, re-scored in float64 (see _refine_neighbours).
_REFINE_MARGIN = 8
PRECISIONS = ("float32", "float64")


def _features(qf, gf, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    qf = qf if isinstance(qf, torch.Tensor) else torch.as_tensor(np.asarray(qf))
    gf = gf if isinstance(gf, torch.Tensor) else torch.as_tensor(np.asarray(gf))
    if qf.ndim != 2 or gf.ndim != 2 or qf.shape[1] != gf.shape[1]:
        raise ValueError(f"re_ranking expects (num_q, D) and (num_g, D) features, got "
                         f"{tuple(qf.shape)} and {tuple(gf.shape)}")
    return torch.cat([qf.detach().to(dtype), gf.detach().to(dtype).to(qf.device)], dim=0)


def capped_neighbours(k1: int, k2: int, num_items: int) -> tuple[int, int]:
    """``(k1, k2)`` that ``num_items`` probe-and-gallery items allow: k1 <= num_items - 1 (the
    k1 + 1 nearest include the item itself), k2 <= k1 + 1; a warning when either is capped.
    Errors for k1 or k2 below 1, k2 > k1 + 1 as given, or fewer than 2 items."""
    if k1 < 1 or k2 < 1:
        raise ValueError(f"re_ranking needs k1 >= 1 and k2 >= 1, got k1={k1}, k2={k2}")
    if k2 > k1 + 1:
        raise ValueError(f"re_ranking needs k2 <= k1 + 1; got k1={k1}, k2={k2}")
    if num_items < 2:
        raise ValueError(f"re_ranking needs at least 2 probe and gallery items, got {num_items}")
    capped_k1 = min(k1, num_items - 1)
    capped_k2 = min(k2, capped_k1 + 1)
    if (capped_k1, capped_k2) != (k1, k2):
        warnings.warn(f"re_ranking: {num_items} probe and gallery items allow at most "
                      f"k1 = {num_items - 1}; using k1={capped_k1}, k2={capped_k2} instead of "
                      f"k1={k1}, k2={k2}", stacklevel=3)
    return capped_k1, capped_k2


def half_k1(k1: int) -> int:
    """round(k1 / 2) as the authors' code computes it (numpy rounds half to even)."""
    return int(np.around(k1 / 2.0))


if NUMBA_AVAILABLE:

    @numba_kernel(nogil=True)
    def _insert_nearest(keys, idx, value, item):
        """Insert (value, item) into the ascending list keys (full length k) after the entries
        <= value, dropping the last; the caller checked value < keys[-1]. Fed in item order,
        ties keep the earlier item, as a stable sort does."""
        p = keys.size - 1
        while p > 0 and keys[p - 1] > value:
            keys[p] = keys[p - 1]
            idx[p] = idx[p - 1]
            p -= 1
        keys[p] = value
        idx[p] = item

    @numba_kernel(parallel=True)
    def _scan_block_kernel(block, sq_rows, r0, c0, transposed, top_d, top_i, row_max, stripes):
        """Fold one distance block into the running neighbour lists and maxima.

        ``block`` holds sq[c] - 2 <x_r, x_c> for rows r0.. and columns c0..; the row pass adds
        sq[r] in place (completing the squared distances) and updates the lists of the rows;
        with ``transposed`` the column pass then updates the lists of the columns, each thread
        over its own stripe of columns. Only entries below a list's current k-th value move
        anything, so after the first blocks almost every entry costs one comparison."""
        rows, cols = block.shape
        k = top_d.shape[1]
        for r in prange(rows):
            i = r0 + r
            s = sq_rows[r]
            worst = row_max[i]
            bound = top_d[i, k - 1]
            for c in range(cols):
                v = block[r, c] + s
                block[r, c] = v
                worst = max(worst, v)
                if v < bound:
                    _insert_nearest(top_d[i], top_i[i], v, c0 + c)
                    bound = top_d[i, k - 1]
            row_max[i] = worst
        if transposed:
            width = (cols + stripes - 1) // stripes
            for t in prange(stripes):
                lo = t * width
                hi = min(cols, lo + width)
                if lo >= hi:
                    continue
                bound = top_d[c0 + lo:c0 + hi, k - 1].copy()
                worst = row_max[c0 + lo:c0 + hi].copy()
                for r in range(rows):
                    line = block[r, lo:hi]
                    for c in range(hi - lo):
                        v = line[c]
                        worst[c] = max(worst[c], v)
                        if v < bound[c]:
                            j = c0 + lo + c
                            _insert_nearest(top_d[j], top_i[j], v, r0 + r)
                            bound[c] = top_d[j, k - 1]
                row_max[c0 + lo:c0 + hi] = worst

    @numba_kernel(parallel=True)
    def _expanded_sets_kernel(ranks, recip, half, hw, chunks):
        """Per item i, its expanded k-reciprocal set (unsorted) and its size: R*(i) (the
        entries of ranks[i] where ``recip``) plus every half set H(c), c in R*(i) (the first
        ``hw`` entries of ranks[c] where ``half``), that shares more than 2/3 of its members
        with R*(i). Set membership is stamped per thread (stamp == i + 1), never cleared."""
        n, width = ranks.shape
        members = np.empty((n, width * (hw + 1)), dtype=np.int64)
        sizes = np.zeros(n, dtype=np.int64)
        for ch in prange(chunks):
            in_recip = np.zeros(n, dtype=np.int64)
            in_set = np.zeros(n, dtype=np.int64)
            for i in range(ch, n, chunks):
                stamp = i + 1
                count = 0
                for a in range(width):
                    if recip[i, a]:
                        j = ranks[i, a]
                        in_recip[j] = stamp
                        in_set[j] = stamp
                        members[i, count] = j
                        count += 1
                for a in range(width):
                    if not recip[i, a]:
                        continue
                    c = ranks[i, a]
                    size = 0
                    shared = 0
                    for b in range(hw):
                        if half[c, b]:
                            size += 1
                            if in_recip[ranks[c, b]] == stamp:
                                shared += 1
                    if shared > (2.0 / 3.0) * size:
                        for b in range(hw):
                            j = ranks[c, b]
                            if half[c, b] and in_set[j] != stamp:
                                in_set[j] = stamp
                                members[i, count] = j
                                count += 1
                sizes[i] = count
        return members, sizes

    @numba_kernel(parallel=True)
    def _jaccard_combine_kernel(q_ptr, q_cols, q_vals, g_ptr, g_rows, g_vals, out, q_max,
                                lambda_value, chunks):
        """out[q, g] <- lambda d(q, g) / q_max[q] + (1 - lambda) (1 - m / (2 - m)), with
        m = sum_k min(V[q, k], V[g, k]) accumulated per query row through the column index of
        the gallery rows of V; rows are dealt round-robin to ``chunks`` row groups."""
        num_q, num_g = out.shape
        for ch in prange(chunks):
            acc = np.zeros(num_g, dtype=np.float64)
            for q in range(ch, num_q, chunks):
                for p in range(q_ptr[q], q_ptr[q + 1]):
                    col = q_cols[p]
                    a = q_vals[p]
                    for t in range(g_ptr[col], g_ptr[col + 1]):
                        b = g_vals[t]
                        acc[g_rows[t]] += a if a < b else b
                scale = lambda_value / q_max[q]
                for g in range(num_g):
                    m = acc[g]
                    acc[g] = 0.0
                    out[q, g] = np.float32(out[q, g] * scale
                                           + (1.0 - lambda_value) * (1.0 - m / (2.0 - m)))


if NUMBA_AVAILABLE:

    @numba_kernel(parallel=True, fastmath=True)
    def _squared_distances_kernel(x, cand):
        """out[i, a] = ||x[i] - x[cand[i, a]]||^2 summed in float64 (fastmath lets the sum be
        vectorised: reassociation changes it by float64 rounding only)."""
        n, width = cand.shape
        dim = x.shape[1]
        out = np.empty((n, width), dtype=np.float64)
        for i in prange(n):
            for a in range(width):
                c = cand[i, a]
                total = 0.0
                for t in range(dim):
                    diff = np.float64(x[i, t]) - np.float64(x[c, t])
                    total += diff * diff
                out[i, a] = total
        return out


def _candidate_distances(x: torch.Tensor, cand: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """||x_i - x_c||^2 in float64 for every candidate c = cand[i, a]."""
    if NUMBA_AVAILABLE and x.device.type == "cpu":
        return _squared_distances_kernel(x.numpy(), cand)
    out = np.empty(cand.shape, dtype=np.float64)
    x64 = x.double()
    with torch.no_grad():
        for start in range(0, cand.shape[0], chunk):
            stop = min(cand.shape[0], start + chunk)
            c = torch.as_tensor(cand[start:stop], device=x.device)
            diff = x64[start:stop, None, :] - x64[c]
            out[start:stop] = diff.pow(2).sum(dim=2).cpu().numpy()
    return out


def _refine_neighbours(x: torch.Tensor, cand: np.ndarray, keep: int):
    """The ``keep`` nearest of each row's candidates by float64 distances (ties: lower index).

    The float32 pass (sq_i + sq_j - 2 <x_i, x_j>) rounds distances by about 1e-7 of the squared
    norms, which is enough to swap two neighbours whose distances differ by less, and a swap at
    the k1 + 1, round(k1 / 2) + 1 or k2 boundary changes an item's V and with it every query
    that shares its neighbours. The pass therefore keeps a few more candidates than needed
    (:data:`_REFINE_MARGIN`) and their order is settled here in float64."""
    dist = _candidate_distances(x, cand)
    order = np.lexsort((cand, dist), axis=1)[:, :keep]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(dist, order, 1)


def _merge_topk(vals: torch.Tensor, idx: torch.Tensor, new_vals: torch.Tensor,
                new_idx: torch.Tensor, k: int):
    """Keep the k smallest of two candidate lists per row."""
    both_vals = torch.cat([vals, new_vals], dim=1)
    both_idx = torch.cat([idx, new_idx], dim=1)
    top = torch.topk(both_vals, k, dim=1, largest=False, sorted=True)
    return top.values, torch.gather(both_idx, 1, top.indices)


def _neighbour_pass(x: torch.Tensor, num_q: int, num_keep: int, block: int):
    """Stream the N x N squared distances once, block by block over the upper triangle (the
    matrix is symmetric, so each block serves its rows and, transposed, its columns).

    Returns the top-``num_keep`` neighbour lists (indices and distances, nearest first), the
    row maxima and the query-to-gallery block of the distances.
    """
    n = x.shape[0]
    k = min(num_keep, n)
    sq = x.pow(2).sum(dim=1)
    top_vals = torch.full((n, k), float("inf"), device=x.device, dtype=x.dtype)
    top_idx = torch.zeros((n, k), dtype=torch.long, device=x.device)
    row_max = torch.zeros(n, device=x.device, dtype=x.dtype)
    q_to_g = np.empty((num_q, n - num_q), dtype=np.float32)
    starts = list(range(0, n, block))
    with torch.no_grad():
        for bi, r0 in enumerate(starts):
            r1 = min(n, r0 + block)
            for c0 in starts[bi:]:
                c1 = min(n, c0 + block)
                dist = torch.addmm(sq[None, c0:c1], x[r0:r1], x[c0:c1].t(), alpha=-2.0)
                dist.add_(sq[r0:r1, None])  # may dip below 0 by rounding: clamped on output
                if r0 < num_q and c1 > num_q:
                    g0 = max(c0, num_q)
                    q_to_g[r0:min(r1, num_q), g0 - num_q:c1 - num_q] = \
                        dist[: min(r1, num_q) - r0, g0 - c0:].clamp_min(0.0).cpu().numpy()
                cols = torch.arange(c0, c1, device=x.device)
                kk = min(k, c1 - c0)
                row_top = torch.topk(dist, kk, dim=1, largest=False, sorted=False)
                top_vals[r0:r1], top_idx[r0:r1] = _merge_topk(
                    top_vals[r0:r1], top_idx[r0:r1], row_top.values, cols[row_top.indices], k)
                row_max[r0:r1] = torch.maximum(row_max[r0:r1], dist.amax(dim=1))
                if c0 != r0:  # the transposed block: rows c0:c1 against columns r0:r1
                    rows = torch.arange(r0, r1, device=x.device)
                    kk = min(k, r1 - r0)
                    dist_t = dist.t().contiguous()  # topk along rows is the fast path
                    col_top = torch.topk(dist_t, kk, dim=1, largest=False, sorted=False)
                    top_vals[c0:c1], top_idx[c0:c1] = _merge_topk(
                        top_vals[c0:c1], top_idx[c0:c1], col_top.values,
                        rows[col_top.indices], k)
                    row_max[c0:c1] = torch.maximum(row_max[c0:c1], dist_t.amax(dim=1))
                    del dist_t
                del dist
    row_max = row_max.cpu().numpy()
    row_max[row_max <= 0] = 1.0  # all items identical: leave the distances unscaled
    return top_idx.cpu().numpy(), top_vals.clamp_min_(0.0).cpu().numpy(), row_max, q_to_g


def _neighbour_pass_compiled(x: torch.Tensor, num_q: int, num_keep: int, block: int):
    """:func:`_neighbour_pass` on the CPU with the compiled block scan: the same results (ties
    keep the lower index), without sorting any block."""
    n = x.shape[0]
    k = min(num_keep, n)
    sq = x.pow(2).sum(dim=1)
    sq_np = sq.numpy()
    top_d = np.full((n, k), np.inf, dtype=np.float32)
    top_i = np.zeros((n, k), dtype=np.int64)
    row_max = np.full(n, -np.inf, dtype=np.float32)
    q_to_g = np.empty((num_q, n - num_q), dtype=np.float32)
    buffer = torch.empty(block * block)
    stripes = 4 * torch.get_num_threads()
    starts = range(0, n, block)
    with torch.no_grad():
        for r0 in starts:
            r1 = min(n, r0 + block)
            for c0 in range(r0, n, block):
                c1 = min(n, c0 + block)
                dist = buffer[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
                torch.addmm(sq[None, c0:c1], x[r0:r1], x[c0:c1].t(), alpha=-2.0, out=dist)
                values = dist.numpy()
                _scan_block_kernel(values, sq_np[r0:r1], r0, c0, c0 != r0, top_d, top_i,
                                   row_max, stripes)
                if r0 < num_q and c1 > num_q:
                    g0 = max(c0, num_q)
                    np.maximum(values[: min(r1, num_q) - r0, g0 - c0:], 0.0,
                               out=q_to_g[r0:min(r1, num_q), g0 - num_q:c1 - num_q])
    row_max[row_max <= 0] = 1.0  # all items identical: leave the distances unscaled
    return top_i, np.maximum(top_d, 0.0), row_max, q_to_g


def _reciprocal_mask(ranks: np.ndarray, width: int, chunk: int = 8192) -> np.ndarray:
    """mask[i, a] = i is among the first ``width`` neighbours of its neighbour ranks[i, a]."""
    n = ranks.shape[0]
    head = ranks[:, :width]
    mask = np.empty((n, width), dtype=bool)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        back = head[head[start:stop]]  # (c, width, width)
        mask[start:stop] = (back == np.arange(start, stop)[:, None, None]).any(axis=2)
    return mask


def _expanded_sets(ranks: np.ndarray, k1: int, chunk: int = 2048):
    """Row / column indices of every (i, j) with j in the expanded k-reciprocal set of i."""
    n = ranks.shape[0]
    width = k1 + 1
    hw = half_k1(k1) + 1
    recip = _reciprocal_mask(ranks, width)
    half = _reciprocal_mask(ranks, hw)
    if NUMBA_AVAILABLE:
        members, sizes = _expanded_sets_kernel(ranks[:, :width], recip, half, hw,
                                               4 * torch.get_num_threads())
        keep = np.arange(members.shape[1])[None, :] < sizes[:, None]
        return np.repeat(np.arange(n), sizes), members[keep]
    half_idx = ranks[:, :hw]
    half_size = half.sum(axis=1)
    rows_out, cols_out = [], []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        own = ranks[start:stop]                               # (c, W)
        own_recip = recip[start:stop]                         # (c, W)
        cand = own                                            # candidates c = own[i, a]
        cand_half = half_idx[cand]                            # (c, W, hw) members of H(c)
        cand_half_mask = half[cand]                           # (c, W, hw)
        in_recip = ((cand_half[..., None] == own[:, None, None, :])
                    & own_recip[:, None, None, :]).any(axis=3)  # (c, W, hw)
        inter = (in_recip & cand_half_mask).sum(axis=2)
        accept = own_recip & (inter > (2.0 / 3.0) * half_size[cand])
        members = np.concatenate([
            np.where(own_recip, own, n),
            np.where(accept[..., None] & cand_half_mask, cand_half, n).reshape(len(own), -1),
        ], axis=1)
        members.sort(axis=1)
        keep = members < n
        keep[:, 1:] &= members[:, 1:] != members[:, :-1]
        r, c = np.nonzero(keep)
        rows_out.append(r + start)
        cols_out.append(members[r, c])
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _pair_distances(x: torch.Tensor, ranks: np.ndarray, rank_dist: np.ndarray,
                    rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """d(rows, cols): read from the neighbour lists where the pair is in them (almost always),
    computed from the features otherwise."""
    hit = ranks[rows] == cols[:, None]                        # (nnz, k1 + 1)
    found = hit.any(axis=1)
    out = rank_dist[rows, hit.argmax(axis=1)]
    missing = np.nonzero(~found)[0]
    with torch.no_grad():
        for start in range(0, len(missing), chunk):
            sel = missing[start:start + chunk]
            r = torch.as_tensor(rows[sel], device=x.device)
            c = torch.as_tensor(cols[sel], device=x.device)
            out[sel] = (x[r] - x[c]).pow(2).sum(dim=1).cpu().numpy()
    return out


def _encoding_matrix(x: torch.Tensor, ranks: np.ndarray, rank_dist: np.ndarray,
                     row_max: np.ndarray, k1: int, k2: int) -> sp.csr_matrix:
    """The sparse V of the paper (after query expansion with k2 neighbours)."""
    n = x.shape[0]
    rows, cols = _expanded_sets(ranks, k1)
    dist = _pair_distances(x, ranks, rank_dist, rows, cols)
    weight = np.exp(-dist / row_max[rows]).astype(np.float64)
    weight /= np.bincount(rows, weights=weight, minlength=n)[rows]
    v = sp.csr_matrix((weight, (rows, cols)), shape=(n, n))
    if k2 > 1:
        expand = sp.csr_matrix((np.full(n * k2, 1.0 / k2),
                                (np.repeat(np.arange(n), k2), ranks[:, :k2].reshape(-1))),
                               shape=(n, n))
        v = expand @ v
    v.sort_indices()
    return v


def _chunk_bounds(per_row: np.ndarray, budget: int, max_rows: int) -> np.ndarray:
    """Row boundaries so that each chunk holds about ``budget`` work items and <= max_rows rows."""
    cum = np.cumsum(per_row)
    total = int(cum[-1]) if len(cum) else 0
    by_work = np.searchsorted(cum, np.arange(1, total // budget + 1) * budget, side="right")
    by_rows = np.arange(0, len(per_row), max_rows)
    bounds = np.unique(np.concatenate([[0, len(per_row)], by_work, by_rows]))
    return bounds[(bounds >= 0) & (bounds <= len(per_row))]


def _jaccard_numerator(v: sp.csr_matrix, num_q: int):
    """Yield (start, stop, m) with m[q, g] = sum_k min(V[q, k], V[num_q + g, k]) per chunk.

    For every non-zero V[q, k] the gallery items with a non-zero in column k come from an
    inverted (CSC) index; their minima are summed into a dense chunk with one bincount.
    """
    gallery = v[num_q:].tocsc()
    g_ptr, g_rows, g_vals = gallery.indptr, gallery.indices, gallery.data
    num_g = gallery.shape[0]
    col_len = np.diff(g_ptr)
    query = v[:num_q].tocsr()
    nnz_rows = np.repeat(np.arange(num_q), np.diff(query.indptr))
    per_row = np.bincount(nnz_rows, weights=col_len[query.indices], minlength=num_q)
    bounds = _chunk_bounds(per_row, _TRIPLE_CHUNK, max(1, _TRIPLE_CHUNK // max(num_g, 1)))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        lo, hi = query.indptr[start], query.indptr[stop]
        q_rows = nnz_rows[lo:hi] - start
        q_cols, q_vals = query.indices[lo:hi], query.data[lo:hi]
        lengths = col_len[q_cols]
        owner = np.repeat(np.arange(len(q_cols)), lengths)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = g_ptr[q_cols][owner] + offset
        contrib = np.minimum(q_vals[owner], g_vals[pos])
        flat = q_rows[owner].astype(np.int64) * num_g + g_rows[pos]
        m = np.bincount(flat, weights=contrib, minlength=(stop - start) * num_g)
        yield start, stop, m.reshape(stop - start, num_g)


def _combine_compiled(v: sp.csr_matrix, num_q: int, out: np.ndarray, row_max: np.ndarray,
                      lambda_value: float) -> None:
    """The final distances in place in ``out`` (d(q, g) on entry) with the compiled kernel."""
    gallery = v[num_q:].tocsc()
    query = v[:num_q].tocsr()
    chunks = 4 * torch.get_num_threads()
    _jaccard_combine_kernel(query.indptr.astype(np.int64), query.indices.astype(np.int64),
                            query.data, gallery.indptr.astype(np.int64),
                            gallery.indices.astype(np.int64), gallery.data, out,
                            row_max[:num_q].astype(np.float64), float(lambda_value), chunks)


def _combine_vectorised(v: sp.csr_matrix, num_q: int, out: np.ndarray, row_max: np.ndarray,
                        lambda_value: float) -> None:
    """The final distances in place in ``out`` (d(q, g) on entry), chunk by chunk in numpy."""
    out /= row_max[:num_q, None]
    out *= lambda_value
    for start, stop, m in _jaccard_numerator(v, num_q):
        # out += (1 - lambda) * (1 - m / (2 - m)), in place and in float32
        m = m.astype(np.float32)
        m /= 2.0 - m
        m *= -(1.0 - lambda_value)
        m += 1.0 - lambda_value
        out[start:stop] += m


def re_ranking(qf, gf, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
               block_size: int = 2048, precision: str = "float32") -> np.ndarray:
    """Re-ranked (num_q, num_g) float32 distances from query and gallery features.

    Features are used as given (pass L2-normalised features for the usual cosine setting);
    tensors may live on a GPU, where the distance pass runs. Fewer than k1 + 1 items cap k1
    and k2 (:func:`capped_neighbours`).

    ``precision`` "float32" (default): the distance pass in float32, its neighbour lists
    re-ordered in float64 (:func:`_refine_neighbours`), the weights and the Jaccard sums in
    float64. "float64": every distance in float64 (the torch path; a few times slower), the
    check of the default at scale.
    """
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")
    if precision not in PRECISIONS:
        raise ValueError(f"re_ranking: precision '{precision}' is not one of "
                         f"{', '.join(PRECISIONS)}")
    exact = precision == "float64"
    x = _features(qf, gf, torch.float64 if exact else torch.float32)
    num_q, n = int(qf.shape[0]), x.shape[0]
    k1, k2 = capped_neighbours(k1, k2, n)
    compiled = NUMBA_AVAILABLE and x.device.type == "cpu" and not exact
    neighbour_pass = _neighbour_pass_compiled if compiled else _neighbour_pass
    margin = 0 if exact else _REFINE_MARGIN
    ranks, rank_dist, row_max, out = neighbour_pass(x, num_q, k1 + 1 + margin, block_size)
    if margin:
        ranks, rank_dist = _refine_neighbours(x, ranks, k1 + 1)
    v = _encoding_matrix(x, ranks, rank_dist, row_max, k1, k2)
    (_combine_compiled if compiled else _combine_vectorised)(v, num_q, out, row_max,
                                                              lambda_value)
    return out


def re_ranking_reference(qf, gf, k1: int = 20, k2: int = 6,
                         lambda_value: float = 0.3) -> np.ndarray:
    """Dense, loop-per-item re-ranking written directly from the paper (small inputs only)."""
    x = _features(qf, gf).double().cpu().numpy()
    num_q, n = int(qf.shape[0]), x.shape[0]
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    dist = dist / np.where(dist.max(axis=1, keepdims=True) > 0, dist.max(axis=1, keepdims=True), 1)
    rank = np.argsort(dist, axis=1, kind="stable")
    kh = half_k1(k1)

    def reciprocal(i: int, k: int) -> np.ndarray:
        forward = rank[i, : k + 1]
        return np.array([j for j in forward if i in rank[j, : k + 1]], dtype=np.int64)

    v = np.zeros((n, n))
    for i in range(n):
        r_star = reciprocal(i, k1)
        expanded = set(r_star.tolist())
        for c in r_star:
            h = reciprocal(int(c), kh)
            if len(np.intersect1d(h, r_star)) > 2.0 / 3.0 * len(h):
                expanded.update(h.tolist())
        idx = np.array(sorted(expanded))
        w = np.exp(-dist[i, idx])
        v[i, idx] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    final = np.zeros((num_q, n - num_q))
    for q in range(num_q):
        for g in range(num_q, n):
            m = np.minimum(v[q], v[g]).sum()
            final[q, g - num_q] = (1 - lambda_value) * (1 - m / (2 - m)) \
                + lambda_value * dist[q, g]
    return final.astype(np.float32)
