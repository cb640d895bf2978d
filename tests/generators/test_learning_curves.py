"""Learning curves of the video GANs: evaluations during training (SOLVER.EVAL_PERIOD), the
training-time budget (SOLVER.MAX_MINUTES), curves.json across resumes, and the plots."""
import json
import os
import random

import pytest
import torch

from common import atomic_save
from generators.config import ConfigError, load_generator_config
from generators.curves import CurveFileError, LearningCurve, plot_curves
from generators.metrics.action_classifier import ActionClassifier, checkpoint_entries
from generators.training import VideoGANTrainer


@pytest.fixture(scope="module")
def classifier_weights(tmp_path_factory):
    torch.manual_seed(3)
    net = ActionClassifier(2, ["0", "1"], input_size=16, num_frames=4, width=2)
    return atomic_save(checkpoint_entries(net), str(tmp_path_factory.mktemp("clf") / "clf.pth"))


def _cfg(out, weights="", extra=()):
    opts = ["OUTPUT_DIR", str(out), "MODEL.NAME", "imaginator", "MODEL.NUM_CLASSES", "2",
            "MODEL.BASE_CHANNELS", "2", "MODEL.Z_DIM", "8", "MODEL.LATENT_DIM", "8",
            "MODEL.IMAGE_SIZE", "32", "MODEL.NUM_FRAMES", "32", "MODEL.VIDEO_D", "3d",
            "MODEL.IMAGE_D_FRAMES", "2",
            "SOLVER.BATCH_SIZE", "2", "SOLVER.CHECKPOINT_PERIOD", "2",
            "SOLVER.SAMPLE_PERIOD", "100", "SOLVER.LOG_PERIOD", "100", "MODEL.DEVICE", "cpu",
            "SOLVER.EVAL_PERIOD", "2", "EVAL.CLASSIFIER_WEIGHTS", weights,
            "EVAL.NUM_VIDEOS", "4", "EVAL.BATCH_SIZE", "2", *extra]
    return load_generator_config(None, opts)


class MovingSquares(torch.utils.data.Dataset):
    """Labelled 32-frame 32x32 clips: a square moving right (label 0) or down (label 1), each
    read with a random temporal shift drawn from the dataset's own stream (``rng``), as the
    video datasets draw their strides."""

    def __init__(self, count=4, frames=32):
        self.rng = random.Random(0)
        self.items = []
        for i in range(count):
            video = -torch.ones(3, frames, 32, 32)
            for t in range(frames):
                if i % 2 == 0:
                    video[:, t, 10:18, t // 2:t // 2 + 8] = 1
                else:
                    video[:, t, t // 2:t // 2 + 8, 10:18] = 1
            self.items.append({"video": video, "label": i % 2, "index": i})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        return {**item, "video": item["video"].roll(self.rng.randint(0, 3), dims=1)}


def _data():
    return MovingSquares()


def _points(out):
    with open(os.path.join(out, "curves.json")) as handle:
        return json.load(handle)["points"]


def test_curve_points_replace_truncate_and_round_trip(tmp_path):
    curve = LearningCurve("g3an")
    curve.add(0, 0.0, {"fcd": 40.0, "acd_c": 0.1}, 1.5)
    curve.add(10, 60.0, {"fcd": 30.0}, 1.0)
    curve.add(10, 90.0, {"fcd": 20.0}, 1.0)  # the same iteration again replaces the point
    curve.add(5, 30.0, {"fcd": 35.0}, 1.0)
    assert [p["iteration"] for p in curve.points] == [0, 5, 10]
    assert curve.points[-1]["fcd"] == 20.0 and curve.points[-1]["train_minutes"] == 1.5
    summary = curve.summary()
    assert summary["fcd_start"] == 40.0 and summary["fcd_end"] == 20.0
    assert summary["fcd_end_over_start"] == pytest.approx(0.5)
    assert summary["iterations"] == 10 and summary["evaluations"] == 3
    assert summary["fcd_best"] == 20.0 and summary["fcd_best_iteration"] == 10
    assert curve.best_iteration("fcd") == 10 and curve.best_iteration("acd_c") == 0
    assert curve.best_iteration("fcd", lower=False) == 0 and curve.best_iteration("x") is None
    path = curve.save(str(tmp_path / "curves.json"))
    again = LearningCurve.load(path, "g3an")
    assert again.points == curve.points and again.metrics() == ["fcd", "acd_c"]
    assert again.truncate_after(5) == 1 and again.has(5) and not again.has(10)
    assert LearningCurve.load(str(tmp_path / "absent.json"), "g3an").points == []


def test_curve_file_of_another_model_or_shape_is_refused(tmp_path):
    path = LearningCurve("g3an", [{"iteration": 0, "fcd": 1.0}]).save(str(tmp_path / "c.json"))
    with pytest.raises(CurveFileError, match="g3an.*not 'imaginator'"):
        LearningCurve.load(path, "imaginator")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"points": [{"fcd": 1.0}]}))
    with pytest.raises(CurveFileError, match="bad.json"):
        LearningCurve.load(str(bad))


def test_plot_curves_writes_a_png_and_checks_its_inputs(tmp_path):
    a = LearningCurve("a", [{"iteration": i, "train_minutes": i / 2, "fcd": 10.0 / (i + 1),
                             "action_accuracy": 0.1 * i} for i in range(4)])
    b = LearningCurve("b", [{"iteration": i, "train_minutes": i, "fcd": 5.0} for i in range(3)])
    path = plot_curves({"a": a, "b": b}, str(tmp_path / "c.png"), x="train_minutes",
                       chance={"action_accuracy": 0.125})
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="x is 'epoch'"):
        plot_curves({"a": a}, str(tmp_path / "d.png"), x="epoch")
    with pytest.raises(ValueError, match="no curve"):
        plot_curves({"e": LearningCurve("e")}, str(tmp_path / "e.png"))


