"""View fidelity: masked L1 / SSIM, view identity, reference rows, SSIM diversity, FID, the fixed
subset, tools/eval_views.py, the ground-truth column of the view grid and the trainer hook."""
import json
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from common import atomic_save
from mesh.structure_cache import StructureMapCache
from reid.config import load_config
from reid.data import build_dataset, make_toy_reid_folder
from reid.engine.visualize import (FIDELITY_CURVE, FIDELITY_HISTORY, record_view_fidelity,
                                   render_view_grid)
from reid.evaluation import view_fidelity as vf
from reid.models.checkpoint import save_identity_encoder
from reid.models.gcl import build_generative_module
from reid.models.identity_encoder import build_identity_encoder

SIZE = (64, 40)
ANGLES = (90, 180)


# ---------------------------------------------------------------------- hand-made view sets
def _people(num_ids: int, per_id: int, seed: int = 0):
    """uint8 images: each identity wears its own two colours on a random background."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.randint(0, 256, (num_ids, 2, 3), generator=g)
    images = torch.randint(0, 256, (num_ids * per_id, 3, *SIZE), generator=g).to(torch.uint8)
    masks = torch.zeros(num_ids * per_id, 1, *SIZE, dtype=torch.bool)
    masks[:, :, 8:56, 10:30] = True
    pids = np.repeat(np.arange(num_ids), per_id)
    for i, pid in enumerate(pids):
        images[i, :, 8:32, 10:30] = colours[pid, 0, :, None, None]
        images[i, :, 32:56, 10:30] = colours[pid, 1, :, None, None]
    return images, masks, pids


def _view_set(num_ids=6, per_id=3, novel=None, truth=None):
    images, masks, pids = _people(num_ids, per_id)
    truth = torch.stack([images.flip(-1), images.roll(5, -2)]) if truth is None else truth
    return vf.ViewSet(angles=ANGLES, pids=pids, inputs=images, reconstructions=images.clone(),
                      novel=truth.clone() if novel is None else novel, truth=truth,
                      silhouettes=torch.stack([masks, masks.flip(-1), masks.roll(5, -2)]))


def test_a_perfect_prediction_scores_l1_0_ssim_1_accuracy_1():
    result = vf.score_view_set(_view_set())
    for row in ("x_ori", "x_new"):
        overall = result["rows"][row]["overall"]
        assert overall["l1"] == 0.0
        assert overall["ssim"] == pytest.approx(1.0, abs=1e-5)
        assert overall["id_acc"] == 1.0
    assert set(result["rows"]["x_new"]["per_angle"]) == {"90", "180"}
    assert result["chance"] == pytest.approx(1 / 6, abs=1e-6)
    json.dumps(result)  # JSON-ready


def test_a_prediction_shuffled_across_identities_scores_about_chance():
    images, masks, pids = _people(20, 3, seed=1)
    g = torch.Generator().manual_seed(2)
    accuracies = [vf.view_identity_accuracy(images[torch.randperm(len(pids), generator=g)],
                                            images, masks, pids) for _ in range(20)]
    assert vf.view_identity_accuracy(images, images, masks, pids) == 1.0
    assert np.mean(accuracies) == pytest.approx(1 / 20, abs=0.03)


def test_masked_metrics_ignore_the_pixels_outside_the_silhouette():
    images, masks, _ = _people(2, 2)
    noisy = images.clone()
    outside = ~masks.expand_as(images)
    noisy[outside] = 255 - noisy[outside]
    assert vf.masked_l1(noisy, images, masks).tolist() == [0.0] * 4
    assert (vf.masked_l1(noisy, images, torch.ones_like(masks)) > 0.05).all()
    # SSIM sees the neighbours inside its window: pixels farther than half of it do not count
    far = outside.clone()
    far[:, :, 8 - 5:56 + 5, 10 - 5:30 + 5] = False
    noisy = images.clone()
    noisy[far] = 255 - noisy[far]
    assert vf.masked_ssim(noisy, images, masks).min().item() == pytest.approx(1.0, abs=1e-5)
    assert vf.masked_ssim(noisy, images, torch.ones_like(masks)).max().item() < 0.95
    empty = torch.zeros_like(masks)
    assert torch.isnan(vf.masked_l1(images, images, empty)).all()


def test_reference_rows():
    views = _view_set()
    # the unrotated input predicted as every novel view is perfect when the truth is the input
    still = _view_set(truth=torch.stack([views.inputs, views.inputs]))
    inputs = vf.score_view_set(still)["rows"]["input"]["overall"]
    assert (inputs["l1"], inputs["id_acc"]) == (0.0, 1.0)
    result = vf.score_view_set(views)
    truth, masks = views.truth[0], views.silhouettes[1]
    mean = truth.float().div(255).mean(0, keepdim=True).expand(len(truth), -1, -1, -1)
    expected = vf.masked_l1(mean, truth, masks).mean().item()
    assert result["rows"]["mean_image"]["per_angle"]["90"]["l1"] == pytest.approx(expected, abs=1e-6)
    for name in ("mean_image", "input"):
        assert result["rows"][name]["overall"]["l1"] > 0.01
    table = vf.format_view_table(result)
    assert "reference: mean image" in table and "reference: input x" in table
    assert table.count("| x'_new") == 3  # two angles and all
    scalars = vf.flat_scalars(result)
    assert scalars["x_new/l1"] == 0.0 and "input/ssim" in scalars and "fid" not in scalars


def test_ssim_diversity():
    images, _, pids = _people(3, 2)
    copies = torch.cat([images[:1]] * 4)
    assert vf.mean_pairwise_ssim(copies, [7, 7, 7, 7]) == pytest.approx(1.0, abs=1e-5)
    assert vf.mean_pairwise_ssim(images, pids) < 0.9
    assert vf.mean_pairwise_ssim(images[::2], pids[::2]) is None  # one image per identity
    result = vf.score_view_set(_view_set())
    assert 0 < result["ssim_diversity"]["generated"] < 1
    assert 0 < result["ssim_diversity"]["real"] < 1


def test_fid_of_a_set_with_itself_is_about_zero_and_misfit_weights_are_refused(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    state = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    path = str(tmp_path / "inception.pth")
    torch.save(state, path)
    network = vf.load_inception(path, input_size=75)  # AuxLogits ignored, fc optional
    assert network.layout == "torchvision"
    images, _, _ = _people(3, 2)
    other = torch.randint(0, 256, images.shape, dtype=torch.uint8)
    same, different = vf.fid(network, images, images), vf.fid(network, images, other)
    assert different > 0 and abs(same) < 1e-6 * different
    pt = {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "fc."))}
    pt.update({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    torch.save(pt, path)
    assert vf.load_inception(path, input_size=75).layout == "pt_inception"
    state["Mixed_5b.renamed.weight"] = state.pop("Mixed_5b.branch1x1.conv.weight")
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"Mixed_5b\.branch1x1\.conv\.weight.*Mixed_5b\.renamed"):
        vf.load_inception(path)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        vf.load_inception(str(tmp_path / "absent.pth"))


def test_the_evaluation_subset_is_fixed_and_spread_over_identities():
    items = [(f"/d/{pid:04d}_c{c}s1_{k:06d}_01.jpg", pid, c) for pid in range(1, 21)
             for c in (1, 2) for k in range(5)]
    subset = vf.evaluation_subset(items, 16)
    assert subset == vf.evaluation_subset(list(reversed(items)), 16)
    assert len(subset) == 16 and len({pid for _, pid in subset}) == 4
    assert all(sum(pid == p for _, p in subset) == 4 for pid in {p for _, p in subset})
    few = [(path, pid, c) for path, pid, c in items if c == 1 and path.endswith("0_01.jpg")]
    assert len(vf.evaluation_subset(few, 8)) == 8  # one image each: more identities
    assert vf.evaluation_subset(items, 0) == []


# ---------------------------------------------------------------------- a tiny synthetic folder
def _write_fixture(root: str, angles=ANGLES) -> list:
    """A Market-layout folder with structure maps and ground-truth views of its training
    images at ``angles`` and the completion marker that lists them."""
    make_toy_reid_folder(root, num_ids=8, num_cameras=2, images_per_id_per_camera=2, size=SIZE,
                         layout="generic", seed=4)
    train = build_dataset("synthetic", root, verbose=False).train
    cache = StructureMapCache(os.path.join(root, "meshes"), size=SIZE, angles=(0, *angles))
    for path, pid, _ in train:
        name = os.path.basename(path)
        for angle in (0, *angles):
            body = np.full(SIZE, 255, np.uint8)
            half = 6 + int(6 * abs(np.cos(np.deg2rad(angle)))) + pid % 3
            body[6:58, 20 - half:20 + half] = 120
            cache.write("train", name, angle, body)
            if angle:
                image = np.asarray(Image.open(path).convert("RGB"))
                folder = os.path.join(root, "ground_truth_views", f"render_{angle}")
                os.makedirs(folder, exist_ok=True)
                Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(
                    os.path.join(folder, name), quality=95)
    with open(os.path.join(root, "SYNTHETIC_COMPLETE.json"), "w", encoding="utf-8") as handle:
        json.dump({"ground_truth_angles": list(angles)}, handle)
    return train


def _overrides(root: str) -> list:
    return ["DATASETS.NAME", "synthetic", "DATASETS.ROOT", root, "MODEL.DEVICE", "cpu",
            "MODEL.BACKBONE", "resnet18", "MODEL.STRUCTURE_DIM", "16",
            "MODEL.DISC_BASE_CHANNELS", "8", "INPUT.SIZE", str(SIZE),
            "MESH.ANGLES", str(ANGLES), "OUTPUT_DIR", os.path.join(root, "out")]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    train = _write_fixture(root)
    cfg = load_config(None, _overrides(root))
    torch.manual_seed(0)
    encoder = build_identity_encoder(cfg, pretrained=False).eval()
    generative = build_generative_module(cfg, code_dim=encoder.feature_dim).eval()
    encoder_path = save_identity_encoder(encoder, os.path.join(root, "encoder.pth"),
                                         input_size=SIZE)
    generative_path = os.path.join(root, "generative_warmup.pth")
    atomic_save({"state_dict": generative.state_dict()}, generative_path)
    return SimpleNamespace(root=root, train=train, cfg=cfg, encoder=encoder,
                           generative=generative, encoder_path=encoder_path,
                           generative_path=generative_path)


def _tool(argv):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "eval_views", os.path.join(os.path.dirname(__file__), "..", "..", "tools", "eval_views.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_eval_views_end_to_end_prints_the_table_and_a_json_line(fixture, capsys):
    code = _tool(["--encoder", fixture.encoder_path, "--generative", fixture.generative_path,
                  "--images", "8", "--batch-size", "4", *_overrides(fixture.root)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("View fidelity: 8 training images of 2 identities")
    result = json.loads(out[-1])
    assert result["angles"] == [90, 180] and result["images"] == 8
    assert set(result["rows"]) == {"x_ori", "x_new", "mean_image", "input"}
    assert 0 <= result["rows"]["x_new"]["overall"]["l1"] <= 1
    assert result["fid"] is None


def test_eval_views_refuses_a_dataset_without_ground_truth(fixture, tmp_path, capsys):
    root = str(tmp_path / "plain")
    make_toy_reid_folder(root, num_ids=4, num_cameras=2, size=SIZE, layout="generic")
    code = _tool(["--encoder", fixture.encoder_path, "--generative", fixture.generative_path,
                  *_overrides(root)])
    assert code == 1
    assert "no ground-truth novel views" in capsys.readouterr().err


def test_eval_views_refuses_generative_weights_that_do_not_fit(fixture, tmp_path, capsys):
    other = load_config(None, _overrides(fixture.root) + ["MODEL.STRUCTURE_DIM", "8"])
    path = str(tmp_path / "other.pth")
    atomic_save({"state_dict": build_generative_module(other, code_dim=512).state_dict()}, path)
    code = _tool(["--encoder", fixture.encoder_path, "--generative", path,
                  *_overrides(fixture.root)])
    err = capsys.readouterr().err
    assert code == 1
    assert "--generative" in err and "shape mismatch" in err and "MODEL.STRUCTURE_DIM" in err
    code = _tool(["--encoder", fixture.encoder_path, *_overrides(fixture.root)])
    assert code == 1 and "--generative is needed" in capsys.readouterr().err


def test_the_view_grid_shows_the_ground_truth_next_to_each_novel_view(fixture):
    cache = StructureMapCache(os.path.join(fixture.root, "meshes"), size=SIZE,
                              angles=(0, *ANGLES))
    paths = [p for p, _, _ in fixture.train[:2]]
    args = (fixture.encoder, fixture.generative, cache, "train", paths, SIZE, "cpu", (0, *ANGLES))
    plain = render_view_grid(*args)
    with_truth = render_view_grid(*args, ground_truth=fixture.root, ground_truth_angles=(180,))
    assert plain.shape == (2 * SIZE[0], 8 * SIZE[1], 3)  # x, 3 maps, x'_ori, 2 novel, cycle
    assert with_truth.shape == (2 * SIZE[0], 9 * SIZE[1], 3)
    truth = np.asarray(Image.open(os.path.join(fixture.root, "ground_truth_views", "render_180",
                                               os.path.basename(paths[0]))))
    column = with_truth[:SIZE[0], 7 * SIZE[1]:8 * SIZE[1]]
    assert np.abs(column.astype(int) - truth.astype(int)).mean() < 2


def test_the_trainer_hook_logs_records_and_draws_the_figures(fixture, tmp_path):
    cfg = load_config(None, _overrides(fixture.root) + ["TEST.VIEW_METRICS.IMAGES", "4",
                                                        "TEST.VIEW_METRICS.BATCH_SIZE", "4"])
    scalars = []
    ctx = SimpleNamespace(
        cfg=cfg, dataset=build_dataset("synthetic", fixture.root, verbose=False),
        train_items=fixture.train, encoder=fixture.encoder, generative=fixture.generative,
        device=torch.device("cpu"), logger=logging.getLogger("test_view_fidelity"),
        path=lambda *parts: os.path.join(str(tmp_path), *parts),
        log_scalars=lambda prefix, values, step: scalars.append((prefix, step, values)))
    for stage, epoch in (("gan_warmup", 0), ("joint", 0), ("joint", 1), ("joint", 1)):
        assert record_view_fidelity(ctx, stage, epoch)["images"] == 4
    history = json.loads((tmp_path / FIDELITY_HISTORY).read_text())
    assert [(e["stage"], e["epoch"]) for e in history] == [("gan_warmup", 1), ("joint", 1),
                                                            ("joint", 2)]
    assert {"x_new/l1", "x_new/ssim", "x_new/id_acc", "input/l1", "chance"} <= set(history[0])
    assert scalars[0][:2] == ("gan_warmup/view_fidelity", 0)
    curve = Image.open(tmp_path / FIDELITY_CURVE)
    assert curve.size[0] > curve.size[1] > 100
    ctx.cfg = load_config(None, _overrides(fixture.root) + ["TEST.VIEW_METRICS.IMAGES", "0"])
    assert record_view_fidelity(ctx, "joint", 2) is None
