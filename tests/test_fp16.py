"""SOLVER.PRECISION fp16: refused off CUDA before any work; the gradient-scaler plumbing of the
training steps (run on the CPU with enabled CPU scalers); scaler states in checkpoints; a tiny
fp16 step on CUDA where there is a GPU."""
import logging
import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from common.config import ConfigError
from common.precision import (autocast, check_precision, grad_scaler, scaled, step_optimizer,
                              update_scaler)
from reid.config import load_config
from reid.engine.checkpoint import CheckpointManager
from reid.engine.stages.base import EpochPlan, GradientAveragingOptimizer, Stage
from tests.test_gcl_networks import _batch, _step

CPU_FP16_MESSAGE = r"SOLVER.PRECISION 'fp16' needs a CUDA device.*use SOLVER.PRECISION fp32, bf16 or auto"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _cpu_scaler(**kwargs) -> torch.amp.GradScaler:
    return torch.amp.GradScaler("cpu", **kwargs)


# ---------------------------------------------------------------------- refused off CUDA
def test_fp16_is_a_known_name_but_refused_on_the_cpu():
    assert check_precision("FP16") == "fp16"
    assert load_config(None, ["SOLVER.PRECISION", "fp16"]).SOLVER.PRECISION == "fp16"
    with pytest.raises(ConfigError, match="SOLVER.PRECISION.*'fp8'"):
        load_config(None, ["SOLVER.PRECISION", "fp8"])
    with pytest.raises(ConfigError, match=CPU_FP16_MESSAGE):
        check_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match=CPU_FP16_MESSAGE):
        grad_scaler("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match=CPU_FP16_MESSAGE):
        autocast("cpu", "fp16")


def test_trainer_refuses_fp16_on_the_cpu_before_any_work(tmp_path):
    from reid.engine.trainer import GCLTrainer

    out = tmp_path / "out"
    cfg = load_config(None, ["MODEL.DEVICE", "cpu", "SOLVER.PRECISION", "fp16",
                             "OUTPUT_DIR", str(out), "DATASETS.ROOT", str(tmp_path / "none")])
    with pytest.raises(ConfigError, match=CPU_FP16_MESSAGE):
        GCLTrainer(cfg)
    assert not out.exists()  # no folder, lock, log or checkpoint


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
def test_other_precisions_get_a_disabled_scaler(precision):
    scaler = grad_scaler(precision, "cpu")
    assert not scaler.is_enabled()
    loss = torch.tensor(2.5)
    assert scaled(loss, scaler) is loss and scaled(loss, None) is loss


# ---------------------------------------------------------------------- the step sequence
def _linear_setup():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1), torch.randn(3, 4)


def test_enabled_scaler_scales_unscales_steps_and_updates_once():
    model, opt, x = _linear_setup()
    ref_model, ref_opt, _ = _linear_setup()
    scaler = _cpu_scaler(init_scale=1024.0, growth_interval=2)
    for _ in range(2):
        for m, o, s in ((model, opt, scaler), (ref_model, ref_opt, None)):
            o.zero_grad(set_to_none=True)
            scaled(m(x).pow(2).mean(), s).backward()
            step_optimizer(o, s)
            update_scaler(s)
    # Power-of-two scales are exact: the same update as without scaling.
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)
    assert scaler.get_scale() == 2048.0  # two clean iterations with growth_interval 2


@pytest.mark.parametrize("wrap", [False, True])
def test_a_step_with_inf_gradients_is_skipped_and_the_scale_backs_off(wrap):
    model, opt, x = _linear_setup()
    before = [p.detach().clone() for p in model.parameters()]
    scaler = _cpu_scaler(init_scale=1024.0)
    optimizer = GradientAveragingOptimizer(opt) if wrap else opt
    optimizer.zero_grad(set_to_none=True)
    scaled(model(x).sum(), scaler).backward()
    model.weight.grad[0, 0] = float("inf")
    step_optimizer(optimizer, scaler)
    update_scaler(scaler)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert scaler.get_scale() == 512.0


def _gcl_run(train_encoder, scalers, iterations=1):
    step, enc, module, memory = _step(train_encoder=train_encoder)
    step.scaler, step.dis_scaler = scalers
    torch.manual_seed(1)
    batch = _batch()
    terms = [step(*(batch if train_encoder else batch[:3])) for _ in range(iterations)]
    params = [p.detach().clone() for p in list(enc.parameters()) + list(module.parameters())]
    return terms, params


@pytest.mark.parametrize("train_encoder", [False, True])
def test_disabled_scalers_are_bit_identical_to_none(train_encoder):
    terms_none, params_none = _gcl_run(train_encoder, (None, None))
    disabled = (grad_scaler("fp32", "cpu"), grad_scaler("fp32", "cpu"))
    terms_off, params_off = _gcl_run(train_encoder, disabled)
    assert terms_off == terms_none
    assert all(torch.equal(a, b) for a, b in zip(params_off, params_none))


