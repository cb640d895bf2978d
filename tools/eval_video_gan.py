"""Evaluate a trained video GAN: ``python tools/eval_video_gan.py --config CFG --weights PATH``.

SSIM, PSNR (ImaGINator) and ACD natively; video FID with ``--resnext-weights`` (3D ResNeXt-101
Kinetics), FVD with ``--i3d-weights`` (I3D Kinetics-400: a PyTorch I3D state dict or the StyleGAN-V
``i3d_torchscript.pt``), and the classifier scores with ``--classifier-weights`` (a checkpoint of
tools/train_video_classifier.py): ``fcd`` (Fréchet distance in its feature space, not FVD),
``classifier_score`` and, for label-conditioned models, ``action_accuracy``. Prints one JSON
object.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import resolve_device  # noqa: E402
from generators.config import load_generator_config  # noqa: E402
from generators.data import build_dataset  # noqa: E402
from generators.evaluation import evaluate_generator  # noqa: E402
from generators.sampling import load_generator  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--num-videos", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resnext-weights", default="", help="3D ResNeXt-101 weights (video FID)")
    parser.add_argument("--i3d-weights", default="",
                        help="I3D weights or i3d_torchscript.pt (FVD)")
    parser.add_argument("--classifier-weights", default="",
                        help="action classifier checkpoint (FCD, classifier score, accuracy)")
    parser.add_argument("--score-splits", type=int, default=1,
                        help="splits of the classifier score")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_generator_config(args.config, args.opts)
    generator = load_generator(cfg, args.weights, resolve_device(cfg.MODEL.DEVICE))
    scores = evaluate_generator(generator, cfg, build_dataset(cfg), args.num_videos,
                                args.batch_size, args.resnext_weights, args.i3d_weights,
                                classifier_weights=args.classifier_weights,
                                score_splits=args.score_splits)
    print(json.dumps(scores))


if __name__ == "__main__":
    main()
