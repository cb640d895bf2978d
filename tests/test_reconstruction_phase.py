"""The reconstruction-first phase of gan_warmup (SOLVER.GAN_WARMUP.RECONSTRUCTION_*)."""
import os

import pytest
import torch

from reid.config import ConfigError, load_config
from reid.data import build_dataset
from reid.engine import GCLTrainer
from reid.engine.reconstruction_step import ReconstructionStep
from reid.engine.validation import validate_training_config
from reid.losses import image_reconstruction_loss, view_reconstruction_loss
from reid.models import build_identity_encoder
from reid.models.gcl import GCLGenerativeModule, build_generative_module
from common.serialization import load_checkpoint_file
from tests.toy_gcl import make_toy_gcl_root, toy_cfg



@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy_rec")))


def test_view_reconstruction_loss_is_each_term_of_l_img():
    g = torch.Generator().manual_seed(0)
    x, a, b = (torch.rand(2, 3, 8, 4, generator=g) * 2 - 1 for _ in range(3))
    for norm in ("none", "imagenet"):
        total = image_reconstruction_loss(x, a, b, norm)
        assert torch.equal(total, view_reconstruction_loss(x, a, norm) + view_reconstruction_loss(x, b, norm))
    assert torch.isclose(view_reconstruction_loss(x, a), (x - a).abs().mean())
    with pytest.raises(ValueError, match="norm must be one of"):
        view_reconstruction_loss(x, a, "bogus")
    with pytest.raises(ValueError, match="shapes differ"):
        view_reconstruction_loss(x, a[:, :, :4])


def _tiny_networks():
    torch.manual_seed(0)
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "INPUT.SIZE", "(32, 16)"])
    encoder = build_identity_encoder(cfg).eval()
    generative = GCLGenerativeModule(structure_dim=16, code_dim=encoder.feature_dim,
                                     disc_channels=8, aspp_dilations=(1, 2))
    return encoder, generative


def test_reconstruction_step_trains_e_str_and_g_only():
    encoder, generative = _tiny_networks()
    g = torch.Generator().manual_seed(1)
    # Smooth images whose grey level is the structure map: learnable in a few steps.
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 2, generator=g) * 2 - 1,
                                        size=(32, 16), mode="bilinear")
    s = x.mean(dim=1, keepdim=True)
    optimizer = torch.optim.Adam(generative.generator_parameters(), lr=2e-3, betas=(0.0, 0.999))
    step = ReconstructionStep(encoder, generative, optimizer)
    encoder_before = {k: v.clone() for k, v in encoder.state_dict().items()}
    disc_before = {k: v.clone() for k, v in generative.discriminator.state_dict().items()}
    g_before = [p.detach().clone() for p in generative.generator_parameters()]
    losses = [step(x, s)["rec_img"] for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0]          # it learns to redraw the batch
    for k, v in encoder.state_dict().items():    # E_id frozen, running statistics included
        assert torch.equal(v, encoder_before[k]), k
    for k, v in generative.discriminator.state_dict().items():
        assert torch.equal(v, disc_before[k]), k
    assert all(p.grad is None for p in generative.discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, generative.generator_parameters()))
    with pytest.raises(ValueError, match="differ in batch size or image size"):
        step(x, s[:2])


def _recon_opts(root):
    """gan_warmup alone: 2 reconstruction epochs longer than one pass over the training set,
    then 1 adversarial epoch."""
    n_train = len(build_dataset("generic", root, verbose=False).train)
    iters = n_train // 4 + 3          # batch 4: more batches than one pass holds
    return iters, ["GCL.STAGES", "('gan_warmup',)", "SOLVER.GAN_WARMUP.EPOCHS", "3",
                   "SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS", "2",
                   "SOLVER.GAN_WARMUP.RECONSTRUCTION_ITERS_PER_EPOCH", str(iters),
                   "TEST.EVAL_PERIOD", "0"]


def _last_state(out):
    return load_checkpoint_file(os.path.join(out, "checkpoints", "last.pth"), trust_pickle=False)


