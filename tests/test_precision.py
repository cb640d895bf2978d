"""bf16 autocast: the precision switch, and a GCL step that matches float32 within bf16 tolerance."""
import pytest
import torch

from reid.engine.gcl_step import GCLStepConfig
from common import precision as precision_module
from common.precision import autocast, check_precision, resolve_precision
from tests.test_gcl_networks import _batch, _step


def test_precision_names_and_errors():
    assert check_precision("BF16") == "bf16"
    with pytest.raises(ValueError, match="SOLVER.PRECISION.*'fp8'"):
        check_precision("fp8")
    with pytest.raises(ValueError, match="SOLVER.PRECISION"):
        GCLStepConfig(precision="half")
    with autocast("cpu", "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


@pytest.mark.parametrize("fast_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_cpu(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("AUTO", torch.device("cpu")) == expected
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("fp32", "cpu") == "fp32"
    dtype = torch.bfloat16 if expected == "bf16" else torch.float32
    with autocast("cpu", "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == dtype


def test_precision_from_config():
    from reid.config import load_config

    cfg = load_config(None, ["SOLVER.PRECISION", "bf16"])
    assert GCLStepConfig.from_cfg(cfg).precision == "bf16"


def _run(precision):
    step, enc, module, memory = _step(train_encoder=True)
    step.config = GCLStepConfig(num_negatives=5, precision=precision)
    torch.manual_seed(1)
    terms = step(*_batch())
    grad = enc.conv.weight.grad.clone()
    return terms, grad, memory.features.clone(), [p.detach().clone() for p in module.parameters()]


def test_bf16_joint_step_matches_float32():
    terms32, grad32, mem32, params32 = _run("fp32")
    terms16, grad16, mem16, params16 = _run("bf16")
    assert set(terms16) == set(terms32)
    for key, value in terms32.items():
        if isinstance(value, float):
            assert terms16[key] == pytest.approx(value, rel=0.05, abs=0.02), key
    # Everything that persists stays float32; the update moves in the same direction.
    assert mem16.dtype == torch.float32 and all(p.dtype == torch.float32 for p in params16)
    assert torch.allclose(mem16, mem32, atol=0.02)
    cos = torch.nn.functional.cosine_similarity(grad16.flatten(), grad32.flatten(), dim=0)
    assert cos > 0.98