@pytest.mark.parametrize("train_encoder", [False, True])
def test_gcl_step_with_enabled_scalers_matches_the_unscaled_step(train_encoder):
    terms_ref, params_ref = _gcl_run(train_encoder, (None, None), iterations=2)
    gen, dis = _cpu_scaler(init_scale=256.0, growth_interval=2), _cpu_scaler(init_scale=64.0,
                                                                               growth_interval=2)
    terms, params = _gcl_run(train_encoder, (gen, dis), iterations=2)
    for got, want in zip(terms, terms_ref):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for a, b in zip(params, params_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # Each scaler updated once per iteration: two clean iterations double each scale once.
    assert (gen.get_scale(), dis.get_scale()) == (512.0, 128.0)


# ---------------------------------------------------------------------- checkpoints
class _OneLayerStage(Stage):
    name = "baseline"
    section = "BASELINE"

    def __init__(self, ctx, scaler):
        super().__init__(ctx)
        self.model = nn.Linear(3, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.01)
        self._scalers = {"encoder": scaler}

    def optimizers(self):
        return {"encoder": self.optimizer}

    def plan_epoch(self, epoch):
        return EpochPlan()

    def train_step(self, batch):
        return {}


def _ctx(logger_name="test_fp16"):
    return SimpleNamespace(cfg=load_config(None), device=torch.device("cpu"),
                           logger=logging.getLogger(logger_name), train_images_verified=True)


def test_scaler_state_round_trips_through_a_checkpoint(tmp_path):
    stage = _OneLayerStage(_ctx(), _cpu_scaler(init_scale=1024.0, growth_interval=3))
    scaler = stage._scalers["encoder"]
    for bad in (False, True):  # a clean step, then a skipped one: scale and tracker move
        stage.optimizer.zero_grad()
        scaled(stage.model(torch.ones(2, 3)).sum(), scaler).backward()
        if bad:
            stage.model.bias.grad.fill_(float("nan"))
        step_optimizer(stage.optimizer, scaler)
        update_scaler(scaler)
    manager = CheckpointManager(str(tmp_path))
    manager.save({"stage_state": stage.state_dict()}, "baseline", 0)
    loaded = manager.load_last()["stage_state"]  # weights-only load
    resumed = _OneLayerStage(_ctx(), _cpu_scaler())
    resumed.load_state_dict(loaded)
    assert resumed._scalers["encoder"].state_dict() == scaler.state_dict()
    assert resumed._scalers["encoder"].get_scale() == 512.0


def test_fp32_checkpoints_hold_no_scaler_and_fp16_resume_without_one_warns(caplog):
    fp32_stage = _OneLayerStage(_ctx(), grad_scaler("fp32", "cpu"))
    state = fp32_stage.state_dict()
    assert set(state) == {"optimizers"}  # the same layout as before fp16 existed
    resumed = _OneLayerStage(_ctx("test_fp16_resume"), _cpu_scaler(init_scale=8.0))
    with caplog.at_level(logging.WARNING, logger="test_fp16_resume"):
        resumed.load_state_dict(state)
    assert "no state of the gradient scaler 'encoder'" in caplog.text
    assert resumed._scalers["encoder"].get_scale() == 8.0


# ---------------------------------------------------------------------- CUDA
@cuda
def test_tiny_fp16_gcl_step_on_cuda():
    from reid.engine.gcl_step import GCLStepConfig

    step, enc, module, memory = _step(train_encoder=True)
    device = torch.device("cuda")
    for net in (enc, module, memory):
        net.to(device)
    step.config = GCLStepConfig(num_negatives=5, precision="fp16")
    step.scaler, step.dis_scaler = grad_scaler("fp16", device), grad_scaler("fp16", device)
    assert step.scaler.is_enabled() and step.dis_scaler.is_enabled()
    before = [p.detach().clone() for p in enc.parameters()]
    for _ in range(3):
        terms = step(*(t.to(device) for t in _batch()))
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values() if isinstance(v, float))
    assert all(p.dtype == torch.float32 for p in list(enc.parameters()) + list(module.parameters()))
    assert memory.features.dtype == torch.float32
    assert any(not torch.equal(a, b) for a, b in zip(before, enc.parameters()))
    with autocast(device, "fp16"):
        assert (torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)).dtype \
            == torch.float16


@cuda
def test_fp16_linear_step_on_cuda_updates_and_checkpoints_the_scale(tmp_path):
    device = torch.device("cuda")
    model = nn.Linear(4, 2).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = grad_scaler("fp16", device)
    with autocast(device, "fp16"):
        out = model(torch.randn(3, 4, device=device))
    assert out.dtype == torch.float16
    scaled(out.float().pow(2).mean(), scaler).backward()
    step_optimizer(opt, scaler)
    update_scaler(scaler)
    path = os.path.join(tmp_path, "scaler.pth")
    torch.save(scaler.state_dict(), path)
    fresh = grad_scaler("fp16", device)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.get_scale() == scaler.get_scale()
