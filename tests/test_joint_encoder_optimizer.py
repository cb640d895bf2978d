"""SOLVER.JOINT.ENCODER_OPTIMIZER: E_id's optimiser in the joint stage, SGD (the paper) or Adam."""
import pytest

from common.config import ConfigError
from common.serialization import load_checkpoint_file
from reid.config import load_config
from reid.engine import GCLTrainer
from tests.toy_gcl import make_toy_gcl_root, toy_cfg


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("joint_opt")))


@pytest.mark.parametrize("name,state_key,momentum_key", [("sgd", "momentum_buffer", "nesterov"),
                                                         ("adam", "exp_avg", "betas")])
def test_the_joint_stage_steps_e_id_with_the_chosen_optimiser(toy_root, tmp_path, name, state_key,
                                                              momentum_key):
    out = str(tmp_path / name)
    cfg = toy_cfg(toy_root, out, "GCL.STAGES", "('joint',)", "GCL.USE_GAN", "False",
                  "GCL.VI_LOSSES", "('vi',)", "SOLVER.JOINT.EPOCHS", "1", "TEST.EVAL_PERIOD", "0",
                  "SOLVER.JOINT.ENCODER_OPTIMIZER", name, "SOLVER.JOINT.LR", "0.0004")
    GCLTrainer(cfg).run()
    state = load_checkpoint_file(f"{out}/checkpoints/last.pth")["stage_state"]["optimizers"]["encoder"]
    group = state["param_groups"][0]
    assert group["lr"] == pytest.approx(0.0004) and momentum_key in group
    assert any(state_key in s for s in state["state"].values())


def test_an_unknown_optimiser_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="SOLVER.JOINT.ENCODER_OPTIMIZER must be one of sgd, adam"):
        load_config(None, ["SOLVER.JOINT.ENCODER_OPTIMIZER", "lamb"])
