"""Train the action classifier of the classifier scores: ``python tools/train_video_classifier.py
--clips DIR --out FILE``.

DIR holds labelled clips (labels.csv or class folders; e.g. the synthetic action clips of
tools/make_action_clips.py, built first with --synthetic when missing). A per-class seeded split
holds out --held-out of the clips; the held-out accuracy is printed and the last line is one JSON
object. The checkpoint (state dict, class names, input size, frames, feature size) is what
``tools/eval_video_gan.py --classifier-weights FILE`` reads for FCD, the classifier score and the
action accuracy.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import resolve_device  # noqa: E402
from generators.metrics.classifier_training import train_action_classifier  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", required=True, help="folder of labelled clips")
    parser.add_argument("--out", required=True, help="checkpoint to write (.pth)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="split, initialisation, augmentation")
    parser.add_argument("--held-out", type=float, default=0.25,
                        help="share of each class's clips held out")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--size", type=int, default=32, help="input frame size")
    parser.add_argument("--frames", type=int, default=16, help="input frames")
    parser.add_argument("--width", type=int, default=16, help="first-stage channels (features: 8x)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    parser.add_argument("--synthetic", action="store_true",
                        help="build the synthetic action clips in --clips first when missing")
    parser.add_argument("--clips-per-action", type=int, default=8,
                        help="with --synthetic: clips per action (the configs' default 8)")
    parser.add_argument("--synthetic-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.synthetic:
        from generators.action_clips import ensure_action_clips

        ensure_action_clips(args.clips, args.clips_per_action, args.synthetic_seed)
    result = train_action_classifier(
        args.clips, args.out, epochs=args.epochs, seed=args.seed, held_out_fraction=args.held_out,
        batch_size=args.batch_size, lr=args.lr, input_size=args.size, num_frames=args.frames,
        width=args.width, device=resolve_device(args.device), log=print)
    print(f"held-out accuracy: {result['held_out_accuracy']:.4f} "
          f"({result['num_held_out']} clips, {result['num_classes']} classes)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
