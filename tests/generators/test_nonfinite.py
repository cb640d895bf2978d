"""Video-GAN training stops on non-finite losses and never saves non-finite weights (the last
good checkpoint stays); tools/train_video_gan.py exits non-zero; NaN generator weights are
refused by load_generator and tools/generate_views.py, naming the file and the tensors."""
import importlib.util
import os

import pytest
import torch
from torch.utils.data import Dataset

from common.finite import NonFiniteWeightsError, non_finite_tensors
from generators.config import load_generator_config
from generators.sampling import load_generator
from generators.stylegan import AdversarialTrainer
from generators.train_loop import CHECKPOINT_NAME, FINAL_NAME, VideoGANDivergedError
from generators.training import VideoGANTrainer, build_generator, build_trainer
from reid.data import make_toy_reid_folder
from tests.generators.test_style_training import TinyClips, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPLODING_LR = 1e30  # one Adam step: |w| ~ 1e30, the next forward pass is NaN
TINY_IMAGINATOR = ["MODEL.NAME", "imaginator", "MODEL.NUM_CLASSES", "2", "MODEL.IMAGE_SIZE", "32",
                   "MODEL.BASE_CHANNELS", "2", "MODEL.Z_DIM", "4", "MODEL.LATENT_DIM", "4",
                   "MODEL.VIDEO_D", "3d", "SOLVER.BATCH_SIZE", "2", "SOLVER.CHECKPOINT_PERIOD", "2",
                   "SOLVER.SAMPLE_PERIOD", "1000", "SOLVER.LOG_PERIOD", "1000",
                   "SOLVER.RESUME", "False", "DATA.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu"]


class Clips(Dataset):
    """Two labelled random clips of 32 frames of 32 x 32 in [-1, 1]."""

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.videos = torch.rand(2, 3, 32, 32, 32, generator=gen) * 2 - 1

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, i):
        return {"video": self.videos[i], "label": i % 2, "index": i}


def _imaginator_cfg(tmp_path, *extra):
    return load_generator_config(None, [*TINY_IMAGINATOR, "OUTPUT_DIR", str(tmp_path / "run"),
                                        *extra])


def _bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def _explode(optimizer):
    for group in optimizer.param_groups:
        group["lr"] = EXPLODING_LR


def test_diverging_losses_stop_the_loop_and_keep_the_last_good_files(tmp_path):
    torch.manual_seed(0)
    trainer = VideoGANTrainer(_imaginator_cfg(tmp_path), dataset=Clips())
    trainer.train(max_iters=2, progress=False)
    out = trainer.output_dir
    saved = {name: _bytes(os.path.join(out, name)) for name in (CHECKPOINT_NAME, FINAL_NAME)}
    _explode(trainer.model.opt_D)
    with pytest.raises(VideoGANDivergedError) as err:
        trainer.train(max_iters=4, progress=False)
    message = str(err.value)
    assert "non-finite loss" in message and "G_" in message
    assert os.path.join(out, CHECKPOINT_NAME) in message and "is kept" in message
    for name, data in saved.items():  # neither file was overwritten
        assert _bytes(os.path.join(out, name)) == data, name
    assert non_finite_tensors(trainer.G) == []  # stopped before the generator's step


def test_non_finite_or_exploded_weights_are_never_saved(tmp_path):
    torch.manual_seed(0)
    trainer = VideoGANTrainer(_imaginator_cfg(tmp_path), dataset=Clips())
    good = trainer.save_checkpoint()
    before = _bytes(good)
    name, weight = next(iter(trainer.G.named_parameters()))
    with torch.no_grad():
        kept = weight.clone()
        weight.fill_(float("nan"))
    with pytest.raises(NonFiniteWeightsError) as err:
        trainer.save_checkpoint()
    assert err.value.names[0] == f"G.{name}" and f"G.{name}" in str(err.value)
    assert good in str(err.value) and "is kept" in str(err.value)
    with pytest.raises(NonFiniteWeightsError, match=FINAL_NAME):
        trainer.save_final_generator()
    with torch.no_grad():  # finite but exploded: the fixed samples are NaN
        weight.copy_(kept)
        for parameter in trainer.G.parameters():
            parameter.mul_(EXPLODING_LR)
    assert non_finite_tensors(trainer.network_weights()) == []
    with pytest.raises(NonFiniteWeightsError, match="exploded"):
        trainer.save_checkpoint()
    assert _bytes(good) == before
    assert not os.path.exists(os.path.join(trainer.output_dir, FINAL_NAME))