def test_gan_warmup_starts_with_reconstruction_epochs(toy_root, tmp_path):
    iters, opts = _recon_opts(toy_root)
    out = str(tmp_path / "run")
    GCLTrainer(toy_cfg(toy_root, out, *opts)).run()
    optimizers = _last_state(out)["stage_state"]["optimizers"]
    rec_steps = {int(s["step"]) for s in optimizers["reconstruction"]["state"].values()}
    gen_steps = {int(s["step"]) for s in optimizers["generator"]["state"].values()}
    dis_steps = {int(s["step"]) for s in optimizers["discriminator"]["state"].values()}
    assert rec_steps == {2 * iters} and gen_steps == {2} and dis_steps == {2}
    # The warm-up file keeps the adversarial Adam states (what a joint stage may continue).
    warmup = load_checkpoint_file(os.path.join(out, "generative_warmup.pth"), trust_pickle=False)
    assert set(warmup["optimizers"]) == {"generator", "discriminator"}


def test_resume_inside_the_reconstruction_phase_is_exact(toy_root, tmp_path):
    _, opts = _recon_opts(toy_root)
    opts += ["SOLVER.GAN_WARMUP.RECONSTRUCTION_ITERS_PER_EPOCH", "3"]
    longer = ["SOLVER.GAN_WARMUP.EPOCHS", "4", "SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS", "3"]
    straight = str(tmp_path / "straight")
    GCLTrainer(toy_cfg(toy_root, straight, *opts, *longer)).run()
    # Stopped after 2 of the 3 reconstruction epochs, resumed with the straight run's config:
    # the third epoch continues the reconstruction Adam state, the fourth is adversarial.
    split = str(tmp_path / "split")
    GCLTrainer(toy_cfg(toy_root, split, *opts, "SOLVER.GAN_WARMUP.EPOCHS", "2")).run()
    GCLTrainer(toy_cfg(toy_root, split, *opts, *longer), resume=True).run()
    a, b = _last_state(straight)["models"], _last_state(split)["models"]
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)


@pytest.mark.parametrize("opts, message", [
    (["SOLVER.GAN_WARMUP.EPOCHS", "2", "SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS", "3"],
     "RECONSTRUCTION_EPOCHS 3 exceeds SOLVER.GAN_WARMUP.EPOCHS 2"),
    (["SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS", "1", "SOLVER.GAN_WARMUP.RECONSTRUCTION_LR", "0.0"],
     "RECONSTRUCTION_LR must be a number > 0"),
])
def test_bad_reconstruction_and_aspp_settings_are_refused(opts, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, opts)


@pytest.mark.parametrize("opts, message", [
    (["INPUT.SIZE", "(64, 32)"], r"width 32 is below 40 .*largest of MODEL.ASPP_DILATIONS.*"
                                 r"dilations of at most 7 in MODEL.ASPP_DILATIONS"),
    (["INPUT.SIZE", "(64, 32)", "MODEL.ASPP_DILATIONS", "(1, 8)"], "width 32 is below 36"),
])
def test_aspp_dilations_must_fit_the_input_size(opts, message):
    cfg = load_config(None, opts)
    with pytest.raises(ConfigError, match=message):
        validate_training_config(cfg, ("baseline", "gan_warmup", "joint"))
    validate_training_config(cfg, ("baseline",))   # no generator: no such rule


@pytest.mark.parametrize("value", ["()", "(0, 2)", "(1.5,)"])
def test_aspp_dilations_must_be_positive_integers(value):
    with pytest.raises(ConfigError, match="MODEL.ASPP_DILATIONS must be one or more integers >= 1"):
        load_config(None, ["MODEL.ASPP_DILATIONS", value])


def test_aspp_dilations_reach_the_structure_encoder():
    cfg = load_config(None, ["INPUT.SIZE", "(64, 32)", "MODEL.ASPP_DILATIONS", "(1, 2, 3)"])
    module = build_generative_module(cfg, code_dim=512)
    out = module.structure_encoder(torch.zeros(2, 1, 64, 32))
    assert out.shape == (2, cfg.MODEL.STRUCTURE_DIM, 16, 8)
