"""Sample and manipulate videos: ``python tools/sample_video.py --config CFG --weights PATH``.

G3AN: fixed appearance with varied motion and the reverse (MP4, GIF, PNG strips).
ImaGINator: one input image (``--image``, else the first frame of the first data clip) animated
with every label.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from generators.config import load_generator_config  # noqa: E402
from generators.sampling import (first_frame_of, g3an_manipulations, imaginator_all_labels,  # noqa: E402
                                 load_generator, read_input_image, write_clip_set)
from reid.utils import resolve_device  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", required=True, help="checkpoint_last.pth / generator_final.pth")
    parser.add_argument("--out", default="", help="output folder (default OUTPUT_DIR/manipulation)")
    parser.add_argument("--image", default="", help="ImaGINator input image")
    parser.add_argument("--appearances", type=int, default=4)
    parser.add_argument("--motions", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1, help="G3AN z_m time steps (1 = 16 frames)")
    parser.add_argument("--label", type=int, default=0, help="G3AN class when conditional")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_generator_config(args.config, args.opts)
    out = args.out or os.path.join(cfg.OUTPUT_DIR, "manipulation")
    generator = load_generator(cfg, args.weights, resolve_device(cfg.MODEL.DEVICE))
    written = []
    if cfg.MODEL.NAME.lower() == "g3an":
        sets = g3an_manipulations(generator, args.appearances, args.motions, args.steps,
                                  torch.tensor([args.label]), args.seed)
        written += write_clip_set(sets["fixed_appearance"], out, "fixed_appearance_varied_motion",
                                  args.motions)
        written += write_clip_set(sets["fixed_motion"], out, "fixed_motion_varied_appearance",
                                  args.appearances)
    else:
        if args.image:
            image = read_input_image(args.image)
        else:
            from generators.training import build_dataset

            dataset = build_dataset(cfg)
            image = first_frame_of(dataset.records[0].path) if os.path.isdir(
                dataset.records[0].path) else dataset[0]["video"][:, 0]
        videos = imaginator_all_labels(generator, image, args.seed)
        written += write_clip_set(videos, out, "one_image_every_label", videos.shape[0])
    print("\n".join(written))


if __name__ == "__main__":
    main()
