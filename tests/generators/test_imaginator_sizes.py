"""ImaGINator at non-square frame sizes (128x64 person crops), and 64x64 left as the table."""
import pytest
import torch

from generators.config import ConfigError, frame_size, load_generator_config
from generators.discriminators import (ImageDiscriminator, VideoDiscriminator2Plus1D,
                                       VideoDiscriminator3D)
from generators.imaginator import ImaginatorGenerator
from generators.layers import count_parameters
from generators.registry import get_video_gan
from generators.training import VideoGANTrainer
from generators.video_dataset import resize_and_crop


def test_64x64_is_unchanged_by_the_size_option():
    torch.manual_seed(0)
    default = ImaginatorGenerator(4, 4, 8, 8)
    torch.manual_seed(0)
    explicit = ImaginatorGenerator(4, 4, 8, 8, image_size=(64, 64))
    assert count_parameters(default) == count_parameters(explicit)
    assert default.encoder.blocks[-1][0].weight.shape[-2:] == (4, 4)
    for (name, a), b in zip(default.state_dict().items(), explicit.state_dict().values()):
        assert torch.equal(a, b), name
    # paper widths: the parameter count of table 3.1 at 64x64
    assert count_parameters(ImaginatorGenerator(8, 64, 512, 100)) == 75_454_800


def test_128x64_generator_and_discriminators_forward_backward():
    torch.manual_seed(0)
    g = ImaginatorGenerator(3, 2, 8, 4, image_size=(128, 64))
    image = torch.rand(2, 3, 128, 64) * 2 - 1
    labels = torch.tensor([0, 2])
    video = g(image, labels, torch.randn(2, 8))
    assert video.shape == (2, 3, 32, 128, 64) and video.abs().max() <= 1
    d_i = ImageDiscriminator(2, image_size=(128, 64))
    d_v = VideoDiscriminator3D(2, 3, image_size=(128, 64))
    d_v2 = VideoDiscriminator2Plus1D(2, 3, image_size=(128, 64))
    score = d_i(video[:, :, 0]).sum() + d_v(video, labels).sum() + d_v2(video[:, :, :16], labels).sum()
    assert d_i(video[:, :, 0]).shape == (2,) and d_v(video, labels).shape == (2,)
    assert d_v2(video[:, :, :16], labels).shape == (2,)
    score.backward()
    assert g.encoder.blocks[0][0].weight.grad.abs().sum() > 0
    assert g.decoder[0].body[-3].weight.shape[-2:] == (8, 4)  # Deconv6: 1x1 -> 8x4


def test_size_errors_name_the_expected_shape():
    g = ImaginatorGenerator(0, 2, 8, 4, image_size=(128, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, 128, 64\)"):
        g(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="multiples of 16"):
        ImaginatorGenerator(0, 2, 8, 4, image_size=(100, 64))
    with pytest.raises(ValueError, match="128x64"):
        ImageDiscriminator(2, image_size=(128, 64))(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ConfigError, match="multiples of 16"):
        load_generator_config(None, ["MODEL.NAME", "imaginator", "MODEL.IMAGE_SIZE", "120"])
    with pytest.raises(ConfigError, match="G3AN"):
        load_generator_config(None, ["MODEL.NAME", "g3an", "MODEL.IMAGE_WIDTH", "32"])


def test_person_crop_config_and_rectangular_crop():
    cfg = load_generator_config("configs/generators/imaginator_reid_synthetic.yaml")
    assert frame_size(cfg) == (128, 64)
    nets = get_video_gan("imaginator").build_trainer(cfg, "cpu")
    assert nets.G.image_size == (128, 64) and nets.D_I.image_size == (128, 64)
    video = torch.rand(3, 2, 64, 64) * 2 - 1  # square 64x64 clip -> covers 128x64, centre crop
    out = resize_and_crop(video, 64, (128, 64))
    assert out.shape == (3, 2, 128, 64)
    same = torch.rand(3, 2, 128, 64)
    assert torch.equal(resize_and_crop(same, 64, (128, 64)), same)
    assert resize_and_crop(torch.rand(3, 2, 80, 64), 64, 64).shape == (3, 2, 64, 64)


def test_a_training_step_at_128x64(tmp_path):
    cfg = load_generator_config(None, [
        "OUTPUT_DIR", str(tmp_path), "MODEL.NAME", "imaginator", "MODEL.NUM_CLASSES", "2",
        "MODEL.IMAGE_SIZE", "128", "MODEL.IMAGE_WIDTH", "64", "MODEL.BASE_CHANNELS", "2",
        "MODEL.Z_DIM", "8", "MODEL.LATENT_DIM", "4", "MODEL.VIDEO_D", "3d",
        "MODEL.IMAGE_D_FRAMES", "2", "SOLVER.BATCH_SIZE", "2", "MODEL.DEVICE", "cpu"])
    torch.manual_seed(0)
    clips = [{"video": torch.rand(3, 32, 128, 64) * 2 - 1, "label": i, "index": i}
             for i in range(2)]
    trainer = VideoGANTrainer(cfg, dataset=clips)
    batch = {"video": torch.stack([c["video"] for c in clips]), "label": torch.tensor([0, 1])}
    stats = trainer.step(batch)
    assert trainer.iteration == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
