"""Identity-balanced sampling: batches of P identities x K images each.

Used by the baseline (cluster-contrast) stage with pseudo-labels and by supervised source
warm-up. Labels < 0 (DBSCAN outliers, junk) are never sampled.
"""
from __future__ import annotations

import logging
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)


class RandomIdentitySampler(Sampler[int]):
    """Yield dataset indices so that every ``batch_size`` consecutive ones hold
    ``P = batch_size // num_instances`` distinct identities with ``K = num_instances`` images each.

    Each identity's images are shuffled and cut into groups of K (the incomplete tail is dropped,
    as in the usual ReID samplers); identities with fewer than K images are filled up by sampling
    with replacement. Batches pick P identities at random among those with groups left, until
    fewer than P remain. The order depends only on ``seed`` and the epoch (``set_epoch``, or an
    internal counter advanced by every ``__iter__``), so runs are reproducible.

    Args:
        labels: one (pseudo-)identity label per dataset item; negative labels are excluded.
        batch_size: indices per batch, a multiple of ``num_instances``.
        num_instances: K, images per identity in a batch.
        num_iters: when given, every iteration yields exactly ``num_iters`` batches (chaining
            passes over the data as needed); otherwise one pass.
        seed: base seed.
    """

    def __init__(self, labels: Sequence[int], batch_size: int, num_instances: int,
                 num_iters: int | None = None, seed: int = 0) -> None:
        if num_instances < 1 or batch_size < num_instances or batch_size % num_instances:
            raise ValueError(f"batch_size ({batch_size}) must be a positive multiple of "
                             f"num_instances ({num_instances})")
        if num_iters is not None and num_iters < 1:
            raise ValueError(f"num_iters must be >= 1 or None, got {num_iters}")
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_ids_per_batch = batch_size // num_instances
        self.num_iters = num_iters
        self.seed = int(seed)
        self.epoch = 0
        valid = np.flatnonzero(labels >= 0)
        order = valid[np.argsort(labels[valid], kind="stable")]
        self.pids, starts, self.counts = np.unique(labels[order], return_index=True,
                                                   return_counts=True)
        self._members = order  # item indices grouped by identity, groups start at ``starts``
        self._starts = starts
        if len(self.pids) == 0:
            raise ValueError("RandomIdentitySampler: no item has a label >= 0 (all outliers)")
        if len(self.pids) < self.num_ids_per_batch:
            logger.warning("RandomIdentitySampler: only %d identities for P = %d per batch; "
                           "identities repeat within a batch", len(self.pids),
                           self.num_ids_per_batch)
        self._cache: tuple[int, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next ``__iter__`` yields."""
        self.epoch = int(epoch)

    def _few_identities_pass(self, rng: np.random.Generator) -> np.ndarray:
        """Fewer identities than P: each batch draws P identities with replacement."""
        k, p = self.num_instances, self.num_ids_per_batch
        num_batches = max(1, int(np.maximum(self.counts // k, 1).sum()) // p)
        chosen = rng.integers(0, len(self.pids), size=(num_batches, p))
        # K members of each chosen identity, drawn with replacement.
        draws = rng.random((num_batches, p, k))
        offsets = (draws * self.counts[chosen][..., None]).astype(np.int64)
        return self._members[self._starts[chosen][..., None] + offsets].reshape(num_batches, -1)

    def _one_pass(self, rng: np.random.Generator) -> np.ndarray:
        """One pass over all identities, as a (num_batches, batch_size) index array."""
        k, p = self.num_instances, self.num_ids_per_batch
        if len(self.pids) < p:
            return self._few_identities_pass(rng)
        # Random rank of each item inside its identity group -> shuffled groups without loops.
        keys = rng.random(len(self._members))
        group_of = np.repeat(np.arange(len(self.pids)), self.counts)
        shuffled = self._members[np.lexsort((keys, group_of))]
        num_chunks = np.maximum(self.counts // k, 1)
        chunks = []
        small = np.flatnonzero(self.counts < k)
        for g in small:  # few identities: fill up with replacement
            members = shuffled[self._starts[g]:self._starts[g] + self.counts[g]]
            chunks.append((g, rng.choice(members, size=k, replace=True)))
        big = np.flatnonzero(self.counts >= k)
        # Full groups of K for identities with enough images: take the first chunks*K shuffled.
        starts = self._starts[big]
        take = num_chunks[big] * k
        flat_pos = np.repeat(starts, take) + (np.arange(take.sum())
                                              - np.repeat(np.cumsum(take) - take, take))
        chunk_matrix = shuffled[flat_pos].reshape(-1, k)
        chunk_group = np.repeat(big, num_chunks[big])
        if small.size:
            chunk_matrix = np.concatenate([chunk_matrix, np.stack([c for _, c in chunks])])
            chunk_group = np.concatenate([chunk_group, small])
        # Chunks of each identity in random order; a batch takes P identities with chunks left.
        perm = rng.permutation(len(chunk_group))
        chunk_matrix, chunk_group = chunk_matrix[perm], chunk_group[perm]
        queue_order = np.argsort(chunk_group, kind="stable")
        left = num_chunks.copy()
        next_pos = np.concatenate([[0], np.cumsum(num_chunks)[:-1]])
        batches = []
        while True:
            available = np.flatnonzero(left > 0)
            if available.size < p:
                break
            chosen = rng.choice(available, size=p, replace=False)
            rows = queue_order[next_pos[chosen] + (num_chunks[chosen] - left[chosen])]
            left[chosen] -= 1
            batches.append(chunk_matrix[rows].reshape(-1))
        if not batches:
            return np.empty((0, self.batch_size), dtype=np.int64)
        return np.stack(batches)

    def _indices(self, epoch: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        passes = [self._one_pass(rng)]
        if self.num_iters is not None:
            while sum(len(b) for b in passes) < self.num_iters:
                passes.append(self._one_pass(rng))
            indices = np.concatenate(passes)[:self.num_iters].reshape(-1)
        else:
            indices = passes[0].reshape(-1)
        self._cache = (epoch, indices)
        return indices

    def __iter__(self) -> Iterator[int]:
        indices = self._indices(self.epoch)
        self.epoch += 1
        return iter(indices.tolist())

    def __len__(self) -> int:
        return len(self._indices(self.epoch))
