"""The keys that choose between our behaviour and the GCL authors' code (thesis chapter 6): each
behaviour does what its key says, the real-dataset configs select the authors' one, and the
synthetic benchmark keeps its own (apart from the eps rule)."""
import copy
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.synthetic import make_clustered_features
from common import atomic_save
from common.config import ConfigError
from reid.cluster import PseudoLabeler, compute_jaccard_distance, select_eps
from reid.config import load_config
from reid.config.validation import baseline_num_instances
from reid.engine.context import TrainingContext
from reid.engine.gcl_step import GCLStepConfig
from reid.engine.stages.baseline import ClusterContrastStage
from reid.engine.stages.generative import GanWarmupStage, JointStage
from reid.losses import image_reconstruction_loss, lsgan_generator_loss
from reid.models.backbone import IMAGENET_MEAN, IMAGENET_STD
from reid.models.gcl import build_generative_module
from reid.models.gcl.generator import AppearanceDecoder
from reid.views.structure_maps import mesh_dir_of, structure_cache_for
from tests.toy_gcl import make_toy_gcl_root, toy_cfg

PAPER_CONFIGS = ("market", "duke", "msmt17", "duke2market")


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy")), num_ids=6)


def _ctx(cfg, root=None, **extra):
    """A stand-in training context with what the stages read from it."""
    from reid.data import build_dataset

    dataset = build_dataset("generic", root, verbose=False) if root else None
    ctx = SimpleNamespace(cfg=cfg, train_images_verified=True, device=torch.device("cpu"),
                          logger=logging.getLogger("reid.test"), dataset=dataset,
                          train_items=list(dataset.train) if dataset else [],
                          epoch_seed=lambda stage, epoch: 7 + epoch, warmup_optimizers=None)
    for key, value in extra.items():
        setattr(ctx, key, value)
    return ctx


# ------------------------------------------------------------------ the configs
@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_select_the_authors_behaviour(name):
    cfg = load_config(f"configs/{name}.yaml")
    assert cfg.CLUSTER.EPS_POLICY == "per_epoch"
    assert cfg.INPUT.GENERATIVE_AUGMENT is False and cfg.TEST.FLIP is False
    assert cfg.MODEL.ADAIN_INPUT == "flat_slice" and cfg.GCL.JOINT_OUTLIERS == "drop"
    assert cfg.GCL.IMG_LOSS_NORM == "imagenet" and cfg.GCL.LSGAN_GEN_FACTOR == 2.0
    for section in ("GAN_WARMUP", "JOINT"):
        assert cfg.SOLVER[section].GAN_WEIGHT_DECAY == 5e-4
    assert cfg.SOLVER.JOINT.GAN_OPTIMIZER_STATE == "warmup"
    b = cfg.SOLVER.BASELINE
    assert (b.EPS, b.NUM_INSTANCES, b.BATCH_SIZE, b.EPOCHS) == (0.6, 16, 256, 50)
    assert b.ITERS_PER_EPOCH == (400 if name == "msmt17" else 200)
    assert cfg.MESH.DIR == "meshes"


def test_synthetic_config_changes_only_the_eps_rule():
    cfg, defaults = load_config("configs/synthetic.yaml"), load_config(None)
    assert cfg.CLUSTER.EPS_POLICY == "per_epoch" and defaults.CLUSTER.EPS_POLICY == "first"
    for key in ("INPUT.GENERATIVE_AUGMENT", "TEST.FLIP", "MODEL.ADAIN_INPUT", "GCL.JOINT_OUTLIERS",
                "GCL.IMG_LOSS_NORM", "GCL.LSGAN_GEN_FACTOR", "SOLVER.JOINT.GAN_WEIGHT_DECAY",
                "SOLVER.GAN_WARMUP.GAN_WEIGHT_DECAY", "SOLVER.JOINT.GAN_OPTIMIZER_STATE",
                "SOLVER.BASELINE.EPS", "SOLVER.BASELINE.NUM_INSTANCES"):
        section, *rest = key.split(".")
        node, base = cfg[section], defaults[section]
        for part in rest:
            node, base = node[part], base[part]
        assert node == base, key


