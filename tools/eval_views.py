"""Score GCL's generated views against the ground-truth novel views of a synthetic dataset.

    python tools/eval_views.py --config configs/synthetic.yaml \\
        --encoder outputs/synthetic/final_encoder.pth \\
        --generative outputs/synthetic/checkpoints/last.pth [--images 64] [--inception PATH]
        [KEY VALUE ...]

``--encoder``: an identity-encoder file (``baseline_encoder.pth``, ``final_encoder.pth``) or a
training checkpoint; ``--generative``: ``generative_warmup.pth`` or a training checkpoint
(default: the ``--encoder`` file when it is a training checkpoint holding the generative
module). The generative module is built from the config, which must be the one the weights were
trained with. ``--inception``: Inception-v3 weights for FID (torchvision's or pytorch-fid's
pt_inception file; nothing is downloaded). Prints the markdown table of
:func:`reid.evaluation.view_fidelity.format_view_table`, then the whole result as one JSON line.
Problems (no ground-truth views, missing maps, weights that do not fit) are reported by name
before any network runs; the exit status is then 1.
"""
import argparse
import json
import os
import sys
from collections.abc import Mapping

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import resolve_device  # noqa: E402
from common.finite import NonFiniteWeightsError, refuse_non_finite_load  # noqa: E402
from common.serialization import UnsafeCheckpointError, load_checkpoint_file  # noqa: E402
from common.state_dict import load_state_dict_with_report, unwrap_state_dict  # noqa: E402
from reid.config import ConfigError, load_config  # noqa: E402
from reid.data.build import build_dataset_from_cfg  # noqa: E402
from reid.evaluation.view_fidelity import (DEFAULT_IMAGES, MissingGroundTruthError,  # noqa: E402
                                           evaluate_views, evaluation_subset, fidelity_angles,
                                           format_view_table, items_with_ground_truth,
                                           load_inception)
from reid.models.checkpoint import load_identity_encoder  # noqa: E402
from reid.models.gcl import build_generative_module  # noqa: E402
from reid.models.weight_checks import PartialLoadError, check_complete_load  # noqa: E402
from reid.views import check_structure_maps, structure_cache_for  # noqa: E402

FIT_HINT = ("use the --config and overrides the weights were trained with (MODEL.BACKBONE, "
            "MODEL.STRUCTURE_DIM, MODEL.GEN_RES_BLOCKS, MODEL.NUM_PARTS, MODEL.DISC_*)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="", help="ReID config (the training run's)")
    parser.add_argument("--encoder", required=True,
                        help="identity-encoder file or training checkpoint (E_id)")
    parser.add_argument("--generative", default="",
                        help="generative_warmup.pth or a training checkpoint (E_str, G, D); "
                             "default: --encoder when it is a training checkpoint")
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                        help="training images scored (a fixed subset, up to 4 per identity)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--inception", default="", help="Inception-v3 weights: adds FID")
    parser.add_argument("--device", default="", help="default: MODEL.DEVICE")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser


def generative_state(path: str) -> Mapping:
    """The generative module's state dict in ``path``: a training checkpoint's
    ``models["generative"]`` or the ``state_dict`` of ``generative_warmup.pth``."""
    obj = load_checkpoint_file(path, what="generative weights")
    if isinstance(obj, Mapping) and isinstance(obj.get("models"), Mapping):
        models = obj["models"]
        if "generative" not in models:
            raise ValueError(f"{path}: training checkpoint without the generative module under "
                             f"'models' (found: {', '.join(map(str, models))}); it was written "
                             "by a run without GCL.USE_GAN or before the generative stages")
        return models["generative"]
    return unwrap_state_dict(obj, path)


def load_networks(cfg, encoder_path: str, generative_path: str, device):
    """E_id and the generative module, refusing weights that do not fit or are not finite."""
    encoder, report = load_identity_encoder(encoder_path, cfg=cfg, device=device)
    check_complete_load(report, "--encoder")
    refuse_non_finite_load(encoder.state_dict(), encoder_path, what="--encoder weights")
    generative = build_generative_module(cfg, code_dim=encoder.feature_dim)
    report = load_state_dict_with_report(generative, generative_state(generative_path),
                                         source=generative_path)
    if not report.clean:
        raise PartialLoadError(f"--generative {generative_path} does not fit the generative "
                               f"module of this config:\n{report.summary()}\n{FIT_HINT}")
    refuse_non_finite_load(generative.state_dict(), generative_path, what="--generative weights")
    return encoder, generative.to(device).eval()


def default_generative(encoder_path: str) -> str:
    """``encoder_path`` when it is a training checkpoint with the generative module."""
    obj = load_checkpoint_file(encoder_path, what="--encoder")
    if isinstance(obj, Mapping) and isinstance(obj.get("models"), Mapping) and (
            "generative" in obj["models"]):
        return encoder_path
    raise ValueError(f"--generative is needed: {encoder_path} holds no generative module (give "
                     "OUTPUT_DIR/generative_warmup.pth or a training checkpoint such as "
                     "OUTPUT_DIR/checkpoints/last.pth)")


def run(args) -> dict:
    cfg = load_config(args.config or None, args.opts)
    for flag, path in (("--encoder", args.encoder), ("--generative", args.generative),
                       ("--inception", args.inception)):
        if path and not os.path.isfile(path):
            raise FileNotFoundError(f"{flag}: no file {path}")
    dataset = build_dataset_from_cfg(cfg, verbose=False, extra_train_dirs=False)
    cache = structure_cache_for(cfg, dataset)
    angles = fidelity_angles(dataset.root, cache.angles)
    items = evaluation_subset(items_with_ground_truth(dataset.root, dataset.train, angles),
                              args.images)
    if not items:
        raise MissingGroundTruthError(f"{dataset.root}: no training image has ground-truth views "
                                      f"at every angle of {list(angles)}")
    check_structure_maps(cache, items, angles=(0, *angles))
    device = resolve_device(args.device or cfg.MODEL.DEVICE)
    generative_path = args.generative or default_generative(args.encoder)
    encoder, generative = load_networks(cfg, args.encoder, generative_path, device)
    inception = load_inception(args.inception, device) if args.inception else None
    return evaluate_views(encoder, generative, dataset.root, cache, items, angles,
                          size=tuple(cfg.INPUT.SIZE), device=device,
                          batch_size=args.batch_size, inception=inception)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (("--images", args.images), ("--batch-size", args.batch_size)):
        if value < 1:
            parser.error(f"{flag} must be an integer >= 1; got {value}")
    try:
        result = run(args)
    except ConfigError as exc:
        parser.error(str(exc))
    except (OSError, ValueError, RuntimeError, NonFiniteWeightsError,
            UnsafeCheckpointError) as exc:
        print(f"eval_views.py: error: {exc}", file=sys.stderr)
        return 1
    print(format_view_table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
