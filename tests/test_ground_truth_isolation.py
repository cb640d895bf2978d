"""The evaluation-only ground-truth views are never read by training: during a whole GCL run on
a synthetic set that has them, every file opened below ``ground_truth_views`` is opened through
the view-fidelity module (the per-epoch metrics, and the ground-truth column of the per-epoch
view grid), never by the data loaders that feed the losses."""
import os
import sys
import traceback

import pytest

from mesh.synthetic.layout import GROUND_TRUTH_FOLDER
from reid.config import load_config
from reid.engine.trainer import GCLTrainer
from reid.views.synthetic_dataset import ensure_synthetic_dataset
from tests.toy_gcl import toy_overrides

METRICS_MODULE = os.path.join("reid", "evaluation", "view_fidelity.py")
_OPENED: list = []  # (path, files on the stack) while a test listens
_LISTENING = [False]


def _audit(event, args):
    if _LISTENING[0] and event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        if GROUND_TRUTH_FOLDER in path:
            _OPENED.append((path, [(f.filename, f.name) for f in traceback.extract_stack()]))


sys.addaudithook(_audit)  # an audit hook cannot be removed: it only records while listening


def _cfg(root, out, *opts):
    """The tiny training set-up of the engine tests, on a synthetic set with ground truth."""
    return load_config(None, toy_overrides(root, out) + [
        "DATASETS.NAME", "synthetic", "MESH.DIR", "", "MESH.ANGLES", "(90, 180)",
        "DATASETS.SYNTHETIC.IDS", "0", "DATASETS.SYNTHETIC.TRAIN_IDS", "4",
        "DATASETS.SYNTHETIC.TEST_IDS", "4", "DATASETS.SYNTHETIC.CAMERAS", "2",
        "DATASETS.SYNTHETIC.IMAGES_PER_ID_PER_CAMERA", "2", "DATASETS.SYNTHETIC.SEED", "2",
        "SOLVER.BASELINE.ITERS_PER_EPOCH", "1", "SOLVER.GAN_WARMUP.ITERS_PER_EPOCH", "1",
        "SOLVER.JOINT.EPOCHS", "1", "SOLVER.JOINT.ITERS_PER_EPOCH", "1",
        "TEST.VIEW_METRICS.IMAGES", "4", *opts])


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    return ensure_synthetic_dataset(_cfg(root, root))


def _run(root, out, *opts):
    cfg = _cfg(root, out, *opts)
    _OPENED.clear()
    _LISTENING[0] = True
    try:
        GCLTrainer(cfg).run()
    finally:
        _LISTENING[0] = False
    return list(_OPENED)


def test_only_the_view_metrics_open_the_ground_truth(synthetic_root, tmp_path):
    opened = _run(synthetic_root, str(tmp_path / "with_metrics"))
    assert opened, "the view-fidelity metrics should have read ground-truth views"
    for path, stack in opened:
        assert any(f.endswith(METRICS_MODULE) for f, _ in stack), (
            f"{path} was opened outside the view-fidelity module: {stack[-6:]}")
    callers = {name for _, stack in opened for _, name in stack}
    assert {"record_view_fidelity", "render_view_grid"} <= callers  # the metrics and the grid
    assert os.path.isfile(tmp_path / "with_metrics" / "view_fidelity.json")

