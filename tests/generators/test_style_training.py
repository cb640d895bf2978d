"""InMoDeGAN and MoStGAN-V through the common config, training loop and sampling tool."""
import json
import os
import sys

import pytest
import torch
from torch.utils.data import Dataset

from generators.config import ConfigError, load_generator_config
from generators.stylegan import AdversarialTrainer
from generators.training import build_generator, build_trainer
from common.serialization import load_checkpoint_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tools import sample_video  # noqa: E402


class TinyClips(Dataset):
    """Random clips (B, 3, T, 16, 16) in [-1, 1]."""

    def __init__(self, count=4, frames=4, size=16):
        gen = torch.Generator().manual_seed(0)
        self.videos = torch.rand(count, 3, frames, size, size, generator=gen) * 2 - 1

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, i):
        return {"video": self.videos[i], "label": -1, "index": i}


TINY = ["MODEL.IMAGE_SIZE", "16", "MODEL.NUM_FRAMES", "4", "MODEL.ZA_DIM", "8",
        "MODEL.ZM_DIM", "8", "MODEL.Z_DIM", "8", "MODEL.STYLE.W_DIM", "8",
        "MODEL.STYLE.MAPPING_LAYERS", "1", "MODEL.STYLE.CHANNEL_BASE", "64",
        "MODEL.STYLE.CHANNEL_MAX", "8", "MODEL.INMODEGAN.NUM_DIRECTIONS", "4",
        "MODEL.INMODEGAN.TEMPORAL_LEVELS", "2", "MODEL.MOSTGANV.NUM_FREQS", "4",
        "MODEL.MOSTGANV.MOTION_DIM", "4", "MODEL.MOSTGANV.NUM_STYLES", "2",
        "MODEL.MOSTGANV.TRAJECTORY_KERNEL", "3", "MODEL.MOSTGANV.ANCHOR_SPACING", "2.0",
        "MODEL.MOSTGANV.SPARSE_FRAMES", "2", "SOLVER.BATCH_SIZE", "2",
        "SOLVER.R1_INTERVAL", "2", "SOLVER.EMA_DECAY", "0.9", "SOLVER.CHECKPOINT_PERIOD", "1",
        "SOLVER.SAMPLE_PERIOD", "2", "SOLVER.LOG_PERIOD", "1", "MODEL.DEVICE", "cpu"]


def tiny_config(tmp_path, name, extra=()):
    base = f"configs/generators/{name}.yaml"
    return load_generator_config(base, [*TINY, "OUTPUT_DIR", str(tmp_path / name), *extra])


# InMoDeGAN's tiny steps take seconds each on CPU with oneDNN convolutions (~25 s in all)
@pytest.mark.parametrize("name", [pytest.param("inmodegan", marks=pytest.mark.slow), "mostganv"])
def test_train_two_steps_then_resume(tmp_path, name):
    cfg = tiny_config(tmp_path, name)
    data = TinyClips()
    trainer = build_trainer(cfg, dataset=data)
    assert isinstance(trainer.model, AdversarialTrainer)
    stats = trainer.train(max_iters=2, progress=False)
    assert {"loss_d", "loss_g", "loss_g_adv"} <= set(stats)
    out = cfg.OUTPUT_DIR
    for rel in ("checkpoint_last.pth", "generator_final.pth", "samples/iter_0000002.gif",
                "samples/iter_0000002.png"):
        assert os.path.getsize(os.path.join(out, rel)) > 0, rel
    resumed = build_trainer(cfg, dataset=data)
    resumed.load_checkpoint(resumed.checkpoint_path)
    assert resumed.iteration == 2
    for key, value in trainer.model.state_dict()["generator"].items():
        assert torch.equal(value, resumed.model.state_dict()["generator"][key]), key
    for key, value in trainer.sampling_generator.state_dict().items():
        assert torch.equal(value, resumed.sampling_generator.state_dict()[key]), key
    resumed.train(max_iters=3, progress=False)
    assert resumed.iteration == 3
    # the final weights load into the bare generator of the same config
    state = load_checkpoint_file(os.path.join(out, "generator_final.pth"), trust_pickle=False)
    build_generator(cfg).load_state_dict(state["G"])


def test_inmodegan_sampling_tool_directions_and_statistics(tmp_path):
    cfg = tiny_config(tmp_path, "inmodegan")
    generator = build_generator(cfg)
    weights = str(tmp_path / "g.pth")
    torch.save({"model": "inmodegan", "G": generator.state_dict()}, weights)
    out = tmp_path / "samples"
    sample_video.main(["--config", "configs/generators/inmodegan.yaml", "--weights", weights,
                       "--out", str(out), "--inactive", "1", "--stats-directions", "0", "2",
                       "--count", "2", "--num-frames", "6", *TINY])
    names = set(os.listdir(out))
    assert {"samples.gif", "samples.mp4", "samples.png", "samples_directions_edited.gif",
            "motion_statistics.json"} <= names
    stats = json.loads((out / "motion_statistics.json").read_text())
    assert set(stats["directions"]) == {"0", "2"}
    assert len(stats["directions"]["0"]["original"]["phi"]) == 4


def test_mostganv_sampling_tool_any_length(tmp_path):
    from generators.mostganv import mostganv_samples

    cfg = tiny_config(tmp_path, "mostganv")
    generator = build_generator(cfg).eval()
    assert mostganv_samples(generator, 2, 7).shape == (2, 3, 7, 16, 16)
    weights = str(tmp_path / "g.pth")
    torch.save({"model": "mostganv", "G": generator.state_dict()}, weights)
    out = tmp_path / "samples"
    sample_video.main(["--config", "configs/generators/mostganv.yaml", "--weights", weights,
                       "--out", str(out), "--count", "2", "--num-frames", "5", *TINY])
    assert os.path.getsize(out / "samples.gif") > 0
    with pytest.raises(ValueError, match="InMoDeGAN"):
        mostganv_samples(generator, 1, 3, active=[0])


def test_style_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="MODEL.IMAGE_SIZE"):
        tiny_config(tmp_path, "inmodegan", ["MODEL.IMAGE_SIZE", "24"])
    with pytest.raises(ConfigError, match="NUM_DIRECTIONS"):
        tiny_config(tmp_path, "inmodegan", ["MODEL.INMODEGAN.NUM_DIRECTIONS", "16"])
    with pytest.raises(ConfigError, match="SPARSE_FRAMES"):
        tiny_config(tmp_path, "mostganv", ["MODEL.MOSTGANV.SPARSE_FRAMES", "9"])
    for name in ("inmodegan", "mostganv"):
        for suffix in ("", "_synthetic"):
            load_generator_config(f"configs/generators/{name}{suffix}.yaml")
