"""Market-1501 metrics: hand-computed cases, agreement with the per-query reference, errors."""
import numpy as np
import pytest
import torch

from benchmarks.reference.evaluation import evaluate_reference
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
