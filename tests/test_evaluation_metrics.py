"""Market-1501 metrics: hand-computed cases, agreement with the per-query reference, errors."""
import numpy as np
import pytest
import torch

from benchmarks.reference.evaluation import evaluate_reference
from common.numba_kernels import NUMBA_AVAILABLE
from reid.evaluation import evaluate


def _hand_case():
    # Query 0: pid 1 cam 0. Gallery 0 is junk (pid 1, cam 0); the remaining ranked list is
    # g1 (pid 2, wrong), g2 (pid 1, right), g3 (pid 3, wrong), g4 (pid 1, right).
    # Query 1: pid 2 cam 0, its only match g1 comes first. Query 2: pid 9, no match: skipped.
    distmat = np.array([[0.0, 0.1, 0.2, 0.3, 0.4],
                        [0.5, 0.0, 0.6, 0.7, 0.8],
                        [0.1, 0.2, 0.3, 0.4, 0.5]], dtype=np.float32)
    q_pids, q_cams = np.array([1, 2, 9]), np.array([0, 0, 0])
    g_pids, g_cams = np.array([1, 2, 1, 3, 1]), np.array([0, 1, 1, 1, 2])
    return distmat, q_pids, g_pids, q_cams, g_cams


def test_hand_computed_case():
    result = evaluate(*_hand_case(), max_rank=5)
    # AP(q0) = (1/2 + 2/4) / 2 = 0.5, AP(q1) = 1; INP(q0) = 2/4, INP(q1) = 1.
    assert result["mAP"] == pytest.approx(0.75)
    assert result["mINP"] == pytest.approx(0.75)
    np.testing.assert_allclose(result["cmc"], [0.5, 1.0, 1.0, 1.0, 1.0])
    assert result["num_valid_queries"] == 2
    assert result["num_skipped_queries"] == 1


def test_reference_agrees_on_hand_case():
    fast, slow = evaluate(*_hand_case(), max_rank=5), evaluate_reference(*_hand_case(), max_rank=5)
    assert fast["mAP"] == pytest.approx(slow["mAP"], abs=1e-12)
    np.testing.assert_allclose(fast["cmc"], slow["cmc"])


def test_torch_tensors_are_accepted():
    distmat, q_pids, g_pids, q_cams, g_cams = _hand_case()
    result = evaluate(torch.from_numpy(distmat), torch.from_numpy(q_pids),
                      torch.from_numpy(g_pids), torch.from_numpy(q_cams), torch.from_numpy(g_cams),
                      max_rank=5)
    assert result["mAP"] == pytest.approx(0.75)


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_on_random_problems(seed):
    rng = np.random.default_rng(seed)
    num_q, num_g = int(rng.integers(5, 80)), int(rng.integers(20, 300))
    q_pids, g_pids = rng.integers(0, 15, num_q), rng.integers(0, 15, num_g)
    q_cams, g_cams = rng.integers(0, 4, num_q), rng.integers(0, 4, num_g)
    distmat = rng.random((num_q, num_g)).astype(np.float32)
    if seed % 2:  # coarse values: many exact ties between right and wrong matches
        distmat = np.round(distmat * 5) / 5
    fast = evaluate(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    slow = evaluate_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    assert abs(fast["mAP"] - slow["mAP"]) < 1e-6
    assert abs(fast["mINP"] - slow["mINP"]) < 1e-6
    assert np.abs(fast["cmc"] - slow["cmc"]).max() < 1e-6
    assert fast["num_skipped_queries"] == slow["num_skipped_queries"]
    assert 0.0 <= fast["mAP"] <= 1.0 and 0.0 <= fast["mINP"] <= 1.0


def test_chunking_and_threads_do_not_change_the_result(monkeypatch):
    import reid.evaluation.metrics as metrics

    rng = np.random.default_rng(7)
    distmat = rng.random((64, 50)).astype(np.float32)
    labels = (rng.integers(0, 6, 64), rng.integers(0, 6, 50), rng.integers(0, 3, 64),
              rng.integers(0, 3, 50))
    whole = evaluate(distmat, *labels)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 50 * 3)  # 3 rows per chunk, threaded
    chunked = evaluate(distmat, *labels)
    assert chunked["mAP"] == pytest.approx(whole["mAP"], abs=1e-12)
    np.testing.assert_allclose(chunked["cmc"], whole["cmc"])


