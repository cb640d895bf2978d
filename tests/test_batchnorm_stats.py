"""E_id's BatchNorm running statistics come from real images only (GCL.GENERATED_BN_STATS False)."""
import copy

import pytest
import torch
from torch import nn

from reid.models.batchnorm import frozen_running_stats
from tests.test_gcl_networks import _batch, _step


def _stats(module):
    return [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
            for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def _same(a, b):
    return all(torch.equal(x, y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_frozen_running_stats_keeps_outputs_and_gradients_but_not_the_update(momentum):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
                        nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, momentum=momentum)).train()
    net(torch.randn(6, 3, 8, 8))  # non-trivial running statistics
    ref = copy.deepcopy(net)
    before = _stats(net)
    x = torch.randn(6, 3, 8, 8)
    with frozen_running_stats(net):
        y = net(x)
    y.square().sum().backward()
    y_ref = ref(x)
    y_ref.square().sum().backward()
    assert torch.equal(y, y_ref)  # batch statistics, as in training mode
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(net.parameters(), ref.parameters()))
    assert _same(_stats(net), before)  # running statistics and batch count untouched
    assert not _same(_stats(ref), before)
    assert all(m.momentum == momentum for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    net(x)  # outside the block the update is back
    assert not _same(_stats(net), before)


def test_frozen_running_stats_disabled_changes_nothing():
    bn = nn.BatchNorm1d(3).train()
    before = bn.running_mean.clone()
    with frozen_running_stats(bn, enabled=False):
        assert bn.momentum == 0.1
        bn(torch.randn(8, 3) + 5.0)
    assert not torch.equal(bn.running_mean, before) and int(bn.num_batches_tracked) == 1


def test_frozen_running_stats_restores_momentum_after_an_error():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(RuntimeError):
        with frozen_running_stats(bn):
            raise RuntimeError("inside")
    assert bn.momentum == 0.1


@pytest.mark.parametrize("generated_bn_stats", [False, True])
def test_joint_step_running_stats_follow_the_real_batch_only(generated_bn_stats):
    step, enc, _, _ = _step(train_encoder=True)
    step.config.generated_bn_stats = generated_bn_stats
    real_only = copy.deepcopy(enc).train()
    x, s_ori, s_new, idx = _batch()
    with torch.no_grad():
        real_only(x)  # what one pass over the real batch does to the running statistics
    step(x, s_ori, s_new, idx)
    assert _same(_stats(enc), _stats(real_only)) != generated_bn_stats


def test_step_config_reads_generated_bn_stats():
    from reid.config.defaults import get_cfg_defaults
    from reid.engine.gcl_step import GCLStepConfig

    cfg = get_cfg_defaults()
    assert GCLStepConfig.from_cfg(cfg).generated_bn_stats is False
    cfg.GCL.GENERATED_BN_STATS = True
    assert GCLStepConfig.from_cfg(cfg).generated_bn_stats is True


def test_frozen_encoder_bn_keeps_running_stats_and_uses_them():
    step, enc, _, _ = _step(train_encoder=True)
    step.config.freeze_encoder_bn = True
    has_bn = [m for m in enc.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert has_bn, "the tiny encoder must hold BatchNorm layers for this test"
    before = _stats(enc)
    weights = [m.weight.detach().clone() for m in has_bn]
    x, s_ori, s_new, idx = _batch()
    step(x, s_ori, s_new, idx)
    assert enc.training and all(not m.training for m in has_bn)   # BN alone in eval mode
    assert _same(_stats(enc), before)                              # running statistics kept
    assert any(not torch.equal(w, m.weight) for w, m in zip(weights, has_bn))  # affine learns


def test_step_config_reads_freeze_encoder_bn():
    from reid.config.defaults import get_cfg_defaults
    from reid.engine.gcl_step import GCLStepConfig

    cfg = get_cfg_defaults()
    assert GCLStepConfig.from_cfg(cfg).freeze_encoder_bn is False
    cfg.GCL.FREEZE_ENCODER_BN = True
    assert GCLStepConfig.from_cfg(cfg).freeze_encoder_bn is True
