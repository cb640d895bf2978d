"""The Market-scale dry run (tools/bench_scale.py, benchmarks/scale.py) at tiny size end to end,
the process-tree memory sampler, and the generator settings it relies on: a training-image total
spread over the identities (DATASETS.SYNTHETIC.TRAIN_IMAGES) and rendering in worker processes
that write the same files as one process."""
import collections
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from benchmarks.scale import ProcessTreeMemory, benchmark_overrides, tree_memory
from mesh.synthetic import MARKER, is_complete, make_synthetic_dataset, plan_images
from mesh.synthetic.dataset import check_settings
from reid.config import load_config
from reid.views.synthetic_dataset import synthetic_settings
from tests.file_digest import folder_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(name: str):
    """The module of ``tools/<name>.py`` (the tools folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_tool",
                                                  os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool():
    return load_tool("bench_scale")


@pytest.fixture
def one_thread():
    """One torch thread: the tiny networks gain nothing from more, and a shared CPU less so."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # every stage of the trainer plus generation: minutes on two cores
def test_tiny_dry_run_end_to_end(tmp_path, capsys, one_thread):
    report = _tool().main(["--tiny", "--generate", "--data-root", str(tmp_path / "data"),
                           "--output-dir", str(tmp_path / "out"), "--iterations", "1",
                           "--loader-batches", "2"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(json.dumps(report))  # the last line is the report
    d = report["dataset"]
    assert d["generated"] and d["generation_s"] > 0 and d["generated_images"] > d["train_images"]
    assert d["train_images"] == 36 and d["train_ids"] == 6  # TRAIN_IMAGES 36 over 6 identities
    assert d["query_images"] > 0 and d["gallery_images"] > 0
    for key in ("memory_init_s", "clustering_s", "joint_iteration_s", "evaluation_s",
                "trainer_build_s", "peak_rss_gb", "peak_rss_main_gb", "peak_pss_tree_gb"):
        assert report[key] > 0, key
    assert report["memory_init_images"] == report["clustering_n"] == 36
    assert report["loader"]["images_per_s"] > 0 and report["loader"]["workers"] == 2
    assert report["loader"]["sample_shapes"]["s_new"] == [1, 64, 48]
    assert report["processes"] >= 3  # this process and its two loader workers
    assert report["peak_rss_tree_gb"] >= report["peak_rss_main_gb"]
    assert set(report["stage"]) == {"baseline", "gan_warmup", "joint"}
    for name, stage in report["stage"].items():
        assert stage["iterations"] == 1 and stage["step_s"][0] > 0, name
    assert report["stage"]["baseline"]["features"]["images"] == 36
    assert set(report["evaluation"]) == {"baseline", "gcl"}
    assert len(report["checkpoint_s"]) == 3  # one per stage
    assert isinstance(report["targets"]["peak_rss_ok"], bool)
    # a second run finds the set and does not make it again
    again = _tool().main(["--tiny", "--data-root", str(tmp_path / "data"), "--output-dir",
                          str(tmp_path / "out"), "--iterations", "1", "--loader-batches", "1",
                          "--set", "GCL.STAGES", "('joint',)"])
    assert again["dataset"]["generated"] is False and set(again["stage"]) == {"joint"}


def test_missing_set_without_generate_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(["--tiny", "--data-root", str(tmp_path / "none")])
    assert exit_info.value.code == 2
    assert "pass --generate" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        benchmark_overrides(0, "out")
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        benchmark_overrides(1, "out", overrides=["MODEL.BACKBONE"])
    opts = benchmark_overrides(3, "out", overrides=["SOLVER.JOINT.ITERS_PER_EPOCH", "5"])
    assert opts[-2:] == ["SOLVER.JOINT.ITERS_PER_EPOCH", "5"]  # the caller's come last
    assert opts[opts.index("SOLVER.BASELINE.ITERS_PER_EPOCH") + 1] == "3"


def test_tree_memory_counts_a_child_process():
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; x = b'1' * (120 * 2 ** 20); "
                              "print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        alone = tree_memory(child.pid)
        assert alone["processes"] == 1 and alone["rss_tree"] > 100 * 2 ** 20
        assert alone["pss_tree"] > 100 * 2 ** 20
        with ProcessTreeMemory(interval_s=0.02) as memory:
            with memory.phase("child alive"):
                time.sleep(0.1)
        peak = memory.summary("child alive")
        assert peak["processes"] >= 2
        assert peak["peak_rss_tree_gb"] - peak["peak_rss_main_gb"] > 0.1
        assert memory.summary()["peak_rss_tree_gb"] >= peak["peak_rss_tree_gb"]
    finally:
        child.kill()
        child.wait()


def test_market_size_plan():
    plan = plan_images(951, 6, 2, torch.Generator().manual_seed(0), num_train_ids=751,
                       train_images=12936)
    train = plan.subset == "train"
    assert train.sum() == 12936 and len(set(plan.filename.tolist())) == len(plan)
    per_id = collections.Counter(plan.pid[train].tolist())
    assert len(per_id) == 751 and set(per_id.values()) == {17, 18}
    assert sum(v == 18 for v in per_id.values()) == 12936 - 751 * 17
    cameras = collections.defaultdict(set)
    for pid, cam in zip(plan.pid[train], plan.camera[train]):
        cameras[pid].add(cam)
    assert min(len(c) for c in cameras.values()) >= 3  # 3 to 6 of the 6 cameras
    test = ~train  # the test identities keep 2 images per camera: one query, one gallery each
    assert (plan.subset[test] == "query").sum() == (plan.subset[test] == "gallery").sum()


def test_train_images_zero_keeps_the_plan():
    a = plan_images(10, 4, 2, torch.Generator().manual_seed(3), num_train_ids=6)
    b = plan_images(10, 4, 2, torch.Generator().manual_seed(3), num_train_ids=6, train_images=0)
    assert (a.filename == b.filename).all() and (a.subset == b.subset).all()
    few = plan_images(10, 4, 2, torch.Generator().manual_seed(3), num_train_ids=6,
                      train_images=13)
    per_id = collections.Counter(few.pid[few.subset == "train"].tolist())
    assert sorted(per_id.values()) == [2, 2, 2, 2, 2, 3]  # two cameras, one image in each
    with pytest.raises(ValueError, match="at least 12 for 6 training identities"):
        check_settings(10, 4, 2, num_train_ids=6, train_images=11)


def test_marker_without_train_images_means_zero(tmp_path):
    (tmp_path / MARKER).write_text(json.dumps({"num_ids": 4, "seed": 0}))
    assert is_complete(str(tmp_path), {"num_ids": 4, "train_images_setting": 0})
    assert is_complete(str(tmp_path), {"num_ids": 4})
    assert not is_complete(str(tmp_path), {"num_ids": 4, "train_images_setting": 36})
    # a set made with a training-image total never passes for one made without
    (tmp_path / MARKER).write_text(json.dumps({"num_ids": 4, "train_images_setting": 36}))
    assert not is_complete(str(tmp_path), {"num_ids": 4})
    assert is_complete(str(tmp_path), {"num_ids": 4, "train_images_setting": 36})
    cfg = load_config("configs/synthetic_market_scale.yaml")
    assert synthetic_settings(cfg)["train_images_setting"] == 12936
    assert "train_images_setting" not in synthetic_settings(load_config("configs/synthetic.yaml"))


def test_worker_processes_write_the_same_files(tmp_path):
    settings = dict(num_ids=5, num_train_ids=3, num_cameras=3, images_per_camera=1,
                    image_size=(32, 16), batch_size=3, progress=False, train_images=8, seed=2,
                    angles=(0, 90))
    one = make_synthetic_dataset(str(tmp_path / "one"), **settings)
    two = make_synthetic_dataset(str(tmp_path / "two"), workers=2, **settings)
    assert one["workers"] == 1 and two["workers"] == 2 and one["images"] == two["images"]
    assert one["train_images"] == 8
    assert folder_digest(str(tmp_path / "one")) == folder_digest(str(tmp_path / "two"))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        make_synthetic_dataset(str(tmp_path / "bad"), workers=0, **settings)
    assert not (tmp_path / "bad").exists()
