"""The learning-curve driver of the four video GANs: command lines, the summary, its table and
plot, built from runs laid out as tools/run_video_curves.py leaves them."""
import json
import os

import pytest

from generators.curve_runs import (DEFAULT_EVAL_PERIODS, MODELS, check_models, summarise,
                                   summary_table, train_command)
from generators.curves import LearningCurve


def test_every_model_has_a_synthetic_config_and_an_eval_period():
    for model in MODELS:
        cmd = train_command(model, "out", 20.0, DEFAULT_EVAL_PERIODS[model], "clf.pth")
        config = cmd[cmd.index("--config") + 1]
        assert os.path.isfile(config) and config.endswith(f"{model}_synthetic.yaml")
        opts = dict(zip(cmd[cmd.index("--no-progress") + 1::2],
                        cmd[cmd.index("--no-progress") + 2::2]))
        assert opts["OUTPUT_DIR"] == os.path.join("out", model)
        assert opts["SOLVER.MAX_MINUTES"] == "20.0"
        assert opts["SOLVER.EVAL_PERIOD"] == str(DEFAULT_EVAL_PERIODS[model])
        assert opts["EVAL.CLASSIFIER_WEIGHTS"] == "clf.pth"


def test_check_models_names_the_choices():
    assert check_models(["g3an", "imaginator", "g3an"]) == ["g3an", "imaginator"]
    with pytest.raises(ValueError, match="'vgan'.*imaginator, g3an, inmodegan, mostganv"):
        check_models(["g3an", "vgan"])
    with pytest.raises(ValueError, match="expected some of"):
        check_models([])


def test_summary_table_plot_and_gifs_from_runs(tmp_path):
    out = tmp_path / "curves"
    for model, (start, end) in {"g3an": (40.0, 10.0), "mostganv": (30.0, 20.0)}.items():
        run = out / model
        (run / "samples").mkdir(parents=True)
        for it in (100, 200):
            (run / "samples" / f"iter_{it:07d}.gif").write_bytes(b"GIF89a" + bytes([it % 256]))
        points = [{"iteration": 0, "train_minutes": 0.0, "fcd": start, "acd_c": 0.2},
                  {"iteration": 200, "train_minutes": 20.0, "fcd": end, "acd_c": 0.1}]
        if model == "g3an":
            for p, acc in zip(points, (0.125, 0.6)):
                p["action_accuracy"] = acc
        LearningCurve(model, points).save(str(run / "curves.json"))
    clf = {"held_out_accuracy": 0.9375, "num_held_out": 16, "weights": "classifier.pth"}
    summary = summarise(["g3an", "mostganv", "inmodegan"], str(out), 20.0, clf, {"cpu": "x"})
    assert set(summary["models"]) == {"g3an", "mostganv"}  # inmodegan has no run
    g3an = summary["models"]["g3an"]
    assert g3an["fcd_end_over_start"] == pytest.approx(0.25)
    assert g3an["action_accuracy_end"] == 0.6 and g3an["gif"] == "g3an.gif"
    assert (out / "g3an.gif").read_bytes() == b"GIF89a" + bytes([200])  # the last grid
    assert json.loads((out / "summary.json").read_text()) == summary
    table = (out / "summary.md").read_text()
    assert table == summary_table(summary)
    rows = [line for line in table.splitlines() if line.startswith("| g3an")
            or line.startswith("| mostganv")]
    assert rows[0].split(" | ")[1:6] == ["200", "20.0", "40.00", "10.00", "0.25"]
    assert "| — |" in rows[1]  # no action accuracy for an unconditional model
    assert "held-out accuracy 0.9375 (16 clips)" in table
    with open(out / "curves.png", "rb") as handle:
        assert handle.read(4) == b"\x89PNG"


@pytest.mark.slow  # builds the clips, trains the classifier one epoch and one model briefly
def test_run_video_curves_end_to_end_and_resumes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "run_video_curves", os.path.join(os.path.dirname(__file__), "..", "..", "tools",
                                         "run_video_curves.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out, clips = tmp_path / "curves", tmp_path / "clips"
    argv = ["--out", str(out), "--clips", str(clips), "--models", "imaginator", "--minutes",
            "0.05", "--eval-period", "5", "--classifier-epochs", "1"]
    assert tool.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    row = summary["models"]["imaginator"]
    assert row["evaluations"] >= 2 and row["iterations"] >= 1 and row["gif"] == "imaginator.gif"
    assert {"fcd_start", "fcd_end", "action_accuracy_end", "ssim_end"} <= set(row)
    assert summary["classifier"]["weights"] == "classifier.pth"
    assert not any(os.path.isabs(str(v)) for v in summary["classifier"].values()
                   if isinstance(v, str))
    assert (out / "curves.png").is_file() and (out / "imaginator.gif").is_file()
    # again: the classifier and the finished model are not trained again
    stamp = (out / "classifier.pth").stat().st_mtime_ns
    assert tool.main(argv) == 0
    assert (out / "classifier.pth").stat().st_mtime_ns == stamp
    again = json.loads((out / "summary.json").read_text())["models"]["imaginator"]
    assert again["iterations"] == row["iterations"]
