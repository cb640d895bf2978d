import os

from reid.config import load_config
from reid.engine.ablation import _describe, ablation_configs, format_ablation_table

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(HERE, "configs", "ablations")


def test_every_ablation_config_loads_and_is_described():
    paths = ablation_configs(FOLDER)
    assert [os.path.basename(p)[0] for p in paths] == list("123456")
    described = [_describe(load_config(p)) for p in paths]
    assert described == ["L_gan", "L_vi^woGAN", "L_vi^woGAN + TDA", "L_gan + L_vi",
                         "L_gan + L_vi + L'_vi", "L_gan + L_vi + L'_vi + L''_vi"]
    for path in paths:
        cfg = load_config(path)
        assert cfg.MODEL.WEIGHTS.endswith("baseline_encoder.pth")
        assert cfg.OUTPUT_DIR.startswith("outputs/ablations/")


def test_table_format():
    table = format_ablation_table([{"setting": "baseline", "mAP": 12.345, "rank1": 50.0,
                                    "rank5": 70.0}])
    assert table.splitlines()[2] == "| baseline | 12.3 | 50.0 | 70.0 |"
