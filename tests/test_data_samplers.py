"""RandomIdentitySampler: P x K structure, outliers, small identities, determinism, num_iters."""
import numpy as np
import pytest

from reid.data import RandomIdentitySampler


def _batches(sampler, batch_size):
    idx = np.asarray(list(sampler))
    assert len(idx) % batch_size == 0
    return idx.reshape(-1, batch_size)


def test_pk_structure_and_outliers():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 40, 600)
    sampler = RandomIdentitySampler(labels, batch_size=32, num_instances=4, seed=0)
    batches = _batches(sampler, 32)
    assert len(batches) > 0
    blocks = labels[batches].reshape(len(batches), 8, 4)
    assert (blocks >= 0).all()                              # outliers never sampled
    assert (blocks == blocks[:, :, :1]).all()               # K consecutive of one identity
    assert all(len(set(b[:, 0])) == 8 for b in blocks)      # P distinct identities per batch
    # identities with >= K images: no image repeats within a pass
    counts = np.bincount(labels[labels >= 0])
    big = np.isin(labels, np.flatnonzero(counts >= 4))
    used = batches.reshape(-1)
    used_big = used[big[used]]
    assert len(used_big) == len(np.unique(used_big))


def test_small_identities_sampled_with_replacement():
    labels = [0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]
    sampler = RandomIdentitySampler(labels, batch_size=8, num_instances=4, seed=1)
    batches = _batches(sampler, 8)
    flat = batches.reshape(-1, 4)
    lab = np.asarray(labels)[flat]
    assert (lab == lab[:, :1]).all()
    assert any((row == 0).all() for row in flat)  # the single-image identity, repeated K times


def test_deterministic_given_seed_and_epoch():
    labels = np.repeat(np.arange(20), 6)
    a = RandomIdentitySampler(labels, 16, 4, seed=5)
    b = RandomIdentitySampler(labels, 16, 4, seed=5)
    first_a, first_b = list(a), list(b)
    assert first_a == first_b
    assert list(a) != first_a           # next epoch differs
    a.set_epoch(0)
    assert list(a) == first_a
    assert list(RandomIdentitySampler(labels, 16, 4, seed=6)) != first_a


def test_num_iters_exact_length():
    labels = np.repeat(np.arange(10), 5)
    sampler = RandomIdentitySampler(labels, 8, 4, num_iters=50, seed=0)
    assert len(sampler) == 400
    batches = _batches(sampler, 8)
    assert batches.shape == (50, 8)
    lab = labels[batches].reshape(50, 2, 4)
    assert (lab == lab[:, :, :1]).all() and (lab[:, 0, 0] != lab[:, 1, 0]).all()


def test_len_matches_iteration():
    labels = np.random.default_rng(2).integers(0, 30, 300)
    sampler = RandomIdentitySampler(labels, 16, 4, seed=0)
    n = len(sampler)
    assert n == len(list(sampler))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="multiple"):
        RandomIdentitySampler([0, 1], 6, 4)
    with pytest.raises(ValueError, match="no item has a label"):
        RandomIdentitySampler([-1, -1], 8, 4)


def test_fewer_identities_than_p_repeats_identities():
    labels = np.array([0, 0, 1, 1, 1, 1, 1, -1])
    sampler = RandomIdentitySampler(labels, 16, 4, num_iters=3, seed=0)
    batches = _batches(sampler, 16)
    assert batches.shape == (3, 16)
    blocks = labels[batches].reshape(3, 4, 4)
    assert (blocks >= 0).all() and (blocks == blocks[:, :, :1]).all()


def test_market_size_is_quick():
    # 13k images, 750 identities: one pass must be cheap (no per-image Python loop).
    labels = np.random.default_rng(0).integers(-1, 750, 13000)
    sampler = RandomIdentitySampler(labels, 64, 4, seed=0)
    batches = _batches(sampler, 64)
    assert len(batches) > 150