def test_eval_keys_are_checked():
    with pytest.raises(ConfigError, match="EVAL_PERIOD"):
        load_generator_config(None, ["SOLVER.EVAL_PERIOD", "-1"])
    with pytest.raises(ConfigError, match="EVAL.NUM_VIDEOS"):
        load_generator_config(None, ["EVAL.NUM_VIDEOS", "1"])


def test_missing_classifier_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        VideoGANTrainer(_cfg(out, str(tmp_path / "absent.pth")), dataset=_data())
    assert not out.exists()


def test_evaluations_leave_training_unchanged_and_fill_the_curve(tmp_path, classifier_weights):
    plain = VideoGANTrainer(_cfg(tmp_path / "plain", extra=["SOLVER.EVAL_PERIOD", "0"]),
                            dataset=_data())
    plain.train(max_iters=3, progress=False)
    curved = VideoGANTrainer(_cfg(tmp_path / "curved", classifier_weights), dataset=_data())
    curved.train(max_iters=3, progress=False)
    for key, value in plain.G.state_dict().items():  # evaluations drew nothing from training
        assert torch.equal(value, curved.G.state_dict()[key]), key
    assert not os.path.exists(tmp_path / "plain" / "curves.json")
    points = _points(tmp_path / "curved")
    assert [p["iteration"] for p in points] == [0, 2, 3]  # start, period, end
    for p in points:
        assert {"fcd", "classifier_score", "action_accuracy", "acd_c", "ssim"} <= set(p)
        assert p["fcd"] >= 0 and 0 <= p["action_accuracy"] <= 1 and p["num_videos"] == 4
    assert points[0]["train_minutes"] == 0 < points[1]["train_minutes"] < points[2]["train_minutes"]
    with open(tmp_path / "curved" / "curves.png", "rb") as handle:
        assert handle.read(4) == b"\x89PNG"
    # generator_best.pth: the sampling generator at the lowest FCD, in the final file's format
    with open(tmp_path / "curved" / "curves.json") as handle:
        best = json.load(handle)["best"]
    lowest = min(points, key=lambda p: (p["fcd"], p["iteration"]))
    assert best == {"metric": "fcd", "iteration": lowest["iteration"],
                    "file": "generator_best.pth"}
    saved = torch.load(tmp_path / "curved" / "generator_best.pth", weights_only=True)
    assert saved["model"] == "imaginator" and set(saved["G"]) == set(curved.G.state_dict())
    if lowest["iteration"] == 3:
        for key, value in curved.G.state_dict().items():
            assert torch.equal(value, saved["G"][key]), key
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "curved" / "tb"))
    events.Reload()
    fcd = events.Scalars("eval/fcd")
    assert [e.step for e in fcd] == [0, 2, 3]
    assert [e.value for e in fcd] == pytest.approx([p["fcd"] for p in points], rel=1e-5)


def test_resume_keeps_the_curve_and_drops_points_past_the_checkpoint(tmp_path,
                                                                     classifier_weights):
    out = tmp_path / "run"
    cfg = _cfg(out, classifier_weights, ["SOLVER.EVAL_PERIOD", "1"])
    first = VideoGANTrainer(cfg, dataset=_data())
    first.train(max_iters=2, progress=False)  # checkpoint at 2 (CHECKPOINT_PERIOD 2)
    seconds = first.train_seconds
    curve = LearningCurve.load(str(out / "curves.json"))
    curve.add(7, 999.0, {"fcd": 1.0}, 0.0)  # as if written after the checkpoint, then killed
    curve.save(str(out / "curves.json"))
    resumed = VideoGANTrainer(cfg, dataset=_data())
    resumed.train(max_iters=3, progress=False)
    points = _points(out)
    assert [p["iteration"] for p in points] == [0, 1, 2, 3]  # no second evaluation at 2, no 7
    assert resumed.train_seconds > seconds  # the clock went on from the checkpoint's
    assert points[3]["train_minutes"] == pytest.approx(resumed.train_seconds / 60)


def test_time_budget_ends_the_run_like_max_iters(tmp_path, classifier_weights):
    out = tmp_path / "run"
    cfg = _cfg(out, classifier_weights, ["SOLVER.MAX_MINUTES", "1e-6", "SOLVER.EVAL_PERIOD",
                                         "5"])
    trainer = VideoGANTrainer(cfg, dataset=_data())
    trainer.train(max_iters=50, progress=False)
    assert trainer.iteration == 1
    assert [p["iteration"] for p in _points(out)] == [0, 1]
    assert os.path.isfile(out / "generator_final.pth")
    assert os.path.isfile(out / "checkpoint_last.pth")
    # resuming with the budget spent trains nothing more and evaluates nothing again
    again = VideoGANTrainer(cfg, dataset=_data())
    again.train(max_iters=50, progress=False)
    assert again.iteration == 1 and len(_points(out)) == 2


def test_curves_without_a_classifier_hold_acd(tmp_path):
    out = tmp_path / "run"
    trainer = VideoGANTrainer(_cfg(out), dataset=_data())
    trainer.train(max_iters=2, progress=False)
    points = _points(out)
    assert [p["iteration"] for p in points] == [0, 2]
    assert "acd_c" in points[0] and "ssim" in points[0] and "fcd" not in points[0]