@pytest.mark.parametrize("key, value", [
    ("CLUSTER.EPS_POLICY", "every"), ("MODEL.ADAIN_INPUT", "flat"),
    ("GCL.JOINT_OUTLIERS", "remove"), ("GCL.IMG_LOSS_NORM", "imnet"),
    ("SOLVER.JOINT.GAN_OPTIMIZER_STATE", "keep"), ("GCL.LSGAN_GEN_FACTOR", "-1.0"),
    ("SOLVER.BASELINE.EPS", "-0.1"), ("SOLVER.JOINT.GAN_WEIGHT_DECAY", "-0.001"),
    ("SOLVER.BASELINE.NUM_INSTANCES", "-1")])
def test_bad_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [key, value])


# ------------------------------------------------------------------ CLUSTER.EPS_POLICY
def test_eps_policy_per_epoch_chooses_eps_at_every_clustering():
    x, _ = make_clustered_features(300, 32, 15, noise_fraction=0.05, spread=0.7, seed=0)
    shifted, _ = make_clustered_features(300, 32, 15, noise_fraction=0.05, spread=0.4, seed=5)
    first = PseudoLabeler(rho=0.01, eps_policy="first")
    every = PseudoLabeler(rho=0.01, eps_policy="per_epoch")
    eps0 = first(x).eps
    assert every(x).eps == pytest.approx(eps0)
    assert first(shifted).eps == eps0                                    # kept
    fresh = select_eps(compute_jaccard_distance(shifted), 0.01)
    assert every(shifted).eps == pytest.approx(fresh) and fresh != pytest.approx(eps0)
    # Resume: a restored eps is kept by "first" and replaced by "per_epoch"'s next clustering.
    for labeler in (first, every):
        labeler.load_state_dict({"eps": 0.123})
    assert first(shifted).eps == 0.123
    assert every(shifted).eps == pytest.approx(fresh)
    # A fixed eps wins over either policy.
    assert PseudoLabeler(eps=0.6, eps_policy="per_epoch")(shifted).eps == 0.6


def test_eps_policy_from_cfg_and_bad_value():
    cfg = load_config(None, ["CLUSTER.EPS_POLICY", "per_epoch"])
    assert PseudoLabeler.from_cfg(cfg).chooses_eps_each_call
    assert not PseudoLabeler.from_cfg(load_config(None)).chooses_eps_each_call
    with pytest.raises(ValueError, match="eps_policy"):
        PseudoLabeler(eps_policy="sometimes")


# ------------------------------------------------------------------ SOLVER.BASELINE.EPS / NUM_INSTANCES
def test_baseline_eps_clusters_with_its_own_fixed_radius():
    x, _ = make_clustered_features(120, 16, 6, noise_fraction=0.0, spread=0.5, seed=1)
    cfg = load_config(None, ["SOLVER.BASELINE.EPS", "0.6", "CLUSTER.RHO", "0.01"])
    run_labeler = PseudoLabeler.from_cfg(cfg)
    ctx = TrainingContext(cfg=cfg, device=torch.device("cpu"), logger=logging.getLogger("t"),
                          output_dir="", dataset=None, train_items=[], monitor_ids=np.zeros(120),
                          encoder=nn.Linear(2, 2), pseudo_labeler=run_labeler)
    stage = ClusterContrastStage(ctx)
    stage.setup()
    assert stage.labeler.fixed_eps == 0.6
    result = ctx.compute_pseudo_labels(torch.as_tensor(x), "baseline", 0, labeler=stage.labeler)
    assert result.eps == 0.6 and run_labeler.eps is None     # the run's eps is left alone
    assert ctx.compute_pseudo_labels(torch.as_tensor(x), "joint", 0).eps != 0.6
    default = ClusterContrastStage(dataclass_copy(ctx, cfg=load_config(None)))
    default.setup()
    assert default.labeler is None


