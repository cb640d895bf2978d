import os
import shutil

import pytest

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


def _toy_rows(tmp_path):
    rows = {"1_contrast_only.yaml": 'GCL:\n  STAGES: ("joint",)\n  USE_GAN: False\n',
            "2_gan_vi.yaml": 'GCL:\n  STAGES: ("joint",)\n  VI_LOSSES: ("vi",)\n'}
    paths = []
    for name, text in rows.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    return paths


@pytest.mark.slow  # nine tiny training runs: about a minute on two cores
def test_seeded_ablations_two_seeds_two_rows_resumable(tmp_path, monkeypatch):
    import json

    from reid.engine import ablation
    from reid.engine.ablation import run_seeded_ablations
    from tests.toy_gcl import make_toy_gcl_root, toy_overrides

    root = make_toy_gcl_root(str(tmp_path / "data"), num_ids=8)
    out = str(tmp_path / "bench")
    opts = toy_overrides(root, str(tmp_path / "unused")) + ["SOLVER.JOINT.EPOCHS", "1"]
    paths = _toy_rows(tmp_path)
    result = run_seeded_ablations(paths, [1, 2], opts, out, warmup_config=None, log=lambda m: None)
    settings = [r["setting"] for r in result["rows"]]
    assert settings == ["baseline", "L_vi^woGAN + TDA", "L_gan + L_vi"]
    assert all(r["seeds"] == [1, 2] for r in result["rows"])
    assert len(result["results"]) == 6
    for row in result["rows"]:
        values = row["mAP_values"]
        mean = sum(values) / 2
        assert abs(row["mAP_mean"] - mean) < 1e-9
        assert abs(row["mAP_std"] - abs(values[0] - values[1]) / 2 ** 0.5) < 1e-9
    # each row started from its own seed's warm-up
    for seed in (1, 2):
        with open(os.path.join(out, f"seed{seed}", "2_gan_vi", "config.yaml")) as handle:
            text = handle.read()
        assert os.path.join(out, f"seed{seed}", "warmup", "baseline_encoder.pth") in text
    table = open(os.path.join(out, "table.md")).read()
    assert "| baseline |" in table and "±" in table
    assert os.path.getsize(os.path.join(out, "ablations.png")) > 1000
    with open(os.path.join(out, "summary.json")) as handle:
        assert [r["setting"] for r in json.load(handle)] == settings

    # resumable: finished runs are skipped; a removed result is the only run made again
    made = []

    class Recorder:
        def __init__(self, cfg, resume=False):
            made.append(cfg.OUTPUT_DIR)
            raise AssertionError("a finished run was trained again")

    import reid.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "GCLTrainer", Recorder)
    again = run_seeded_ablations(paths, [1, 2], opts, out, warmup_config=None, log=lambda m: None)
    assert made == [] and again["rows"] == result["rows"]
    os.unlink(os.path.join(out, "seed2", "1_contrast_only", "result.json"))
    monkeypatch.undo()
    third = run_seeded_ablations(paths, [1, 2], opts, out, warmup_config=None, log=lambda m: None)
    assert [r["setting"] for r in third["rows"]] == settings
    assert third["rows"] == result["rows"]  # the row trained again gives the same figures

    # a folder holding only the results (copied elsewhere): the missing row's warm-up is
    # trained again, reproduces its recorded figures, and the row runs from it
    copy = str(tmp_path / "copied")
    for folder, _, files in os.walk(out):
        for name in files:
            if name == "result.json":
                target = os.path.join(copy, os.path.relpath(folder, out))
                os.makedirs(target, exist_ok=True)
                shutil.copy(os.path.join(folder, name), target)
    os.unlink(os.path.join(copy, "seed1", "2_gan_vi", "result.json"))
    fourth = run_seeded_ablations(paths, [1, 2], opts, copy, warmup_config=None,
                                  log=lambda m: None)
    assert fourth["rows"] == result["rows"]
    assert os.path.isfile(os.path.join(copy, "seed1", "warmup", "baseline_encoder.pth"))
    assert not os.path.exists(os.path.join(copy, "seed2", "warmup", "baseline_encoder.pth"))
    assert ablation.RESULT_FILE == "result.json"


