"""The per-pass profile of the joint step (benchmarks/gcl_step.py) and the command line's checks."""
import json
import sys

import pytest
import torch

from benchmarks import gcl_step as bench
from reid.engine import gcl_step as gcl_step_module
from tests.test_gcl_networks import _batch, _step

FORWARD_PASSES = ("E_id(x)", "E_id(x'_new)", "E_id(x''_ori)", "E_str", "G(x'_new, x'_ori)",
                  "G(x''_ori)", "D(fakes)", "D(real)", "R1", "memory loss")
TRAINED_PASSES = ("E_id(x)", "E_id(x'_new)", "E_id(x''_ori)", "E_str", "G(x'_new, x'_ori)",
                  "G(x''_ori)", "D(fakes)", "D(real)", "R1")


def _profiled(seed: int = 0):
    torch.manual_seed(seed)
    step, enc, module, memory = _step(train_encoder=True)
    torch.manual_seed(seed + 1)
    batch = _batch()
    torch.manual_seed(seed + 2)
    return step, enc, module, memory, batch


def test_profile_names_every_pass_accounts_for_the_step_and_changes_nothing():
    plain, enc_a, mod_a, mem_a, batch = _profiled()
    plain(*batch)
    profiled, enc_b, mod_b, mem_b, batch_b = _profiled()
    report = bench.profile_step(profiled, batch_b)

    assert list(report["passes"]) == list(bench.PASSES)
    passes = report["passes"]
    for name in FORWARD_PASSES:
        assert passes[name]["forward_s"] > 0, name
    for name in TRAINED_PASSES:  # every trained network pass has a backward pass
        assert passes[name]["backward_s"] > 0, name
    for name in ("opt E_id", "opt E_str+G", "opt D", "memory update"):
        assert passes[name]["forward_s"] > 0 and passes[name]["backward_s"] == 0, name
    for name in ("E_str", "G(x'_new, x'_ori)", "G(x''_ori)", "D(fakes)", "D(real)"):
        assert passes[name]["saved_gb"] > 0, name
    assert passes["opt E_id"]["saved_gb"] == 0
    total = sum(p["total_s"] for p in passes.values())
    assert report["sum_s"] == pytest.approx(total, abs=1e-3)
    assert 0 < report["sum_s"] <= report["step_s"] * 1.01
    assert report["unattributed_s"] == pytest.approx(report["step_s"] - report["sum_s"], abs=1e-3)
    table = bench.format_profile(report)
    assert "E_id(x''_ori)" in table and "unattributed" in table

    # the profiled step computed what the plain one did
    for a, b in zip(list(enc_a.parameters()) + list(mod_a.parameters()),
                    list(enc_b.parameters()) + list(mod_b.parameters())):
        assert torch.equal(a, b)
    assert torch.equal(mem_a.features, mem_b.features)
    # and the labels are gone: instance attributes removed, module functions restored
    assert "forward_all" not in vars(enc_b) and "forward" not in vars(mod_b.discriminator)
    assert "step" not in vars(profiled.id_optimizer) and "update" not in vars(mem_b)
    assert gcl_step_module.r1_gradient_penalty.__module__ == "reid.losses.gan"


def test_command_line_rejects_fp16_on_the_cpu_before_any_work(monkeypatch, capsys):
    from tools import bench_train

    def no_work(*args, **kwargs):
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr(bench_train, "run_train_benchmark", no_work)
    monkeypatch.setattr(sys, "argv", ["bench_train.py", "--precision", "fp16", "--device", "cpu"])
    with pytest.raises(SystemExit) as exc:
        bench_train.main()
    assert exc.value.code == 2
    assert "--precision" in capsys.readouterr().err


def test_command_line_writes_the_train_record(monkeypatch, tmp_path, capsys):
    from tools import bench_train

    report = {"gcl": {"seconds_per_iter": 1.0, "iters_per_second": 1.0,
                      "cpu_seconds_per_iter": 2.0, "params_M": {},
                      "profile": {"step_s": 1.0, "passes": {}, "sum_s": 0.0,
                                  "unattributed_s": 1.0, "coverage": 0.0, "saved_gb": 0.0}}}
    monkeypatch.setattr(bench_train, "run_train_benchmark", lambda *a, **k: report)
    monkeypatch.setattr(sys, "argv", ["bench_train.py", "--precision", "fp32", "--profile",
                                      "--json-dir", str(tmp_path)])
    bench_train.main()
    # an explicit precision has its own record beside the default run's
    record = json.loads((tmp_path / "train_fp32.json").read_text())
    assert record["benchmark"] == "train_fp32" and record["figures"] == report
    assert "unattributed" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["bench_train.py", "--json-dir", str(tmp_path)])
    bench_train.main()
    assert json.loads((tmp_path / "train.json").read_text())["benchmark"] == "train"