def test_perfect_ranking_scores_one():
    pids = np.repeat(np.arange(5), 3)
    g_cams = np.tile([1, 2, 3], 5)
    distmat = (pids[:, None] != pids[None, :]).astype(np.float32)
    result = evaluate(distmat, pids, pids, np.zeros(15, int), g_cams)
    assert result["mAP"] == 1.0 and result["mINP"] == 1.0 and result["cmc"][0] == 1.0


def test_cmc_longer_than_gallery_stays_at_one():
    result = evaluate(*_hand_case(), max_rank=50)
    assert result["cmc"].shape == (50,)
    assert result["cmc"][-1] == 1.0


def test_errors_name_the_problem():
    distmat, q_pids, g_pids, q_cams, g_cams = _hand_case()
    with pytest.raises(ValueError, match="g_pids"):
        evaluate(distmat, q_pids, g_pids[:3], q_cams, g_cams)
    with pytest.raises(ValueError, match="2-D"):
        evaluate(distmat[0], q_pids, g_pids, q_cams, g_cams)
    bad = distmat.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(bad, q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match="no query has a correct match"):
        evaluate(distmat, np.array([7, 8, 9]), g_pids, q_cams, g_cams)


def _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20):
    """The fast metrics equal the per-query loop (to the last bits of a float64 sum)."""
    fast = evaluate(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    slow = evaluate_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    np.testing.assert_array_equal(fast["cmc"], slow["cmc"])
    assert fast["mAP"] == pytest.approx(slow["mAP"], rel=0, abs=1e-14)
    assert fast["mINP"] == pytest.approx(slow["mINP"], rel=0, abs=1e-14)
    assert fast["num_valid_queries"] == slow["num_valid_queries"]
    assert fast["num_skipped_queries"] == slow["num_skipped_queries"]
    return fast


def _random_problem(rng, num_q, num_g, num_ids, num_cams, levels=None, dtype=np.float32):
    q_pids, g_pids = rng.integers(0, num_ids, num_q), rng.integers(0, num_ids, num_g)
    q_cams, g_cams = rng.integers(0, num_cams, num_q), rng.integers(0, num_cams, num_g)
    distmat = rng.random((num_q, num_g))
    if levels is not None:  # few distinct values: ties everywhere
        distmat = np.floor(distmat * levels) / levels
    return distmat.astype(dtype), q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (3, 500), (200, 7), (97, 131)])
def test_matches_reference_on_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    distmat, q_pids, g_pids, q_cams, g_cams = _random_problem(rng, *shape, num_ids=4, num_cams=3)
    q_pids[0], q_cams[0] = g_pids[0], g_cams[0] + 1  # at least one valid query
    _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams)


@pytest.mark.parametrize("levels", [1, 2, 3, 17])
def test_ties_are_broken_by_gallery_index(levels):
    # levels=1: every distance equal, the ranked list is the gallery order minus junk.
    rng = np.random.default_rng(levels)
    fast = _assert_same_as_reference(*_random_problem(rng, 60, 90, num_ids=5, num_cams=3,
                                                      levels=levels))
    assert fast["num_valid_queries"] > 0


def test_tie_between_a_match_and_wrong_items_follows_the_index():
    # One query (pid 1, camera 0); all four items at the same distance: wrong, right, junk, right.
    distmat = np.full((1, 4), 0.5, dtype=np.float32)
    result = evaluate(distmat, np.array([1]), np.array([2, 1, 1, 1]), np.array([0]),
                      np.array([1, 1, 0, 2]), max_rank=3)
    # Ranked list without junk: wrong, right, right -> AP = (1/2 + 2/3) / 2, INP = 2/3.
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert result["mINP"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(result["cmc"], [0.0, 1.0, 1.0])


def test_queries_without_valid_match_are_skipped():
    # Query 0 has junk only (same pid, same camera); query 1 has no same-pid item at all;
    # query 2 has one correct match behind a junk item.
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.1, 0.3, 0.2]], dtype=np.float32)
    q_pids, q_cams = np.array([5, 6, 7]), np.array([0, 0, 0])
    g_pids, g_cams = np.array([5, 7, 7]), np.array([0, 0, 1])
    result = _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=3)
    assert result["num_valid_queries"] == 1 and result["num_skipped_queries"] == 2
    assert result["mAP"] == pytest.approx(1 / 2)  # wrong item g0, then the match g2


def test_chunks_of_junk_only_rows_are_skipped(monkeypatch):
    import reid.evaluation.metrics as metrics

    rng = np.random.default_rng(3)
    distmat, q_pids, g_pids, q_cams, g_cams = _random_problem(rng, 30, 20, 4, 3)
    g_cams[g_pids == 0] = 0
    q_pids[:10], q_cams[:10] = 0, 0  # the first rows see their identity under their camera only
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 20 * 4)  # 4 rows per chunk
    result = _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams)
    assert result["num_skipped_queries"] >= 10