def dataclass_copy(ctx, **changes):
    import dataclasses

    return dataclasses.replace(ctx, **changes)


def test_baseline_num_instances_drive_the_sampler_and_the_batch_rule(monkeypatch):
    assert baseline_num_instances(load_config(None)) == 4              # DATALOADER.NUM_INSTANCES
    cfg = load_config(None, ["SOLVER.BASELINE.NUM_INSTANCES", "16"])
    assert baseline_num_instances(cfg) == 16
    with pytest.raises(ConfigError, match=r"SOLVER\.BASELINE\.BATCH_SIZE 40 .*"
                                          r"SOLVER\.BASELINE\.NUM_INSTANCES 16"):
        load_config(None, ["SOLVER.BASELINE.NUM_INSTANCES", "16", "SOLVER.BASELINE.BATCH_SIZE",
                           "40"])
    seen = {}
    monkeypatch.setattr("reid.engine.stages.baseline.build_train_loader",
                        lambda items, **kw: seen.update(kw) or [])
    features = torch.nn.functional.normalize(torch.randn(8, 512), dim=1)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ctx = _ctx(cfg, extract_train_features=lambda foreground=False: features,
               compute_pseudo_labels=lambda f, s, e, labeler=None: SimpleNamespace(
                   labels=labels, num_clusters=2, num_outliers=0),
               encoder=nn.Linear(2, 2))
    stage = ClusterContrastStage(ctx)
    stage.setup()
    stage.plan_epoch(0)
    assert seen["num_instances"] == 16


# ------------------------------------------------------------------ INPUT.GENERATIVE_AUGMENT
@pytest.mark.parametrize("augment", [True, False])
def test_generative_augment_flips_and_crops_or_not(toy_root, tmp_path, augment):
    cfg = toy_cfg(toy_root, str(tmp_path), "INPUT.GENERATIVE_AUGMENT", str(augment),
                  "INPUT.FLIP_PROB", "0.5", "INPUT.PADDING", "4")
    dataset = GanWarmupStage(_ctx(cfg, toy_root))._view_loader(0).dataset
    assert (dataset.paired.flip_prob, dataset.paired.padding) == ((0.5, 4) if augment else (0, 0))
    draws = []
    for seed in range(6):
        torch.manual_seed(seed)
        sample = dataset[0]
        draws.append(torch.cat([sample["img"], sample["s_ori"]]))
    differ = any(not torch.equal(draws[0], d) for d in draws[1:])
    assert differ == augment


# ------------------------------------------------------------------ TEST.FLIP
@pytest.mark.parametrize("flip", [True, False])
def test_evaluation_follows_test_flip(tmp_path, monkeypatch, flip):
    from reid.data import make_toy_reid_folder
    from reid.evaluation import runner

    make_toy_reid_folder(str(tmp_path / "data"), num_ids=4, num_cameras=2,
                         images_per_id_per_camera=2, size=(32, 16), layout="generic", seed=1)
    real, used = runner.extract_features, []

    def spy(model, loader, device, flip=True, **kw):
        used.append(flip)
        return real(model, loader, device, flip=flip, **kw)

    monkeypatch.setattr(runner, "extract_features", spy)
    cfg = load_config(None, ["DATASETS.NAME", "generic", "DATASETS.ROOT", str(tmp_path / "data"),
                             "MODEL.DEVICE", "cpu", "INPUT.SIZE", "(32, 16)", "TEST.FLIP",
                             str(flip), "DATALOADER.NUM_WORKERS", "0"])
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    results = runner.run_evaluation(cfg, model=model, output_dir=str(tmp_path / "eval"))
    assert used == [flip, flip] and results["flip"] == flip


