"""``--resume`` with a changed config: a changed model is refused naming the keys before anything
is written (config.yaml untouched), a changed learning rate or schedule is applied (the
optimiser's lr after resume is what the new config prescribes) and logged, a harmless change
is accepted and logged; the comparison and classification as pure functions."""
import collections
import os

import pytest
import torch
import yaml

from reid.config import load_config
from reid.engine import GCLTrainer
from reid.engine.resume_config import (HARMLESS, REFUSED, SCHEDULE, UNCLASSIFIED, ConfigChange,
                                       ResumeConfigError, apply_schedule_settings,
                                       checkpoint_config, classify, config_changes,
                                       plan_resume, schedule_settings)
from reid.engine.run_lock import LOCK_NAME
from common.serialization import load_checkpoint_file
from tests.toy_gcl import make_toy_gcl_root, toy_cfg

BASELINE_ONLY = ("GCL.STAGES", "('baseline',)", "SOLVER.BASELINE.ITERS_PER_EPOCH", "1",
                 "TEST.EVAL_PERIOD", "0", "INPUT.SIZE", "(64, 32)")


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy")))


def _cfg(toy_root, out, *opts):
    return toy_cfg(toy_root, out, *BASELINE_ONLY, *opts)


def _one_epoch_run(toy_root, out) -> bytes:
    """A finished one-epoch baseline run in ``out``; returns its config.yaml."""
    GCLTrainer(_cfg(toy_root, out, "SOLVER.BASELINE.EPOCHS", "1")).run()
    return _read(os.path.join(out, "config.yaml"))


def _read(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _last_state(out) -> dict:
    return load_checkpoint_file(os.path.join(out, "checkpoints", "last.pth"), trust_pickle=False)


# ---------------------------------------------------------------------- the trainer
def test_changed_backbone_is_refused_naming_the_keys_and_config_yaml_is_unchanged(toy_root,
                                                                                  tmp_path):
    out = str(tmp_path / "run")
    config_yaml = _one_epoch_run(toy_root, out)
    last = _read(os.path.join(out, "checkpoints", "last.pth"))
    with pytest.raises(ResumeConfigError) as err:
        GCLTrainer(_cfg(toy_root, out, "MODEL.BACKBONE", "resnet34", "MODEL.EMBED_DIM", "256"),
                   resume=True)
    message = str(err.value)
    assert "MODEL.BACKBONE 'resnet18' -> 'resnet34'" in message
    assert "MODEL.EMBED_DIM 512 -> 256" in message
    assert "architecture" in message and "--overwrite" in message
    assert _read(os.path.join(out, "config.yaml")) == config_yaml  # byte for byte
    assert _read(os.path.join(out, "checkpoints", "last.pth")) == last
    assert not os.path.exists(os.path.join(out, LOCK_NAME))  # released on the refusal


def test_changed_learning_rate_and_step_are_applied_and_logged(toy_root, tmp_path, reid_log):
    out = str(tmp_path / "run")
    _one_epoch_run(toy_root, out)  # SOLVER.BASELINE.LR 3.5e-4, LR_STEP_SIZE 20
    lr = ("SOLVER.BASELINE.LR", "1e-3")
    summary = GCLTrainer(_cfg(toy_root, out, "SOLVER.BASELINE.EPOCHS", "2", *lr),
                         resume=True).run()
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert summary["history"][-1]["lr"] == 1e-3  # the optimiser's lr in the resumed epoch
    applied = [m for m in reid_log if m.startswith("resume: applying changed schedule keys")]
    assert len(applied) == 1
    assert "SOLVER.BASELINE.LR 0.00035 -> 0.001" in applied[0]
    assert "SOLVER.BASELINE.EPOCHS 1 -> 2" in applied[0]
    state = _last_state(out)["stage_state"]
    assert state["optimizers"]["encoder"]["param_groups"][0]["initial_lr"] == 1e-3
    assert state["schedulers"]["lr"]["base_lrs"] == [1e-3]
    assert load_config(os.path.join(out, "config.yaml")).SOLVER.BASELINE.LR == 1e-3

    # A shorter LR step: epoch 3 (scheduler epoch 2) follows the new step at once, as the same
    # schedule does when it runs from the start.
    GCLTrainer(_cfg(toy_root, out, "SOLVER.BASELINE.EPOCHS", "3", *lr,
                    "SOLVER.BASELINE.LR_STEP_SIZE", "2"), resume=True).run()
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.1)
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    state = _last_state(out)
    assert state["history"][-1]["epoch"] == 3
    assert state["history"][-1]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
    assert state["stage_state"]["schedulers"]["lr"]["step_size"] == 2
    assert any("scheduler 'lr': step_size 20 -> 2" in m for m in reid_log)


