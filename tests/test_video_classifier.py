"""The project's action classifier and its scores: training on a tiny synthetic clip set beats
chance on held-out clips, FCD / the classifier score / action accuracy behave, checkpoints round
trip and bad ones are named, the StyleGAN-V TorchScript I3D path, and the evaluation wiring."""
import json
import os
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from generators.metrics import (ActionClassifier, TorchScriptI3D, action_accuracy,
                                classifier_score, extract_features, frechet_classifier_distance,
                                fvd, inception_style_score, is_torchscript_file,
                                load_feature_network, map_labels)
from generators.metrics.action_classifier import (CHECKPOINT_KEYS, build_action_classifier,
                                                  checkpoint_entries, frame_indices)
from generators.metrics.classifier_training import (load_labelled_clips, split_clips,
                                                    train_action_classifier)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools import eval_video_gan, train_video_classifier  # noqa: E402

ACTIONS = ("walk", "wave_two_hands", "bend", "jumping_jack")
HELD_OUT = 0.25         # 2 of the 8 clips of each action
TINY = dict(input_size=32, num_frames=8, width=8, batch_size=4, lr=3e-3)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Small tensors: one thread is faster than several contending for shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clip_root(tmp_path_factory):
    """8 clips of each of 4 actions, 16 frames of 32x32 (labels over all 8 actions)."""
    from generators.action_clips import make_action_clips

    root = tmp_path_factory.mktemp("clips")
    make_action_clips(str(root), clips_per_action=8, seed=3, num_frames=16, image_size=32,
                      actions=ACTIONS, progress=False)
    return str(root)


@pytest.fixture(scope="module")
def trained(clip_root, tmp_path_factory):
    """(loaded clips, training result, checkpoint path) of one short training run."""
    out = str(tmp_path_factory.mktemp("classifier") / "classifier.pth")
    clips = load_labelled_clips(clip_root)
    result = train_action_classifier(clip_root, out, epochs=30, seed=0,
                                     held_out_fraction=HELD_OUT, clips=clips, **TINY)
    return clips, result, out


def test_training_beats_chance_on_held_out_clips(trained):
    clips, result, out = trained
    assert clips.class_names[:2] == ["walk", "run"] and len(clips.class_names) == 8
    assert result["num_held_out"] == 8 and result["num_train"] == 24
    chance = 1 / len(ACTIONS)
    assert result["held_out_accuracy"] >= chance + 0.25, result
    assert result["train_accuracy"] >= result["held_out_accuracy"] - 0.25
    assert os.path.getsize(out) > 0


def test_split_is_per_class_deterministic_and_disjoint():
    labels = np.repeat(np.arange(4), 5)
    train, held = split_clips(labels, 0.4, seed=7)
    again = split_clips(labels, 0.4, seed=7)
    assert np.array_equal(train, again[0]) and np.array_equal(held, again[1])
    assert not set(train) & set(held) and len(train) + len(held) == 20
    assert np.bincount(labels[held]).tolist() == [2, 2, 2, 2]
    assert not np.array_equal(held, split_clips(labels, 0.4, seed=8)[1])
    assert np.bincount(labels[split_clips(labels, 0.01)[1]]).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="held_out_fraction 1.5"):
        split_clips(labels, 1.5)


def test_action_accuracy_of_held_out_clips_is_the_reported_accuracy(trained):
    clips, result, out = trained
    network = load_feature_network("action_classifier", out)
    _, held = split_clips(clips.labels.numpy(), HELD_OUT, seed=0)
    accuracy = action_accuracy(network, clips.float_videos(held), clips.labels[held],
                               batch_size=3)
    assert accuracy == pytest.approx(result["held_out_accuracy"], abs=1e-9)
    entries = torch.load(out, weights_only=True)
    assert entries["held_out_clips"] == [clips.names[i] for i in held]
    assert entries["held_out_accuracy"] == pytest.approx(accuracy)
    with pytest.raises(ValueError, match="3 labels for 8 clips"):
        action_accuracy(network, clips.float_videos(held), [0, 1, 2])


def test_fcd_of_a_set_with_itself_is_zero_and_noise_is_far(trained):
    clips, _, out = trained
    network = load_feature_network("action_classifier", out)
    real = clips.float_videos()
    first, second = real[0::2], real[1::2]   # two halves, every action in both
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(real.shape, generator=gen) * 2 - 1
    same = frechet_classifier_distance(network, real, real)
    halves = frechet_classifier_distance(network, first, second)
    to_noise = frechet_classifier_distance(network, real, noise)
    assert abs(same) < 1e-6 * max(1.0, to_noise)
    assert to_noise > 3 * halves > 0, (to_noise, halves)