# ------------------------------------------------------------------ MODEL.ADAIN_INPUT
def test_adain_input_stripe_and_flat_slice():
    torch.manual_seed(0)
    b, d, p = 2, 16, 4
    stripes = torch.randn(b, d, p)
    seen = {}
    for layout in ("stripe", "flat_slice"):
        g = AppearanceDecoder(8, d, p, mlp_dim=8, num_res_blocks=p, adain_input=layout)
        inputs = []
        for mlp in g.scale_mlps:
            mlp.register_forward_hook(lambda m, args, out, inputs=inputs: inputs.append(args[0]))
        g.adain_parameters(stripes)
        seen[layout] = inputs
    for k in range(p):
        assert torch.equal(seen["stripe"][k], stripes[:, :, k])
        # The authors' code: part pooling (B, 2048, 4, 1) viewed as (B, 8192), MLP k reading
        # [:, 2048 k : 2048 (k + 1)], i.e. channels d k / p .. d (k + 1) / p of every stripe.
        official = stripes.unsqueeze(-1).view(b, d * p)[:, d * k:d * (k + 1)]
        assert torch.equal(seen["flat_slice"][k], official)
        assert torch.equal(official.view(b, d // p, p), stripes[:, d * k // p:d * (k + 1) // p])
    cfg = load_config(None, ["MODEL.ADAIN_INPUT", "flat_slice", "MODEL.STRUCTURE_DIM", "16"])
    assert build_generative_module(cfg, code_dim=64).generator.adain_input == "flat_slice"
    with pytest.raises(ValueError, match="adain_input"):
        AppearanceDecoder(8, d, p, adain_input="rows")


# ------------------------------------------------------------------ GCL.JOINT_OUTLIERS
def _joint_with_labels(cfg, root, labels):
    memory = SimpleNamespace(set_labels=lambda labels: None, features=None)
    result = SimpleNamespace(labels=labels, num_clusters=int(labels.max()) + 1,
                             num_outliers=int((labels < 0).sum()))
    stage = JointStage(_ctx(cfg, root, memory=memory,
                            compute_pseudo_labels=lambda f, s, e, labeler=None: result))
    stage.step, stage.step_config, stage.video_view = SimpleNamespace(), GCLStepConfig(), None
    return stage


@pytest.mark.parametrize("use_gan", [True, False])
@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_joint_outliers_kept_or_dropped(toy_root, tmp_path, policy, use_gan):
    cfg = toy_cfg(toy_root, str(tmp_path), "GCL.JOINT_OUTLIERS", policy, "GCL.USE_GAN",
                  str(use_gan), "GCL.STAGES", "('joint',)")
    n = len(_ctx(cfg, toy_root).train_items)
    labels = np.full(n, -1)
    labels[: n // 2] = np.arange(n // 2) % 3
    dataset = _joint_with_labels(cfg, toy_root, labels).plan_epoch(0).loader.dataset
    rows = [dataset[i]["index"] for i in range(len(dataset))]
    assert rows == (list(range(n)) if policy == "keep" else list(range(n // 2)))
    # Fewer than two clusters: "drop" keeps every image (L_gan alone trains that epoch).
    if use_gan:
        single = np.where(labels >= 0, 0, -1)
        assert len(_joint_with_labels(cfg, toy_root, single).plan_epoch(0).loader.dataset) == n


# ------------------------------------------------------------------ GCL.IMG_LOSS_NORM, LSGAN_GEN_FACTOR
def test_img_loss_norm_none_and_imagenet():
    torch.manual_seed(0)
    x, a, c = (torch.rand(2, 3, 8, 4) * 2 - 1 for _ in range(3))
    plain = (a - x).abs().mean() + (c - x).abs().mean()
    assert torch.allclose(image_reconstruction_loss(x, a, c), plain)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def imagenet(v):
        return ((v + 1) / 2 - mean) / std

    official = ((imagenet(a) - imagenet(x)).abs().mean()
                + (imagenet(c) - imagenet(x)).abs().mean())
    ours = image_reconstruction_loss(x, a, c, norm="imagenet")
    assert torch.allclose(ours, official, atol=1e-6)
    assert 2.1 < float(ours / plain) < 2.3
    with pytest.raises(ValueError, match="norm"):
        image_reconstruction_loss(x, a, c, norm="zscore")


def test_lsgan_generator_factor_and_step_config():
    scores = [torch.rand(6, 1, 4, 2), torch.rand(6, 1, 2, 1)]
    one = lsgan_generator_loss(scores, groups=3)
    assert torch.equal(lsgan_generator_loss(scores, groups=3, factor=1.0), one)
    assert torch.allclose(lsgan_generator_loss(scores, groups=3, factor=2.0), 2 * one)
    paper = GCLStepConfig.from_cfg(load_config("configs/market.yaml"))
    assert (paper.lsgan_gen_factor, paper.img_loss_norm) == (2.0, "imagenet")
    ours = GCLStepConfig.from_cfg(load_config(None))
    assert (ours.lsgan_gen_factor, ours.img_loss_norm) == (1.0, "none")


# ------------------------------------------------------------------ GAN_WEIGHT_DECAY, GAN_OPTIMIZER_STATE
def _generative_ctx(cfg):
    gen = build_generative_module(cfg, code_dim=64)
    return _ctx(cfg, generative=gen, memory=SimpleNamespace(initialize=lambda f: None,
                                                            num_samples=0),
                extract_train_features=lambda: None)


def _warmed_up(cfg):
    """A gan_warmup stage whose Adam optimisers took two steps; returns (ctx, states)."""
    ctx = _generative_ctx(cfg)
    warmup = GanWarmupStage(ctx)
    warmup._gan_optimizers()
    for _ in range(2):
        for opt in (warmup.gen_optimizer, warmup.dis_optimizer):
            for group in opt.param_groups:
                for p in group["params"]:
                    p.grad = torch.randn_like(p)
            opt.step()
    return ctx, warmup.finish()["optimizers"]


def _opts(*extra):
    return ["MODEL.STRUCTURE_DIM", "16", "MODEL.DISC_BASE_CHANNELS", "8",
            "GCL.STAGES", "('gan_warmup', 'joint')", *extra]


@pytest.mark.parametrize("decay", ["0.0", "0.0005"])
def test_gan_weight_decay_reaches_both_adam_optimisers(decay):
    cfg = load_config(None, _opts("SOLVER.GAN_WARMUP.GAN_WEIGHT_DECAY", decay,
                                  "SOLVER.JOINT.GAN_WEIGHT_DECAY", decay))
    for stage_type in (GanWarmupStage, JointStage):
        stage = stage_type(_generative_ctx(cfg))
        stage._gan_optimizers()
        for opt in (stage.gen_optimizer, stage.dis_optimizer):
            assert opt.param_groups[0]["weight_decay"] == float(decay)


@pytest.mark.parametrize("policy", ["fresh", "warmup"])
def test_joint_gan_optimizer_state_fresh_or_continued(policy):
    cfg = load_config(None, _opts("SOLVER.JOINT.GAN_OPTIMIZER_STATE", policy,
                                  "SOLVER.JOINT.GAN_LR", "5e-05"))
    ctx, states = _warmed_up(cfg)
    assert ctx.warmup_optimizers is not None
    states = copy.deepcopy(states)          # what the warm-up ended with, before the joint loads it
    joint = JointStage(ctx)
    joint._gan_optimizers()
    joint.begin()
    for name, opt in (("generator", joint.gen_optimizer), ("discriminator", joint.dis_optimizer)):
        state = opt.state_dict()
        assert state["param_groups"][0]["lr"] == 5e-05           # this section's settings
        if policy == "fresh":
            assert not state["state"]
            continue
        for index, moments in states[name]["state"].items():
            assert torch.equal(state["state"][index]["exp_avg"], moments["exp_avg"])
            assert float(state["state"][index]["step"]) == 2.0


def test_joint_continues_the_optimisers_of_a_saved_warmup(tmp_path, caplog):
    path = str(tmp_path / "generative_warmup.pth")
    cfg = load_config(None, _opts("SOLVER.JOINT.GAN_OPTIMIZER_STATE", "warmup",
                                  "MODEL.GENERATIVE_WEIGHTS", path))
    warm_ctx, states = _warmed_up(cfg)
    atomic_save({"state_dict": warm_ctx.generative.state_dict(), "optimizers": states}, path)
    joint = JointStage(_generative_ctx(cfg))                      # a joint-only run
    joint._gan_optimizers()
    joint.begin()
    assert len(joint.gen_optimizer.state_dict()["state"]) == len(states["generator"]["state"])
    # An older warm-up file without optimiser states: fresh states, and a warning says so.
    atomic_save({"state_dict": warm_ctx.generative.state_dict()}, path)
    joint = JointStage(_generative_ctx(cfg))
    joint._gan_optimizers()
    with caplog.at_level(logging.WARNING, logger="reid.test"):
        joint.begin()
    assert "fresh Adam states" in caplog.text and not joint.gen_optimizer.state_dict()["state"]


@pytest.mark.slow  # about a minute on a shared 2-core CPU
def test_paper_switches_train_end_to_end(toy_root, tmp_path):
    """gan_warmup + joint with every switch on the authors' side; the warm-up file holds the
    optimiser states the joint stage continues."""
    from common.serialization import load_checkpoint_file
    from reid.engine import GCLTrainer

    out = str(tmp_path / "run")
    cfg = toy_cfg(toy_root, out, "GCL.STAGES", "('gan_warmup', 'joint')",
                  "SOLVER.GAN_WARMUP.ITERS_PER_EPOCH", "1", "SOLVER.JOINT.EPOCHS", "1",
                  "SOLVER.JOINT.ITERS_PER_EPOCH", "1", "CLUSTER.EPS", "0.0", "CLUSTER.RHO",
                  "0.05", "CLUSTER.EPS_POLICY", "per_epoch", "INPUT.GENERATIVE_AUGMENT", "False",
                  "MODEL.ADAIN_INPUT", "flat_slice", "GCL.JOINT_OUTLIERS", "drop",
                  "GCL.IMG_LOSS_NORM", "imagenet", "GCL.LSGAN_GEN_FACTOR", "2.0",
                  "SOLVER.GAN_WARMUP.GAN_WEIGHT_DECAY", "0.0005",
                  "SOLVER.JOINT.GAN_WEIGHT_DECAY", "0.0005",
                  "SOLVER.JOINT.GAN_OPTIMIZER_STATE", "warmup")
    summary = GCLTrainer(cfg).run()
    assert [h["stage"] for h in summary["history"]] == ["gan_warmup", "joint"]
    saved = load_checkpoint_file(os.path.join(out, "generative_warmup.pth"))
    assert set(saved["optimizers"]) == {"generator", "discriminator"}
    assert saved["optimizers"]["generator"]["state"]


# ------------------------------------------------------------------ MESH.DIR
def test_mesh_dir_relative_to_the_dataset_folder_absolute_as_given(tmp_path, monkeypatch, caplog):
    dataset = SimpleNamespace(root=str(tmp_path / "data" / "Market-1501-v15.09.15"))
    monkeypatch.chdir(tmp_path)

    def resolved(mesh_dir):
        return mesh_dir_of(load_config(None, ["MESH.DIR", mesh_dir]), dataset)

    assert resolved("") == os.path.join(dataset.root, "meshes")
    assert resolved("meshes") == os.path.join(dataset.root, "meshes")
    assert resolved("renders/v2") == os.path.join(dataset.root, "renders", "v2")
    assert resolved(str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere")
    cfg = load_config(None, ["MESH.DIR", "meshes"])
    assert structure_cache_for(cfg, dataset).mesh_dir == os.path.join(dataset.root, "meshes")
    # A folder relative to the working folder only (what an old config meant): used, with a warning.
    os.makedirs(tmp_path / "datasets" / "old" / "meshes")
    with caplog.at_level(logging.WARNING, logger="reid"):
        assert resolved("datasets/old/meshes") == "datasets/old/meshes"
    assert "relative MESH.DIR lies below the dataset folder" in caplog.text