def test_harmless_change_is_accepted_and_logged(toy_root, tmp_path, reid_log):
    out = str(tmp_path / "run")
    _one_epoch_run(toy_root, out)
    GCLTrainer(_cfg(toy_root, out, "SOLVER.BASELINE.EPOCHS", "1", "SOLVER.LOG_PERIOD", "7",
                    "TEST.RERANK", "True"), resume=True).run()
    accepted = [m for m in reid_log if m.startswith("resume: accepting changed keys")]
    assert len(accepted) == 1
    assert "SOLVER.LOG_PERIOD 20 -> 7" in accepted[0] and "TEST.RERANK False -> True" in accepted[0]
    assert not [m for m in reid_log if m.startswith("resume: applying")]
    assert load_config(os.path.join(out, "config.yaml")).SOLVER.LOG_PERIOD == 7


# ---------------------------------------------------------------------- pure functions
STAGES = ("baseline", "gan_warmup", "joint")


def _config(*opts):
    return load_config(None, ["INPUT.SIZE", "(64, 32)", *opts])


def test_checkpoint_config_fills_keys_added_since_and_reports_removed_ones():
    data = yaml.safe_load(_config("SOLVER.BASELINE.LR", "0.001").dump())
    del data["SOLVER"]["LOG_PERIOD"]  # a key added after the checkpoint was written
    data["GONE"], data["SOLVER"]["OLD_KEY"] = 1, 2  # keys removed since
    cfg, dropped = checkpoint_config(yaml.safe_dump(data))
    assert cfg.SOLVER.LOG_PERIOD == 20 and cfg.SOLVER.BASELINE.LR == 0.001
    assert tuple(cfg.INPUT.SIZE) == (64, 32) and isinstance(cfg.GCL.STAGES, tuple)
    assert sorted(dropped) == ["GONE", "SOLVER.OLD_KEY"]
    assert config_changes(cfg, _config("SOLVER.BASELINE.LR", "0.001")) == []


def test_config_changes_lists_each_differing_leaf_key_with_old_and_new():
    old, _ = checkpoint_config(_config().dump())
    new = _config("MODEL.BACKBONE", "resnet18", "GCL.STAGES", "('baseline',)",
                  "SOLVER.BASELINE.LR", "0.001")
    assert config_changes(old, new) == [  # in the order of the defaults
        ConfigChange("MODEL.BACKBONE", "resnet50", "resnet18"),
        ConfigChange("GCL.STAGES", ("baseline", "gan_warmup", "joint"), ("baseline",)),
        ConfigChange("SOLVER.BASELINE.LR", 0.00035, 0.001)]
    assert str(config_changes(old, new)[0]) == "MODEL.BACKBONE 'resnet50' -> 'resnet18'"


@pytest.mark.parametrize("key, kind", [
    ("MODEL.BACKBONE", REFUSED), ("MODEL.EMBED_DIM", REFUSED), ("INPUT.SIZE", REFUSED),
    ("GCL.STAGES", REFUSED), ("DATASETS.NAME", REFUSED), ("DATASETS.SYNTHETIC.IDS", REFUSED),
    ("MESH.DIR", REFUSED), ("SEED", REFUSED), ("MODEL.WEIGHTS", REFUSED),
    ("SOLVER.BASELINE.LR", SCHEDULE), ("SOLVER.JOINT.LR", SCHEDULE), ("SOLVER.JOINT.EPOCHS", SCHEDULE),
    ("SOLVER.JOINT.LR_STEPS", SCHEDULE), ("SOLVER.GAN_WARMUP.GAN_BETAS", SCHEDULE),
    ("SOLVER.SOURCE.WEIGHT_DECAY", SCHEDULE), ("SOLVER.JOINT.SGD_MOMENTUM", SCHEDULE),
    ("SOLVER.JOINT.ENCODER_OPTIMIZER", SCHEDULE),
    ("SOLVER.GAN_WARMUP.LR", SCHEDULE), ("SOLVER.BASELINE.LR_STEP_SIZE", SCHEDULE),
    ("TEST.EVAL_PERIOD", HARMLESS), ("SOLVER.LOG_PERIOD", HARMLESS), ("MODEL.DEVICE", HARMLESS),
    ("DATALOADER.NUM_WORKERS", HARMLESS), ("EXPORT.FORMATS", HARMLESS), ("MESH.ANGLES", REFUSED),
    ("GCL.TEMPERATURE", UNCLASSIFIED), ("CLUSTER.EPS", UNCLASSIFIED),
    ("INPUT.RE_PROB", UNCLASSIFIED), ("SOLVER.BASELINE.TEMPERATURE", UNCLASSIFIED)])