def test_classifier_score_lies_between_one_and_the_class_count(trained):
    clips, _, out = trained
    network = load_feature_network("action_classifier", out)
    mean, std = classifier_score(network, clips.float_videos(), splits=2)
    assert 1.0 <= mean <= network.num_classes and std >= 0
    one_hot = np.eye(8)[np.arange(16) % 8]   # confident and spread: the maximum
    assert inception_style_score(one_hot)[0] == pytest.approx(8.0, rel=1e-6)
    assert inception_style_score(np.full((6, 8), 1 / 8))[0] == pytest.approx(1.0)
    assert inception_style_score(np.tile(one_hot[:1], (5, 1)))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="splits 20"):
        inception_style_score(one_hot, splits=20)


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    model = ActionClassifier(3, ["a", "b", "c"], input_size=16, num_frames=4, width=2).eval()
    path = tmp_path / "c.pth"
    torch.save(checkpoint_entries(model, held_out_accuracy=0.5), path)
    loaded = load_feature_network("action_classifier", str(path))
    assert loaded.class_names == ["a", "b", "c"] and loaded.feature_dim == 16
    assert (loaded.input_size, loaded.num_frames) == (16, 4)
    clips = torch.rand(3, 3, 7, 20, 12) * 2 - 1     # any length and frame size
    assert model.preprocess(clips).shape == (3, 3, 4, 16, 16)
    a, b = extract_features(model, clips), extract_features(loaded, clips)
    assert a.shape == (3, 16) and np.allclose(a, b, atol=1e-6)
    assert frame_indices(8, 4).tolist() == [0, 2, 5, 7]
    assert frame_indices(2, 4).tolist() == [0, 0, 1, 1]


def test_bad_checkpoint_errors_name_the_file_and_the_keys(tmp_path):
    partial = tmp_path / "partial.pth"
    torch.save({"state_dict": {}, "input_size": 32}, partial)
    with pytest.raises(ValueError) as err:
        load_feature_network("action_classifier", str(partial))
    message = str(err.value)
    assert str(partial) in message
    assert all(key in message for key in ("class_names", "num_frames", "feature_dim", "width"))
    model = ActionClassifier(2, width=2)
    wrong = checkpoint_entries(model)
    wrong["state_dict"] = {k: v for k, v in wrong["state_dict"].items() if not k.startswith("fc")}
    wrong["state_dict"]["head.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['fc.weight', 'fc.bias'\].*head.weight"):
        build_action_classifier(wrong, where="wrong.pth")
    with pytest.raises(FileNotFoundError, match="train_video_classifier"):
        load_feature_network("action_classifier", str(tmp_path / "absent.pth"))
    assert set(CHECKPOINT_KEYS) <= set(checkpoint_entries(model))


def test_labels_are_matched_to_the_classifier_classes_by_name():
    network = ActionClassifier(3, ["walk", "run", "bend"], width=2)
    assert map_labels([0, 1, 2], ["bend", "walk", "run"], network).tolist() == [2, 0, 1]
    assert map_labels(torch.tensor([2, 0]), None, network).tolist() == [2, 0]
    with pytest.raises(ValueError, match="jump"):
        map_labels([0], ["jump", "walk"], network)


# ----------------------------------------------------------------------- TorchScript I3D
class TinyDetector(torch.nn.Module):
    """The call signature of the StyleGAN-V ``i3d_torchscript.pt``: (B, 3, T, H, W) in [0, 255],
    ``rescale`` to [-1, 1], ``resize`` to 224x224, ``return_features`` -> (B, 400); like the real
    one it refuses clips shorter than 9 frames."""

    def __init__(self):
        super().__init__()
        self.register_buffer("projection", torch.randn(400, 6, generator=torch.Generator()
                                                      .manual_seed(1)))

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if x.shape[2] < 9:
            raise RuntimeError("temporal pooling needs at least 9 frames")
        if rescale:
            x = x / 127.5 - 1
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear",
                              align_corners=False)
        stats = torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1)
        features = stats @ self.projection.t()
        if return_features:
            return features
        return torch.softmax(features, dim=1)


