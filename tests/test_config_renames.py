"""Config keys that moved into the SOLVER.<STAGE> sections: every section holds the same keys,
the shipped configs use the new ones, and an old key in a file or an override still works for
one release, mapped to its new key(s) with a DeprecationWarning naming both."""
import logging
import os

import pytest

from reid.config import ConfigError, get_cfg_defaults, load_config, valid_keys
from reid.config.renames import RENAMES, rename_mapping, rename_overrides

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
COMMON_KEYS = {"EPOCHS", "ITERS_PER_EPOCH", "BATCH_SIZE", "LR", "WEIGHT_DECAY", "LR_STEPS",
               "LR_STEP_SIZE", "LR_DECAY_FACTOR"}
GENERATIVE_KEYS = {"GAN_LR", "GAN_BETAS", "DECAY_GAN_LR"}


def test_every_stage_section_holds_the_same_keys():
    solver = get_cfg_defaults().SOLVER
    for section in ("SOURCE", "BASELINE", "GAN_WARMUP", "JOINT"):
        assert COMMON_KEYS <= set(solver[section]), section
    for section in ("GAN_WARMUP", "JOINT"):
        assert GENERATIVE_KEYS <= set(solver[section]), section
    flat = {k for k, v in solver.items() if not hasattr(v, "items")}
    assert not flat & {"BATCH_SIZE", "ID_LR", "GAN_LR", "LR_DECAY_EPOCH", "DECAY_GAN_LR"}


def test_defaults_are_what_each_stage_read_before():
    s = get_cfg_defaults().SOLVER
    assert (s.SOURCE.WEIGHT_DECAY, s.SOURCE.LR_STEPS, s.SOURCE.LR_STEP_SIZE) == (5e-4, (), 0)
    assert (s.BASELINE.LR_STEPS, s.BASELINE.LR_STEP_SIZE, s.BASELINE.LR_DECAY_FACTOR) == ((), 20, 0.1)
    assert (s.GAN_WARMUP.BATCH_SIZE, s.GAN_WARMUP.GAN_LR, tuple(s.GAN_WARMUP.GAN_BETAS),
            s.GAN_WARMUP.DECAY_GAN_LR) == (16, 1e-4, (0.0, 0.999), False)
    assert (s.JOINT.BATCH_SIZE, s.JOINT.LR, s.JOINT.SGD_MOMENTUM, s.JOINT.WEIGHT_DECAY,
            tuple(s.JOINT.LR_STEPS), s.JOINT.LR_DECAY_FACTOR, s.JOINT.DECAY_GAN_LR) == (
        16, 3.5e-4, 0.9, 5e-4, (10,), 0.1, True)


@pytest.mark.parametrize("name", ["Base-GCL.yaml", "market.yaml", "duke.yaml", "msmt17.yaml",
                                  "duke2market.yaml", "synthetic.yaml",
                                  os.path.join("ablations", "6_gcl_full.yaml")])
def test_shipped_configs_use_the_new_keys(name, recwarn):
    load_config(os.path.join(CONFIGS, name))
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)
                and "deprecated" in str(w.message)]


