"""fast-reid as a benchmark peer (benchmarks/peers.py, tools/bench_eval.py --peers): clear errors
without it, the compiled-extension cache, and, where it is installed, its results on our
problems. The first run with fastreid present compiles its Cython evaluator once (seconds) into
the user cache; later runs load it."""
import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.evaluation import check_peer_rerank_memory, metric_differences, run_benchmark
from reid.evaluation import evaluate
from tools import bench_eval

HAVE_PEERS = (importlib.util.find_spec("fastreid") is not None
              and importlib.util.find_spec("Cython") is not None)
needs_peers = pytest.mark.skipif(not HAVE_PEERS, reason="fastreid or Cython not installed")


def _hide(monkeypatch, *names):
    """Make importlib report the given top-level packages as not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name in names else real(name, *a, **k))


@pytest.mark.parametrize("missing, named", [("fastreid", "fastreid is not installed"),
                                            ("Cython", "Cython is not installed")])
def test_missing_peer_says_how_to_install(monkeypatch, missing, named):
    _hide(monkeypatch, missing)  # the other one may be missing too (then both are named)
    with pytest.raises(peers.PeersUnavailable, match=named) as info:
        peers.require_peers()
    assert "pip install --no-deps fastreid==1.4.0" in str(info.value)


def test_both_missing_peers_are_named(monkeypatch):
    _hide(monkeypatch, "fastreid", "Cython")
    with pytest.raises(peers.PeersUnavailable,
                       match="fastreid is not installed; Cython is not installed"):
        peers.require_peers()


def test_tool_fails_before_any_work_without_peers(monkeypatch, capsys):
    _hide(monkeypatch, "fastreid")
    monkeypatch.setattr(bench_eval, "run_benchmark",
                        lambda *a, **k: pytest.fail("the benchmark ran without its peers"))
    monkeypatch.setattr(sys, "argv", ["bench_eval.py", "--peers"])
    with pytest.raises(SystemExit) as info:
        bench_eval.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--peers" in err and "pip install --no-deps fastreid==1.4.0" in err


def test_tool_writes_its_record(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_eval.py", "--num-query", "30", "--num-gallery",
                                      "120", "--dim", "16", "--no-rerank",
                                      "--json-dir", str(tmp_path)])
    bench_eval.main()
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with open(tmp_path / "eval.json", encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["benchmark"] == "eval" and record["figures"] == printed
    assert printed["max_abs_diff"] == 0.0


def test_peer_rerank_too_large_for_memory_is_refused(monkeypatch):
    import benchmarks.evaluation as evaluation

    monkeypatch.setattr(evaluation, "available_memory_bytes", lambda: 2 ** 30)
    with pytest.raises(MemoryError, match="--num-query"):
        check_peer_rerank_memory(3368, 15913)
    check_peer_rerank_memory(100, 500)  # 24 * 600^2 bytes fit


def test_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert peers.peer_cache_dir() == os.path.join(str(tmp_path), "gcl-reid", "peers")


def test_cached_extension_is_reused_and_keyed_by_content(monkeypatch, tmp_path):
    pyx = tmp_path / "rank_cy.pyx"
    pyx.write_text("# version 1\n")
    first = peers._cache_name(str(pyx))
    pyx.write_text("# version 2\n")
    assert peers._cache_name(str(pyx)) != first  # an edited .pyx is built again
    assert sys.implementation.cache_tag in first  # and so is one for another Python

    cache = tmp_path / "cache"
    built = []

    def fake_build(pyx_path, build):
        out = os.path.join(build, "out.so")
        open(out, "wb").close()
        built.append(pyx_path)
        return out

    monkeypatch.setattr(peers, "_build_extension", fake_build)
    path = peers.compiled_rank_cy(str(pyx), str(cache))
    assert os.path.isfile(path) and built == [str(pyx)]
    assert peers.compiled_rank_cy(str(pyx), str(cache)) == path and len(built) == 1
    assert os.listdir(cache) == [os.path.basename(os.path.dirname(path))]  # no build leftovers


@needs_peers
def test_fastreid_loads_without_its_package_and_agrees_with_ours():
    peer = peers.load_fastreid()
    assert "fastreid" not in sys.modules  # its package __init__ (training stack) never ran
    rng = np.random.default_rng(0)
    distmat = rng.random((40, 300)).astype(np.float32)
    labels = (rng.integers(0, 10, 40), rng.integers(0, 10, 300), rng.integers(0, 3, 40),
              rng.integers(0, 3, 300))
    ours = evaluate(distmat, *labels)
    for use_cython in (True, False):
        cmc, all_ap, all_inp = peer.evaluate_rank(distmat, *labels, max_rank=50,
                                                  use_metric_cuhk03=False, use_cython=use_cython)
        theirs = {"mAP": float(np.mean(all_ap)), "cmc": np.asarray(cmc, np.float64),
                  "mINP": float(np.mean(all_inp))}
        assert max(metric_differences(ours, theirs).values()) < 1e-6  # theirs: float32 sums


@needs_peers
def test_benchmark_with_peers_tiny():
    lines = []
    figures = run_benchmark(num_query=30, num_gallery=150, dim=16, peers=True, log=lines.append)
    for name in ("cython", "numpy"):
        assert figures[f"fastreid_{name}_s"] > 0 and figures[f"fastreid_{name}_over_ours"] > 0
        assert figures[f"fastreid_{name}_diff_mAP"] < 1e-6
        assert figures[f"fastreid_{name}_diff_rank1"] < 1e-6
    assert figures["fastreid_rerank_peak_gb"] >= 0.0
    assert figures["fastreid_rerank_max_abs_diff"] < 0.05  # same definition, float32 rounding
    assert figures["fastreid_rerank_diff_mAP"] < 1e-3
    assert figures["rerank_float64_max_abs_diff"] < 1e-5 and figures["rerank_float64_s"] > 0
    assert figures["rerank_float64_entries_over_1e-5"] == 0
    assert figures["fastreid_rerank_float64_max_abs_diff"] < 0.05
    assert figures["fastreid_rerank_rows_over_1e-5"] <= figures["fastreid_rerank_entries_over_1e-5"]
    assert any(line.startswith("fast-reid re_ranking") for line in lines)
