import os

import pytest

from reid.config import ConfigError, get_cfg_defaults, load_config, save_config, valid_keys

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def _write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


@pytest.mark.parametrize("name", ["market.yaml", "duke.yaml", "msmt17.yaml", "duke2market.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(os.path.join(CONFIGS, name))
    assert cfg.MODEL.BACKBONE == "resnet50"
    assert tuple(cfg.INPUT.SIZE) == (256, 128)
    assert cfg.GCL.TEMPERATURE == pytest.approx(0.04)
    assert cfg.SOLVER.GAN_WARMUP.EPOCHS == 40 and cfg.SOLVER.JOINT.EPOCHS == 20


def test_msmt_uses_its_own_rho():
    assert load_config(os.path.join(CONFIGS, "msmt17.yaml")).CLUSTER.RHO == pytest.approx(0.0012)
    assert load_config(os.path.join(CONFIGS, "market.yaml")).CLUSTER.RHO == pytest.approx(0.002)


def test_base_inheritance_chain_and_override_order(tmp_path):
    _write(tmp_path / "a.yaml", "MODEL:\n  BACKBONE: resnet18\n  EMBED_DIM: 256\n")
    _write(tmp_path / "b.yaml", "_BASE_: a.yaml\nMODEL:\n  EMBED_DIM: 128\n")
    cfg = load_config(str(tmp_path / "b.yaml"), ["MODEL.EMBED_DIM", "64"])
    assert cfg.MODEL.BACKBONE == "resnet18"  # from the base
    assert cfg.MODEL.EMBED_DIM == 64  # command line wins over the file, file over the base


def test_unknown_key_in_file_names_key_and_suggestions(tmp_path):
    _write(tmp_path / "bad.yaml", "MODEL:\n  BACKBON: resnet18\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path / "bad.yaml"))
    assert "MODEL.BACKBON" in str(err.value)
    assert "MODEL.BACKBONE" in str(err.value)
    assert "bad.yaml" in str(err.value)


def test_unknown_key_on_command_line_suggests():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["SOLVER.JOINT.LRR", "0.1"])
    assert "SOLVER.JOINT.LRR" in str(err.value) and "SOLVER.JOINT.LR" in str(err.value)


def test_odd_override_list_and_type_mismatch():
    with pytest.raises(ConfigError, match="KEY VALUE"):
        load_config(None, ["MODEL.EMBED_DIM"])
    with pytest.raises(ConfigError, match="EMBED_DIM"):
        load_config(None, ["MODEL.EMBED_DIM", "'large'"])


def test_base_cycle_and_missing_file(tmp_path):
    _write(tmp_path / "x.yaml", "_BASE_: y.yaml\n")
    _write(tmp_path / "y.yaml", "_BASE_: x.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(str(tmp_path / "x.yaml"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_section_given_a_scalar_is_an_error(tmp_path):
    _write(tmp_path / "s.yaml", "MODEL: resnet50\n")
    with pytest.raises(ConfigError, match="section"):
        load_config(str(tmp_path / "s.yaml"))


def test_saved_config_reloads_identically(tmp_path):
    cfg = load_config(os.path.join(CONFIGS, "market.yaml"), ["SEED", "7"])
    path = save_config(cfg, str(tmp_path / "out" / "config.yaml"))
    again = load_config(path)
    assert again == cfg
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".tmp")]


def test_defaults_are_fresh_copies():
    a = get_cfg_defaults()
    a.MODEL.BACKBONE = "changed"
    assert get_cfg_defaults().MODEL.BACKBONE == "resnet50"
    assert "GCL.NUM_NEGATIVES" in valid_keys(a)


def test_integers_are_accepted_where_the_default_is_a_float(tmp_path):
    """``GCL.TEMPERATURE 1`` / ``TEMPERATURE: 1`` mean 1.0; a float default stays a float, an
    integer key still refuses a float and a string, and a bool is not widened."""
    cfg = load_config(None, ["GCL.TEMPERATURE", "1"])
    assert cfg.GCL.TEMPERATURE == 1.0 and isinstance(cfg.GCL.TEMPERATURE, float)
    path = _write(tmp_path / "c.yaml", "GCL:\n  TEMPERATURE: 2\n")
    from_file = load_config(path, [])
    assert from_file.GCL.TEMPERATURE == 2.0 and isinstance(from_file.GCL.TEMPERATURE, float)
    with pytest.raises(ConfigError, match="TEMPERATURE"):
        load_config(None, ["GCL.TEMPERATURE", "'warm'"])
    with pytest.raises(ConfigError, match="TEMPERATURE"):
        load_config(None, ["GCL.TEMPERATURE", "True"])
    with pytest.raises(ConfigError, match="EMBED_DIM"):
        load_config(None, ["MODEL.EMBED_DIM", "2.5"])
