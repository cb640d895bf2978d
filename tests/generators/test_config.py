"""Generator configs: every shipped YAML loads; unknown keys and bad values are named."""
import glob
import os

import pytest

from generators.config import ConfigError, load_generator_config
from generators.registry import available_video_gans, get_video_gan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "generators",
                                                               "*.yaml"))))
def test_shipped_configs_load(path):
    cfg = load_generator_config(path)
    assert cfg.MODEL.NAME in available_video_gans()
    if "synthetic" in path:
        assert cfg.DATA.SOURCE == "synthetic"
        # the conditional models use the 8 action labels; the style-based ones are unconditional
        style = get_video_gan(cfg.MODEL.NAME).family == "style"
        assert cfg.MODEL.NUM_CLASSES == (0 if style else 8)


def test_base_inheritance_and_overrides():
    cfg = load_generator_config(os.path.join(ROOT, "configs/generators/g3an_synthetic.yaml"),
                                ["SOLVER.MAX_ITERS", "7"])
    assert cfg.SOLVER.MAX_ITERS == 7 and cfg.MODEL.ZA_DIM == 128  # from g3an.yaml
    assert tuple(cfg.SOLVER.BETAS) == (0.5, 0.999)


def test_unknown_key_and_bad_value(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  NAMES: g3an\n")
    with pytest.raises(ConfigError, match="MODEL.NAMES"):
        load_generator_config(str(bad))
    with pytest.raises(ConfigError, match="MODEL.NAME"):
        load_generator_config(None, ["MODEL.NAME", "vgan"])
    with pytest.raises(ConfigError, match="SOLVER.PROGRESS is 'quiet'"):
        load_generator_config(None, ["SOLVER.PROGRESS", "quiet"])