def test_every_key_falls_in_one_class(key, kind):
    assert classify(key) == kind


def test_model_and_unclassified_changes_are_refused_schedule_applied_harmless_accepted():
    old = _config()
    new = _config("MODEL.BACKBONE", "resnet18", "GCL.TEMPERATURE", "0.1",
                  "SOLVER.JOINT.LR", "0.01", "TEST.EVAL_PERIOD", "5")
    plan = plan_resume(old, new, STAGES, stage_index=0, epochs_done=3)
    assert [(c.key, reason.split(" (")[0]) for c, reason in plan.refused] == [
        ("MODEL.BACKBONE", "the network's architecture"),
        ("GCL.TEMPERATURE", "not known to be safe to change in the middle of a run")]
    assert [c.key for c in plan.applied] == ["SOLVER.JOINT.LR"]
    assert [c.key for c in plan.accepted] == ["TEST.EVAL_PERIOD"]


def test_schedule_changes_that_cannot_apply_are_refused_saying_why():
    old = _config("SOLVER.JOINT.EPOCHS", "4")

    def refused(*opts, stage_index=2, epochs_done=2):
        plan = plan_resume(old, _config("SOLVER.JOINT.EPOCHS", "4", *opts), STAGES,
                           stage_index, epochs_done)
        return {c.key: reason for c, reason in plan.refused}, [c.key for c in plan.applied]

    # A stage that finished before the checkpoint: its keys would change nothing.
    reasons, _ = refused("SOLVER.BASELINE.LR", "0.001", "SOLVER.BASELINE.EPOCHS", "60")
    assert set(reasons) == {"SOLVER.BASELINE.LR", "SOLVER.BASELINE.EPOCHS"}
    assert "finished before the checkpoint" in reasons["SOLVER.BASELINE.LR"]
    # Fewer epochs than the stage under way has trained.
    reasons, _ = refused("SOLVER.JOINT.EPOCHS", "1")
    assert "has already trained 2 epoch(s)" in reasons["SOLVER.JOINT.EPOCHS"]
    assert refused("SOLVER.JOINT.EPOCHS", "2") == ({}, ["SOLVER.JOINT.EPOCHS"])  # ends it now
    # G / D decay switched in the middle of the joint stage; before it, it applies.
    reasons, _ = refused("SOLVER.JOINT.DECAY_GAN_LR", "False")
    assert "joint stage is under way" in reasons["SOLVER.JOINT.DECAY_GAN_LR"]
    assert refused("SOLVER.JOINT.DECAY_GAN_LR", "False", stage_index=1) == (
        {}, ["SOLVER.JOINT.DECAY_GAN_LR"])
    # So is a decay at fixed epochs replaced by a periodic one (another scheduler); new epochs
    # of the same kind apply.
    reasons, _ = refused("SOLVER.JOINT.LR_STEPS", "()")
    assert "joint stage is under way" in reasons["SOLVER.JOINT.LR_STEPS"]
    assert refused("SOLVER.JOINT.LR_STEPS", "(3,)") == ({}, ["SOLVER.JOINT.LR_STEPS"])
    # E_id's optimiser: refused in the middle of the joint stage, applied before it (a
    # warm-up run resumed with the joint stage's optimiser changed).
    reasons, _ = refused("SOLVER.JOINT.ENCODER_OPTIMIZER", "adam")
    assert "joint stage is under way" in reasons["SOLVER.JOINT.ENCODER_OPTIMIZER"]
    assert refused("SOLVER.JOINT.ENCODER_OPTIMIZER", "adam", stage_index=1) == (
        {}, ["SOLVER.JOINT.ENCODER_OPTIMIZER"])
    # The stage under way and the later ones still apply.
    assert refused("SOLVER.JOINT.LR", "0.01", "SOLVER.GAN_WARMUP.GAN_LR", "0.001",
                   "SOLVER.JOINT.GAN_LR", "0.001", stage_index=1) == (
        {}, ["SOLVER.GAN_WARMUP.GAN_LR", "SOLVER.JOINT.LR", "SOLVER.JOINT.GAN_LR"])
    # gan_warmup keeps E_id frozen: its LR is read by no stage, a change is accepted.
    plan = plan_resume(old, _config("SOLVER.JOINT.EPOCHS", "4", "SOLVER.GAN_WARMUP.LR", "0.1"),
                       STAGES, 1, 1)
    assert not plan.refused and [c.key for c in plan.accepted] == ["SOLVER.GAN_WARMUP.LR"]
    # A key no stage of the run uses is accepted.
    plan = plan_resume(old, _config("SOLVER.JOINT.EPOCHS", "4", "SOLVER.SOURCE.LR", "0.01"),
                       STAGES, 0, 1)
    assert not plan.refused and [c.key for c in plan.accepted] == ["SOLVER.SOURCE.LR"]