def test_seeded_ablations_refuse_bad_plans_before_training(tmp_path):
    from reid.engine.ablation import run_seeded_ablations

    paths = _toy_rows(tmp_path)
    with pytest.raises(ValueError, match="repeats"):
        run_seeded_ablations(paths, [1, 1], (), str(tmp_path / "a"), warmup_config=None)
    with pytest.raises(ValueError, match="at least one"):
        run_seeded_ablations(paths, [], (), str(tmp_path / "a"), warmup_config=None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("GCL:\n  NO_SUCH_KEY: 1\n")
    with pytest.raises(Exception, match="NO_SUCH_KEY"):
        run_seeded_ablations([str(bad)], [1], (), str(tmp_path / "a"), warmup_config=None)
    assert not os.path.exists(tmp_path / "a")


def test_seeded_summary_and_table():
    from reid.engine.ablation_report import format_seeded_table, summarise_seeded_rows

    results = [{"setting": "baseline", "seed": s, "mAP": m, "rank1": 2 * m, "mINP": m / 2}
               for s, m in ((1, 10.0), (2, 12.0))]
    results += [{"setting": "GCL", "seed": s, "mAP": m, "rank1": m, "mINP": m}
                for s, m in ((1, 13.0), (2, 14.0))]
    rows = summarise_seeded_rows(results)
    assert rows[1]["delta_mAP_mean"] == 2.5 and abs(rows[1]["delta_mAP_std"] - 0.5 ** 0.5) < 1e-12
    assert "delta_mAP_mean" not in rows[0]
    table = format_seeded_table(rows).splitlines()
    assert table[2] == "| baseline | 11.00 ± 1.41 | 22.00 ± 2.83 | 5.50 ± 0.71 | - | 2 |"
    assert table[3].endswith("| +2.50 ± 0.71 | 2 |")


def test_a_row_from_shared_warmups_equals_the_chained_run(tmp_path):
    """The seeds protocol's sharing is exact: warm-up run + joint-only run from its files gives
    the same model as baseline -> gan_warmup -> joint in one run (so seed 1's L_gan + L_vi row
    is the default run's joint stage)."""
    from reid.engine.trainer import GCLTrainer
    from tests.toy_gcl import make_toy_gcl_root, toy_overrides

    root = make_toy_gcl_root(str(tmp_path / "data"), num_ids=8)
    base = toy_overrides(root, str(tmp_path / "x")) + [
        "GCL.VI_LOSSES", "('vi',)", "SOLVER.JOINT.EPOCHS", "1", "CLUSTER.EPS", "0.0",
        "CLUSTER.RHO", "0.05", "CLUSTER.EPS_POLICY", "per_epoch"]
    chain = GCLTrainer(load_config(None, base + ["OUTPUT_DIR", str(tmp_path / "chain")])).run()
    warm = str(tmp_path / "warm")
    GCLTrainer(load_config(None, base + ["OUTPUT_DIR", warm,
                                         "GCL.STAGES", "('baseline', 'gan_warmup')"])).run()
    split = GCLTrainer(load_config(None, base + [
        "OUTPUT_DIR", str(tmp_path / "split"), "GCL.STAGES", "('joint',)",
        "MODEL.WEIGHTS", os.path.join(warm, "baseline_encoder.pth"),
        "MODEL.GENERATIVE_WEIGHTS", os.path.join(warm, "generative_warmup.pth")])).run()
    assert split["final"] == chain["final"]
    assert split["baseline"] != chain["final"]


def test_view_fidelity_table_from_the_runs():
    from reid.engine.ablation_report import (format_seeded_table, format_view_fidelity_table,
                                             summarise_seeded_rows)

    def fid(l1):
        return {"x_new/l1": l1, "x_new/ssim": 0.5, "x_new/id_acc": 0.2, "x_ori/l1": 0.1,
                "x_ori/ssim": 0.8, "mean_image/l1": 0.3, "mean_image/ssim": 0.4,
                "mean_image/id_acc": 0.02, "input/l1": 0.25, "input/ssim": 0.45,
                "input/id_acc": 0.3, "chance": 0.02, "ssim_diversity/generated": 0.6,
                "ssim_diversity/real": 0.4, "after": "joint epoch 4"}

    results = [{"setting": "baseline", "seed": s, "mAP": 1.0, "rank1": 1.0, "mINP": 1.0,
                "view_fidelity": fid(0.2 + s / 100)} for s in (1, 2)]
    results += [{"setting": "L_vi^woGAN", "seed": s, "mAP": 2.0, "rank1": 1.0, "mINP": 1.0}
                for s in (1, 2)]
    rows = summarise_seeded_rows(results)
    assert rows[0]["view_fidelity"]["x_new/l1"][0] == pytest.approx(0.215)
    assert "view_fidelity" not in rows[1]
    lines = format_view_fidelity_table(rows).splitlines()
    assert lines[2].startswith("| baseline (warm-up) | 0.215 ± 0.007 | 0.500 ± 0.000 |")
    assert lines[3].startswith("| reference: mean image | 0.300 |")  # data, not a model
    assert lines[5] == "| chance / real photos | - | - | 0.020 | - | - | 0.400 | - |"
    single = format_seeded_table(summarise_seeded_rows(results[:1])).splitlines()[2]
    assert single == "| baseline | 1.00 | 1.00 | 1.00 | - | 1 |"
    assert format_view_fidelity_table(rows[1:]) == ""