@pytest.fixture
def torchscript_file(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated in new torch; the file is one
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(TinyDetector()), str(path))
    return str(path)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_i3d_is_called_like_stylegan_v(torchscript_file, tmp_path):
    assert is_torchscript_file(torchscript_file)
    network = load_feature_network("i3d_torchscript", torchscript_file)
    assert isinstance(network, TorchScriptI3D)
    frames = torch.randint(0, 256, (2, 3, 12, 16, 16), dtype=torch.uint8)
    clips = frames.float() / 127.5 - 1                    # as the clip readers make them
    x = network.preprocess(clips)
    assert x.dtype == torch.float32 and torch.equal(x, frames.float())  # the uint8 values back
    features = extract_features(network, clips, batch_size=1)
    reference = torch.jit.load(torchscript_file)(frames.float(), rescale=True, resize=True,
                                                 return_features=True)
    assert features.shape == (2, 400) and np.allclose(features, reference.numpy(), atol=1e-4)
    short = torch.rand(2, 3, 4, 16, 16) * 2 - 1           # 4 frames are repeated to 9
    assert network.preprocess(short).shape[2] == 9
    assert fvd(network, short, short) == pytest.approx(0.0, abs=1e-3)
    state = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(1)}, state)
    assert not is_torchscript_file(str(state))
    with pytest.raises(ValueError, match=r"state\.pt is not a TorchScript module"):
        load_feature_network("i3d_torchscript", str(state))
    with pytest.raises(FileNotFoundError, match="i3d_torchscript.pt"):
        load_feature_network("i3d_torchscript", str(tmp_path / "absent.pt"))


# ----------------------------------------------------------------------- evaluation wiring
def _imaginator_config(clip_root, tmp_path):
    path = tmp_path / "imaginator_tiny.yaml"
    path.write_text(
        f"OUTPUT_DIR: {tmp_path / 'run'}\n"
        "MODEL:\n  NAME: imaginator\n  NUM_CLASSES: 8\n  BASE_CHANNELS: 4\n  Z_DIM: 8\n"
        "  LATENT_DIM: 5\n  IMAGE_SIZE: 32\n  DEVICE: cpu\n"
        f"DATA:\n  SOURCE: frames\n  ROOT: {clip_root}\n  STRIDE_MAX: 1\n")
    return str(path)


def test_evaluation_reports_the_classifier_scores(trained, clip_root, torchscript_file,
                                                  tmp_path):
    from generators.config import load_generator_config
    from generators.data import build_dataset
    from generators.evaluation import evaluate_generator
    from generators.sampling import build_generator

    _, _, out = trained
    config = _imaginator_config(clip_root, tmp_path)
    cfg = load_generator_config(config)
    generator = build_generator(cfg).eval()
    dataset = build_dataset(cfg)
    scores = evaluate_generator(generator, cfg, dataset, num_videos=6, batch_size=3,
                                i3d_weights=torchscript_file, classifier_weights=out)
    assert {"fvd", "fcd", "classifier_score", "action_accuracy", "action_accuracy_real",
            "classifier_score_real"} <= set(scores)
    assert scores["fcd"] > 0 and 1 <= scores["classifier_score"] <= 8
    assert 0 <= scores["action_accuracy"] <= 1 and 0 <= scores["action_accuracy_real"] <= 1

    weights = tmp_path / "generator.pth"
    torch.save({"G": generator.state_dict(), "model": "imaginator"}, weights)
    argv = ["--config", config, "--weights", str(weights), "--num-videos", "4",
            "--batch-size", "2", "--classifier-weights", out]
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        eval_video_gan.main(argv)
    result = json.loads(printed.getvalue().strip().splitlines()[-1])
    assert result["num_videos"] == 4 and "fcd" in result and "action_accuracy" in result


def test_training_tool_prints_accuracy_and_a_json_line(clip_root, tmp_path, capsys):
    out = tmp_path / "tool.pth"
    train_video_classifier.main(["--clips", clip_root, "--out", str(out), "--epochs", "1",
                                 "--size", "32", "--frames", "8", "--width", "4",
                                 "--held-out", str(HELD_OUT), "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("held-out accuracy: ") for line in lines)
    result = json.loads(lines[-1])
    assert result["num_held_out"] == 8 and 0 <= result["held_out_accuracy"] <= 1
    assert load_feature_network("action_classifier", str(out)).num_frames == 8