class _ToyStage:
    """What apply_schedule_settings reads of a stage: optimisers and named schedulers."""

    name = "joint"

    def __init__(self, lr=0.1, momentum=0.9, milestone=2, gamma=0.1, gan_lr=1e-3):
        self.params = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))]
        self.sgd = torch.optim.SGD([self.params[0]], lr=lr, momentum=momentum)
        self.adam = torch.optim.Adam([self.params[1]], lr=gan_lr)
        self._schedulers = {"encoder": torch.optim.lr_scheduler.MultiStepLR(
            self.sgd, [milestone], gamma)}

    def optimizers(self):
        return {"encoder": self.sgd, "generator": self.adam}

    def train_epochs(self, n):
        for _ in range(n):
            for opt in (self.sgd, self.adam):
                sum(p.sum() for p in self.params).backward()
                opt.step()
                opt.zero_grad()
            self._schedulers["encoder"].step()

    def state_dict(self):
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
                "scheduler": self._schedulers["encoder"].state_dict()}

    def load_state_dict(self, state):
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        self._schedulers["encoder"].load_state_dict(state["scheduler"])


def _resumed(state, **settings):
    stage = _ToyStage(**settings)
    planned = schedule_settings(stage)
    stage.load_state_dict(state)
    return stage, apply_schedule_settings(stage, planned)


def test_apply_schedule_settings_follows_the_new_schedule_at_the_restored_epoch():
    old = _ToyStage()
    old.train_epochs(3)  # past the milestone: lr 0.1 -> 0.01
    state = old.state_dict()
    new_settings = dict(lr=0.5, momentum=0.8, milestone=5, gamma=0.5, gan_lr=2e-4)
    stage, lines = _resumed(state, **new_settings)
    straight = _ToyStage(**new_settings)  # the new config from the start
    straight.train_epochs(3)
    for opt, ref in ((stage.sgd, straight.sgd), (stage.adam, straight.adam)):
        for key in ("lr", "momentum", "initial_lr"):
            assert opt.param_groups[0].get(key) == ref.param_groups[0].get(key), key
    sched = stage._schedulers["encoder"]
    assert sched.last_epoch == 3 and sched.base_lrs == [0.5]
    assert sched.milestones == collections.Counter({5: 1}) and sched.gamma == 0.5
    assert sched.get_last_lr() == [0.5]
    # The position in the schedule (momentum buffers, Adam moments) is the checkpoint's.
    assert torch.equal(stage.sgd.state[stage.params[0]]["momentum_buffer"],
                       old.sgd.state[old.params[0]]["momentum_buffer"])
    assert int(stage.adam.state[stage.params[1]]["step"]) == 3
    assert any("encoder' group 0: lr 0.0100" in line and line.endswith("-> 0.5") for line in lines)
    assert any("generator' group 0: lr 0.001 -> 0.0002" in line for line in lines)
    assert any("scheduler 'encoder': milestones" in line for line in lines)


def test_apply_schedule_settings_changes_nothing_when_the_settings_are_the_same():
    old = _ToyStage(lr=0.3, gamma=0.3, milestone=1)
    old.train_epochs(3)  # 0.3 * 0.3, not bitwise the closed form in every case
    state = old.state_dict()
    stage, lines = _resumed(state, lr=0.3, gamma=0.3, milestone=1)
    assert lines == []
    assert stage.sgd.param_groups[0]["lr"] == old.sgd.param_groups[0]["lr"]
    assert stage.state_dict()["scheduler"] == state["scheduler"]