def test_old_keys_in_a_file_map_to_the_new_ones_with_a_warning(tmp_path, caplog):
    path = tmp_path / "old.yaml"
    path.write_text("SOLVER:\n  BATCH_SIZE: 8\n  ID_LR: 0.01\n  ID_MOMENTUM: 0.8\n"
                    "  LR_DECAY_EPOCH: 3\n  GAN_BETAS: (0.5, 0.999)\n  DECAY_GAN_LR: False\n"
                    "  BASELINE:\n    STEP_SIZE: 5\n  JOINT:\n    EPOCHS: 2\n")
    with caplog.at_level(logging.WARNING, logger="reid.config"):
        with pytest.warns(DeprecationWarning) as caught:
            cfg = load_config(str(path))
    s = cfg.SOLVER
    assert s.GAN_WARMUP.BATCH_SIZE == s.JOINT.BATCH_SIZE == 8
    assert s.JOINT.LR == 0.01 and s.JOINT.SGD_MOMENTUM == 0.8 and tuple(s.JOINT.LR_STEPS) == (3,)
    assert tuple(s.GAN_WARMUP.GAN_BETAS) == tuple(s.JOINT.GAN_BETAS) == (0.5, 0.999)
    assert s.JOINT.DECAY_GAN_LR is False and s.BASELINE.LR_STEP_SIZE == 5 and s.JOINT.EPOCHS == 2
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("SOLVER.BATCH_SIZE (in old.yaml) is deprecated") and
               "SOLVER.GAN_WARMUP.BATCH_SIZE, SOLVER.JOINT.BATCH_SIZE" in m for m in messages)
    assert any("SOLVER.BASELINE.STEP_SIZE" in m and "SOLVER.BASELINE.LR_STEP_SIZE" in m
               for m in messages)
    assert any("SOLVER.ID_LR" in r.getMessage() for r in caplog.records)


def test_old_keys_on_the_command_line_keep_their_order():
    with pytest.warns(DeprecationWarning, match="SOLVER.ID_LR .*command-line.*SOLVER.JOINT.LR"):
        cfg = load_config(os.path.join(CONFIGS, "market.yaml"),
                          ["SOLVER.JOINT.LR", "0.5", "SOLVER.ID_LR", "0.02",
                           "SOLVER.LR_DECAY_EPOCH", "4", "SOLVER.GAN_LR", "2e-4"])
    assert cfg.SOLVER.JOINT.LR == 0.02  # the later pair wins, as for any two overrides
    assert tuple(cfg.SOLVER.JOINT.LR_STEPS) == (4,)
    assert cfg.SOLVER.GAN_WARMUP.GAN_LR == cfg.SOLVER.JOINT.GAN_LR == 2e-4
    cfg = load_config(None, ["SOLVER.ID_LR", "0.02", "SOLVER.JOINT.LR", "0.5"])
    assert cfg.SOLVER.JOINT.LR == 0.5


def test_an_old_key_over_a_base_with_the_new_key_wins_and_says_so(tmp_path):
    (tmp_path / "old.yaml").write_text(f"_BASE_: {os.path.join(CONFIGS, 'market.yaml')}\n"
                                       "SOLVER:\n  BATCH_SIZE: 8\n")
    with pytest.warns(DeprecationWarning, match="replacing the value of SOLVER.GAN_WARMUP.BATCH_SIZE"):
        cfg = load_config(str(tmp_path / "old.yaml"))
    assert cfg.SOLVER.GAN_WARMUP.BATCH_SIZE == cfg.SOLVER.JOINT.BATCH_SIZE == 8


def test_old_and_new_values_are_checked_by_the_same_rules():
    with pytest.raises(ConfigError, match="SOLVER.GAN_WARMUP.BATCH_SIZE must be an integer >= 1"):
        load_config(None, ["SOLVER.BATCH_SIZE", "0"])
    with pytest.raises(ConfigError, match="SOLVER.JOINT.LR_STEPS must be a tuple of epoch"):
        load_config(None, ["SOLVER.JOINT.LR_STEPS", "(1.5,)"])
    with pytest.raises(ConfigError, match="SOLVER.BASELINE.LR_STEP_SIZE must be an integer >= 0"):
        load_config(None, ["SOLVER.BASELINE.STEP_SIZE", "-1"])


def test_renames_point_to_existing_keys_and_leave_other_keys_alone():
    keys = set(valid_keys(get_cfg_defaults()))
    for rename in RENAMES:
        assert rename.old not in keys and set(rename.new) <= keys, rename
    data = {"MODEL": {"BACKBONE": "resnet18"}, "SOLVER": {"LOG_PERIOD": 5}}
    assert rename_mapping(data, "x.yaml") == data
    assert rename_overrides(["SOLVER.LOG_PERIOD", "5"]) == ["SOLVER.LOG_PERIOD", "5"]