def test_style_trainer_stops_on_non_finite_losses(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, "mostganv", ["SOLVER.RESUME", "False"])
    trainer = build_trainer(cfg, dataset=TinyClips())
    assert isinstance(trainer.model, AdversarialTrainer)
    trainer.train(max_iters=1, progress=False)
    checkpoint = os.path.join(cfg.OUTPUT_DIR, CHECKPOINT_NAME)
    before = _bytes(checkpoint)
    _explode(trainer.model.d_optimizer)
    _explode(trainer.model.g_optimizer)
    with pytest.raises(VideoGANDivergedError) as err:  # the loop checks every step's losses
        trainer.train(max_iters=3, progress=False)
    assert "non-finite loss at iteration 2" in str(err.value)
    assert checkpoint in str(err.value) and "is kept" in str(err.value)
    assert _bytes(checkpoint) == before


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}_nonfinite",
                                                  os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_video_gan_exits_non_zero_when_training_diverges(tmp_path, monkeypatch, capsys):
    tool = _tool("train_video_gan")
    monkeypatch.setattr(tool, "build_trainer", lambda cfg: VideoGANTrainer(cfg, dataset=Clips()))
    torch.manual_seed(0)
    code = tool.main(["--config", os.path.join(ROOT, "configs", "generators", "imaginator.yaml"),
                      "--no-progress", *TINY_IMAGINATOR, "OUTPUT_DIR", str(tmp_path / "run"),
                      "SOLVER.D_LR", str(EXPLODING_LR), "SOLVER.MAX_ITERS", "3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "train_video_gan.py: error:" in err and "non-finite loss" in err
    assert "no checkpoint was written" in err
    assert not os.path.exists(tmp_path / "run" / CHECKPOINT_NAME)
    assert not os.path.exists(tmp_path / "run" / FINAL_NAME)


@pytest.fixture
def nan_generator(tmp_path):
    """A generator_final.pth of the tiny ReID ImaGINator whose first tensor is NaN, and the
    matching config file."""
    base = os.path.join(ROOT, "configs", "generators", "imaginator_reid_synthetic.yaml")
    config = tmp_path / "tiny.yaml"
    config.write_text(f"_BASE_: {base}\nMODEL:\n  BASE_CHANNELS: 2\n  Z_DIM: 8\n"
                      "  LATENT_DIM: 4\n")
    torch.manual_seed(0)
    state = build_generator(load_generator_config(str(config))).state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    path = str(tmp_path / FINAL_NAME)
    torch.save({"model": "imaginator", "G": state}, path)
    return str(config), path, first


def test_load_generator_refuses_non_finite_weights(nan_generator):
    config, path, tensor = nan_generator
    with pytest.raises(NonFiniteWeightsError) as err:
        load_generator(load_generator_config(config), path)
    assert path in str(err.value) and tensor in str(err.value) and err.value.names == [tensor]


def test_generate_views_refuses_non_finite_weights_and_writes_nothing(nan_generator, tmp_path,
                                                                     capsys):
    config, path, tensor = nan_generator
    root = make_toy_reid_folder(str(tmp_path / "toy"), num_ids=4, num_cameras=2,
                                images_per_id_per_camera=1)
    out = tmp_path / "views"
    code = _tool("generate_views").main([
        "--dataset-root", root, "--dataset-name", "market1501", "--generator-config", config,
        "--weights", path, "--out", str(out), "--device", "cpu", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "generate_views.py: error:" in err and path in err and tensor in err
    assert not os.path.exists(out / "bounding_box_train")