def test_distractors_and_junk_ids_are_wrong_matches():
    # Market's gallery: pid 0 distractors and pid -1 junk images are wrong for every query.
    rng = np.random.default_rng(11)
    distmat, q_pids, g_pids, q_cams, g_cams = _random_problem(rng, 50, 300, 8, 6)
    q_pids += 1
    g_pids[:60], g_pids[60:90] = 0, -1
    distmat[:, :90] *= 0.2  # the distractors come first in every list
    result = _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    assert result["cmc"][0] == 0.0 and result["mAP"] < 0.5


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_types_match_reference(dtype):
    rng = np.random.default_rng(5)
    problem = _random_problem(rng, 70, 120, 6, 3, levels=50 if dtype == np.float16 else None,
                              dtype=dtype)
    _assert_same_as_reference(*problem)


def test_infinite_distances_rank_last():
    rng = np.random.default_rng(9)
    distmat, q_pids, g_pids, q_cams, g_cams = _random_problem(rng, 40, 60, 4, 3)
    distmat[rng.random(distmat.shape) < 0.2] = np.inf
    _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams)


@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_on_market_like_lists(seed):
    # Many identities, long lists, few matches per query: the shape the fast path is built for.
    rng = np.random.default_rng(100 + seed)
    num_q, num_g = 120, 2000
    q_pids, g_pids = rng.integers(1, 80, num_q), rng.integers(0, 80, num_g)
    q_cams, g_cams = rng.integers(0, 6, num_q), rng.integers(0, 6, num_g)
    distmat = rng.random((num_q, num_g)).astype(np.float32)
    distmat -= 0.3 * (q_pids[:, None] == g_pids[None, :])
    _assert_same_as_reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=50)


def _evaluate_with_numpy_path(monkeypatch, *problem, max_rank=20):
    import reid.evaluation.metrics as metrics

    with monkeypatch.context() as patch:
        patch.setattr(metrics, "NUMBA_AVAILABLE", False)
        return evaluate(*problem, max_rank=max_rank)


def _problems_for_both_paths():
    """Random problems with the cases the two paths treat apart: exact ties (few distance
    levels), infinite distances, many positives per query (few identities), each float type."""
    for seed in range(12):
        rng = np.random.default_rng(300 + seed)
        num_ids = (2, 5, 40)[seed % 3]
        levels = (None, 3, 40, None)[seed % 4]
        dtype = (np.float32, np.float64, np.float16)[seed % 3]
        problem = _random_problem(rng, int(rng.integers(1, 90)), int(rng.integers(1, 400)),
                                  num_ids, 3, levels=levels)
        distmat, q_pids, g_pids, q_cams, g_cams = problem
        if seed % 4 == 3:
            distmat[rng.random(distmat.shape) < 0.15] = np.inf
        q_pids[0], q_cams[0] = g_pids[0], g_cams[0] + 1  # at least one valid query
        yield distmat.astype(dtype), q_pids, g_pids, q_cams, g_cams


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("search_above", [0, 3, 128])
def test_compiled_kernel_equals_numpy_path_to_the_last_bit(monkeypatch, search_above):
    # search_above: rows with more positives are placed by binary search, the others counted.
    import reid.evaluation.metrics as metrics

    monkeypatch.setattr(metrics, "_SEARCH_ABOVE", search_above)
    for problem in _problems_for_both_paths():
        compiled = evaluate(*problem, max_rank=20)
        plain = _evaluate_with_numpy_path(monkeypatch, *problem)
        assert compiled["mAP"] == plain["mAP"] and compiled["mINP"] == plain["mINP"]
        np.testing.assert_array_equal(compiled["cmc"], plain["cmc"])
        assert compiled["num_valid_queries"] == plain["num_valid_queries"]
        _assert_same_as_reference(*problem)


def test_numpy_path_matches_reference(monkeypatch):
    for problem in _problems_for_both_paths():
        plain = _evaluate_with_numpy_path(monkeypatch, *problem)
        slow = evaluate_reference(*problem, max_rank=20)
        np.testing.assert_array_equal(plain["cmc"], slow["cmc"])
        assert plain["mAP"] == pytest.approx(slow["mAP"], rel=0, abs=1e-14)
        assert plain["mINP"] == pytest.approx(slow["mINP"], rel=0, abs=1e-14)
