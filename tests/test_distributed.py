"""A 2-process CPU (gloo) job through torchrun: every stage runs, replicas stay consistent."""
import json
import os
import subprocess
import sys

import pytest
import torch

from common.serialization import load_checkpoint_file
from tests.toy_gcl import make_toy_gcl_root, toy_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_torchrun_two_process_gloo_job(tmp_path):
    root = make_toy_gcl_root(str(tmp_path / "toy"))
    out = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(ROOT, "tools", "train_gcl.py"), "--config",
           os.path.join(ROOT, "configs", "market.yaml")] + toy_overrides(root, out)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    assert summary["stages"] == ["baseline", "gan_warmup", "joint"]
    assert [h["stage"] for h in summary["history"]] == ["baseline", "gan_warmup", "joint", "joint"]
    state = load_checkpoint_file(os.path.join(out, "checkpoints", "last.pth"), trust_pickle=False)
    assert torch.isfinite(state["memory"]["features"]).all()
