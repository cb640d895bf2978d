"""A few optimisation steps on synthetic clips; checkpoints resume; samples are written."""
import os

import pytest
import torch
from torch.utils.data import Dataset

from generators.config import load_generator_config
from generators.training import VideoGANTrainer


class MovingSquares(Dataset):
    """Labelled synthetic clips: a square moving right (label 0) or down (label 1)."""

    def __init__(self, count=4, frames=32):
        self.items = []
        for i in range(count):
            video = -torch.ones(3, frames, 64, 64)
            label = i % 2
            for t in range(frames):
                p = 8 + t
                if label == 0:
                    video[:, t, 20:36, p:p + 16] = 1
                else:
                    video[:, t, p:p + 16, 20:36] = 1
            self.items.append({"video": video, "label": label, "index": i})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _cfg(tmp_path, name, extra=()):
    opts = ["OUTPUT_DIR", str(tmp_path / name), "MODEL.NAME", name, "MODEL.NUM_CLASSES", "2",
            "MODEL.BASE_CHANNELS", "4", "MODEL.Z_DIM", "8", "MODEL.LATENT_DIM", "8",
            "SOLVER.BATCH_SIZE", "2", "SOLVER.G_LR", "2e-3", "SOLVER.RECON_WEIGHT", "50.0",
            "SOLVER.CHECKPOINT_PERIOD", "2", "SOLVER.SAMPLE_PERIOD", "2", "SOLVER.LOG_PERIOD", "1",
            "MODEL.DEVICE", "cpu", *extra]
    return load_generator_config(None, opts)


def test_imaginator_steps_lower_reconstruction_loss(tmp_path):
    cfg = _cfg(tmp_path, "imaginator", ["MODEL.VIDEO_D", "3d", "MODEL.IMAGE_D_FRAMES", "2"])
    data = MovingSquares(2, 32)
    trainer = VideoGANTrainer(cfg, dataset=data)
    batch = {"video": torch.stack([d["video"] for d in data.items]),
             "label": torch.tensor([d["label"] for d in data.items])}
    losses = [trainer.step(batch)["G_reconstruction_l1"] for _ in range(4)]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 0.01, losses
    assert trainer.iteration == 4


@pytest.mark.parametrize("mode, bar_shown", [("log", False), ("bar", True)])
def test_progress_setting_decides_the_bar(tmp_path, capsys, mode, bar_shown):
    """SOLVER.PROGRESS log: a batch job's log has the plain lines only, no tqdm redraws."""
    cfg = _cfg(tmp_path, "imaginator", ["MODEL.VIDEO_D", "3d", "MODEL.IMAGE_D_FRAMES", "2",
                                        "SOLVER.PROGRESS", mode, "SOLVER.SAMPLE_PERIOD", "100",
                                        "SOLVER.CHECKPOINT_PERIOD", "100"])
    trainer = VideoGANTrainer(cfg, dataset=MovingSquares(2, 32))
    trainer.train(max_iters=1)
    err = capsys.readouterr().err
    assert ("train imaginator" in err) == bar_shown, err
    assert trainer.iteration == 1


@pytest.mark.slow  # ~15 s on an idle 2-core CPU, more when shared
def test_g3an_train_loop_checkpoint_resume_and_samples(tmp_path):
    cfg = _cfg(tmp_path, "g3an", ["MODEL.NUM_FRAMES", "16"])
    data = MovingSquares(2, 16)
    trainer = VideoGANTrainer(cfg, dataset=data)
    stats = trainer.train(max_iters=2, progress=False)
    assert {"D_video", "D_image", "G_video", "G_image"} <= set(stats)
    out = cfg.OUTPUT_DIR
    assert os.path.isfile(os.path.join(out, "checkpoint_last.pth"))
    assert os.path.isfile(os.path.join(out, "samples", "iter_0000002.gif"))
    assert os.path.isfile(os.path.join(out, "samples", "iter_0000002.png"))
    assert any(name.startswith("events") for name in os.listdir(os.path.join(out, "tb")))
    resumed = VideoGANTrainer(cfg, dataset=data)
    resumed.load_checkpoint(resumed.checkpoint_path)
    assert resumed.iteration == 2
    for key, value in trainer.G.state_dict().items():
        assert torch.equal(value, resumed.G.state_dict()[key]), key
    # train() continues from the checkpoint rather than starting again
    resumed.train(max_iters=3, progress=False)
    assert resumed.iteration == 3


def test_best_of_samples_l1_keeps_each_clips_closest_fake():
    from generators.losses import best_of_samples_l1, reconstruction_l1

    gen = torch.Generator().manual_seed(0)
    real = torch.rand(3, 3, 4, 8, 8, generator=gen)
    # The closest fakes: clip 0's second (off by 0.05 everywhere), clip 1's first (0.1), clip 2's
    # second (0.3 against 0.5): the loss is the mean of 0.05, 0.1 and 0.3.
    fakes = torch.stack([real[0] + 0.4, real[0] + 0.05, real[1] + 0.1, real[1] - 0.7,
                         real[2] + 0.5, real[2] - 0.3])
    loss = best_of_samples_l1(fakes, real)
    assert loss.item() == pytest.approx((0.05 + 0.1 + 0.3) / 3, abs=1e-6)
    # One fake per clip: the plain per-element L1.
    single = torch.rand(3, 3, 4, 8, 8, generator=gen)
    assert best_of_samples_l1(single, real).item() == pytest.approx(
        reconstruction_l1(single, real).item(), rel=1e-6)
    # Only the closest fake of a clip gets a gradient.
    fakes.requires_grad_(True)
    best_of_samples_l1(fakes, real).backward()
    touched = fakes.grad.flatten(1).abs().sum(1) > 0
    assert touched.tolist() == [False, True, True, False, False, True]
    with pytest.raises(ValueError, match="not K fakes per real clip"):
        best_of_samples_l1(fakes[:5].detach(), real)


def test_imaginator_draws_several_fakes_per_clip_with_their_labels(tmp_path):
    """SOLVER.RECON_SAMPLES 3: 3 fakes per real clip, each from its clip's first frame and label;
    D_V judges them with those labels, and the steps still lower the reconstruction."""
    cfg = _cfg(tmp_path, "imaginator", ["MODEL.VIDEO_D", "3d", "MODEL.IMAGE_D_FRAMES", "2",
                                        "SOLVER.RECON_SAMPLES", "3"])
    data = MovingSquares(2, 32)
    trainer = VideoGANTrainer(cfg, dataset=data)
    batch = {"video": torch.stack([d["video"] for d in data.items]),
             "label": torch.tensor([d["label"] for d in data.items])}
    gan = trainer.model
    inputs = gan.start_step(batch["video"], batch["label"])
    assert inputs["fake"].shape == (6, 3, 32, 64, 64)
    assert inputs["fake_labels"].tolist() == [0, 0, 0, 1, 1, 1]
    assert inputs["labels"].tolist() == [0, 1]
    assert inputs["fake_frames"].shape[0] == 6 * cfg.MODEL.IMAGE_D_FRAMES
    losses = [trainer.step(batch)["G_reconstruction_l1"] for _ in range(4)]
    assert losses[-1] < losses[0] - 0.01, losses


def test_recon_samples_must_be_positive():
    from common.config import ConfigError

    with pytest.raises(ConfigError, match="SOLVER.RECON_SAMPLES is 0"):
        load_generator_config(None, ["MODEL.NAME", "imaginator", "SOLVER.RECON_SAMPLES", "0"])
