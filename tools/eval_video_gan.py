"""Evaluate a trained video GAN: ``python tools/eval_video_gan.py --config CFG --weights PATH``.

SSIM, PSNR (ImaGINator) and ACD natively; video FID with ``--resnext-weights`` (3D ResNeXt-101
Kinetics) and FVD with ``--i3d-weights`` (I3D Kinetics-400). Prints one JSON object.
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
    parser.add_argument("--i3d-weights", default="", help="I3D weights (FVD)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_generator_config(args.config, args.opts)
    generator = load_generator(cfg, args.weights, resolve_device(cfg.MODEL.DEVICE))
    scores = evaluate_generator(generator, cfg, build_dataset(cfg), args.num_videos,
                                args.batch_size, args.resnext_weights, args.i3d_weights)
    print(json.dumps(scores))


if __name__ == "__main__":
    main()