# ---------------------------------------------------------------------- checkpoints with old keys
def _old_layout(text: str, **solver) -> str:
    """``text`` (a config dump) as a checkpoint written before the SOLVER keys moved holds it:
    the flat keys of the generative stages, SOLVER.BASELINE.STEP_SIZE, no SOURCE.WEIGHT_DECAY."""
    data = yaml.safe_load(text)
    s = data["SOLVER"]
    joint, warmup = s["JOINT"], s["GAN_WARMUP"]
    s.update({"BATCH_SIZE": joint["BATCH_SIZE"], "ID_LR": joint["LR"],
              "ID_MOMENTUM": joint["SGD_MOMENTUM"], "ID_WEIGHT_DECAY": joint["WEIGHT_DECAY"],
              "GAN_LR": joint["GAN_LR"], "GAN_BETAS": joint["GAN_BETAS"],
              "LR_DECAY_EPOCH": joint["LR_STEPS"][0], "LR_DECAY_FACTOR": joint["LR_DECAY_FACTOR"],
              "DECAY_GAN_LR": joint["DECAY_GAN_LR"]}, **solver)
    for section in (joint, warmup):
        for key in [k for k in section if k not in ("EPOCHS", "ITERS_PER_EPOCH")]:
            del section[key]
    s["BASELINE"]["STEP_SIZE"] = s["BASELINE"]["LR_STEP_SIZE"]
    for section in (s["SOURCE"], s["BASELINE"]):
        for key in ("LR_STEPS", "LR_STEP_SIZE", "LR_DECAY_FACTOR"):
            del section[key]
    del s["SOURCE"]["WEIGHT_DECAY"]
    return yaml.safe_dump(data)


def test_a_checkpoint_config_with_the_old_keys_reads_as_the_new_ones():
    cfg, dropped = checkpoint_config(_old_layout(_config().dump(), ID_LR=0.01, LR_DECAY_EPOCH=3,
                                                 BATCH_SIZE=8))
    assert dropped == []
    assert cfg.SOLVER.JOINT.LR == 0.01 and tuple(cfg.SOLVER.JOINT.LR_STEPS) == (3,)
    assert cfg.SOLVER.GAN_WARMUP.BATCH_SIZE == cfg.SOLVER.JOINT.BATCH_SIZE == 8
    # The same settings written with the new keys: nothing changed.
    new = _config("SOLVER.JOINT.LR", "0.01", "SOLVER.JOINT.LR_STEPS", "(3,)",
                  "SOLVER.GAN_WARMUP.BATCH_SIZE", "8", "SOLVER.JOINT.BATCH_SIZE", "8")
    assert config_changes(cfg, new) == []
    old_default, _ = checkpoint_config(_old_layout(_config().dump()))
    assert config_changes(old_default, _config()) == []


def test_a_checkpoint_written_with_the_old_keys_resumes(toy_root, tmp_path, reid_log):
    """A checkpoint whose config holds the old keys resumes (its stage state: the optimisers
    and schedulers by the names they always had), and a changed schedule still applies."""
    from common.io import atomic_save

    out = str(tmp_path / "run")
    _one_epoch_run(toy_root, out)
    state = _last_state(out)
    assert list(state["stage_state"]["optimizers"]) == ["encoder"]
    assert list(state["stage_state"]["schedulers"]) == ["lr"]
    state["config"] = _old_layout(state["config"])
    for name in ("last.pth", "baseline_epoch001.pth"):  # last.pth is a hard link to the other
        path = os.path.join(out, "checkpoints", name)
        os.remove(path)
        atomic_save(state, path)
    summary = GCLTrainer(_cfg(toy_root, out, "SOLVER.BASELINE.EPOCHS", "2",
                              "SOLVER.BASELINE.LR", "1e-3"), resume=True).run()
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    applied = [m for m in reid_log if m.startswith("resume: applying changed schedule keys")]
    assert len(applied) == 1 and "SOLVER.BASELINE.LR 0.00035 -> 0.001" in applied[0]
    assert "SOLVER.BASELINE.EPOCHS 1 -> 2" in applied[0]
    assert not [m for m in reid_log if "no longer exist" in m]
