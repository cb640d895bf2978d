"""tools/gpu_check.py: the clear refusal without CUDA, and every phase's plumbing at tiny size on
the CPU (``--device cpu --tiny``: fp16 reported as skipped, the CUDA tests selected by their
skip reason and skipped here); a failing phase is recorded and the next one runs."""
import json
from types import SimpleNamespace

import pytest
import torch

from benchmarks.gpu_check import PHASES, Skipped, needs_cuda, run_gpu_check, run_phase
from tests.test_bench_scale import load_tool, one_thread  # noqa: F401 - a fixture


def _tool():
    return load_tool("gpu_check")


def test_without_cuda_it_exits_with_code_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _tool().main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert _tool().main(["--device", "cpu"]) == 2  # the full size is for a GPU
    assert "add --tiny" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="on the CPU use --tiny"):
        run_gpu_check("cpu", tiny=False)
    with pytest.raises(ValueError, match="unknown phase"):
        run_gpu_check("cpu", tiny=True, phases=["joint_fp8"])


def test_every_phase_at_tiny_size_on_the_cpu(capsys, one_thread):
    if torch.cuda.is_available():
        pytest.skip("the CPU plumbing test is for machines without CUDA")
    assert _tool().main(["--device", "cpu", "--tiny"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert len(lines) == len(PHASES) + 1  # one line per phase, then the JSON
    phases = report["phases"]
    assert list(phases) == list(PHASES) and report["ok"] and report["errors"] == []
    assert phases["joint_fp16"]["status"] == "skipped"
    assert "CUDA only" in phases["joint_fp16"]["reason"]
    for name in ("joint_fp32", "joint_bf16"):
        joint = phases[name]
        assert joint["status"] == "ok" and joint["finite_losses"], name
        assert joint["iters_per_second"] > 0 and joint["peak_memory_gb"] > 0, name
        assert joint["precision"] == name.split("_")[1] and joint["batch_size"] == 2
    labeller = phases["pseudo_labeller"]
    assert labeller["backends"]["torch"]["resolved"] == "torch-cpu"
    assert labeller["backends"]["torch"]["clusters"] > 0
    assert phases["evaluation"]["rerank_s"] > 0 and 0 <= phases["evaluation"]["mAP"] <= 1
    assert phases["renderer"]["parity_ok"] and phases["renderer"]["images_per_s"] > 0
    export = phases["export"]
    assert export["ok"] and export["formats"]["torchscript"]["max_abs_diff_vs_cpu"] <= 2e-3
    tests = phases["pytest_cuda"]
    assert tests["selected"] >= 2 and tests["skipped"] == tests["selected"]  # no CUDA here
    assert tests["failed"] == 0 and "tests/mesh/test_render.py" in tests["files"]


def test_a_failing_phase_is_recorded():
    def broken():
        raise ZeroDivisionError("no figures")

    def not_here():
        raise Skipped("nothing to check")

    failed, skipped = run_phase("x", broken), run_phase("y", not_here)
    assert failed["status"] == "error" and failed["error"] == "ZeroDivisionError: no figures"
    assert failed["traceback"] and failed["seconds"] >= 0
    assert skipped == {"status": "skipped", "reason": "nothing to check",
                       "seconds": skipped["seconds"]}
    assert run_phase("z", lambda: {"value": 1})["value"] == 1


def test_a_refused_precision_is_an_error_of_its_phase():
    report = run_gpu_check("cpu", tiny=True, phases=["joint_fp32", "evaluation"],
                           overrides=["SOLVER.PRECISION", "fp8"], log=lambda line: None)
    assert report["phases"]["joint_fp32"]["status"] == "error"
    assert "SOLVER.PRECISION" in report["phases"]["joint_fp32"]["error"]
    assert report["phases"]["evaluation"]["status"] == "ok"  # the next phase still ran
    assert report["ok"] is False and report["errors"] == ["joint_fp32"]


def _item(*reasons):
    marks = [SimpleNamespace(name="skipif", kwargs={"reason": r}) for r in reasons]
    return SimpleNamespace(iter_markers=lambda name=None: [m for m in marks
                                                           if name in (None, m.name)])


def test_cuda_tests_are_selected_by_their_skip_reason():
    assert needs_cuda(_item("needs CUDA")) and needs_cuda(_item("x", "needs a CUDA device"))
    assert not needs_cuda(_item("PyTorch3D is not installed")) and not needs_cuda(_item())
