"""Sample and manipulate videos: ``python tools/sample_video.py --config CFG --weights PATH``.

G3AN: fixed appearance with varied motion and the reverse (MP4, GIF, PNG strips).
ImaGINator: one input image (``--image``, else the first frame of the first data clip) animated
with every label.
InMoDeGAN: clips with all motion directions and with ``--active`` only / all but ``--inactive``,
plus ``--stats-directions K ...`` -> optical-flow motion statistics JSON.
MoStGAN-V: ``--num-frames`` clips of any length.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from generators.config import load_generator_config  # noqa: E402
from generators.sampling import (first_frame_of, g3an_manipulations, imaginator_all_labels,  # noqa: E402
                                 load_generator, read_input_image, style_video_samples,
                                 write_clip_set, write_motion_statistics)
from common import resolve_device  # noqa: E402


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
    parser.add_argument("--count", type=int, default=4, help="InMoDeGAN / MoStGAN-V clips")
    parser.add_argument("--num-frames", type=int, default=0,
                        help="InMoDeGAN / MoStGAN-V clip length (0 = the model's default)")
    parser.add_argument("--active", type=int, nargs="*", default=None,
                        help="InMoDeGAN: keep only these motion directions")
    parser.add_argument("--inactive", type=int, nargs="*", default=None,
                        help="InMoDeGAN: switch these motion directions off")
    parser.add_argument("--stats-directions", type=int, nargs="*", default=None,
                        help="InMoDeGAN: write motion_statistics.json for these directions")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_generator_config(args.config, args.opts)
    out = args.out or os.path.join(cfg.OUTPUT_DIR, "manipulation")
    generator = load_generator(cfg, args.weights, resolve_device(cfg.MODEL.DEVICE))
    written = []
    name = cfg.MODEL.NAME.lower()
    if name in ("inmodegan", "mostganv"):
        frames = args.num_frames or None
        videos = style_video_samples(generator, name, args.count, frames, args.seed)
        written += write_clip_set(videos, out, "samples", args.count)
        if args.active is not None or args.inactive:
            edited = style_video_samples(generator, name, args.count, frames, args.seed,
                                         args.active, args.inactive)
            written += write_clip_set(edited, out, "samples_directions_edited", args.count)
        if args.stats_directions:
            if name != "inmodegan":
                parser.error("--stats-directions needs an InMoDeGAN model")
            written.append(write_motion_statistics(
                generator, args.stats_directions, os.path.join(out, "motion_statistics.json"),
                min(args.count, 4), frames, args.seed))
    elif name == "g3an":
        sets = g3an_manipulations(generator, args.appearances, args.motions, args.steps,
                                  torch.tensor([args.label]), args.seed)
        written += write_clip_set(sets["fixed_appearance"], out, "fixed_appearance_varied_motion",
                                  args.motions)
        written += write_clip_set(sets["fixed_motion"], out, "fixed_motion_varied_appearance",
                                  args.appearances)
    else:
        if args.image:
            image = read_input_image(args.image, generator.image_size)
        else:
            from generators.training import build_dataset

            dataset = build_dataset(cfg)
            image = first_frame_of(dataset.records[0].path, generator.image_size) if os.path.isdir(
                dataset.records[0].path) else dataset[0]["video"][:, 0]
        videos = imaginator_all_labels(generator, image, args.seed)
        written += write_clip_set(videos, out, "one_image_every_label", videos.shape[0])
    print("\n".join(written))


if __name__ == "__main__":
    main()
