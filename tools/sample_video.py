"""Sample and manipulate videos: ``python tools/sample_video.py --config CFG --weights PATH``.

G3AN: fixed appearance with varied motion and the reverse (MP4, GIF, PNG strips).
ImaGINator: one input image (``--image``, else the first frame of the first data clip) animated
with every label.
InMoDeGAN: clips with all motion directions and with ``--active`` only / all but ``--inactive``,
plus ``--stats-directions K ...`` -> optical-flow motion statistics JSON.
MoStGAN-V: ``--num-frames`` clips of any length.
What a model writes is its registry spec's ``write_samples`` (``generators/<model>/sampling.py``).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import resolve_device  # noqa: E402
from generators.config import load_generator_config  # noqa: E402
from generators.registry import video_gan_of  # noqa: E402
from generators.sampling import SampleOptionError, load_generator  # noqa: E402


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
    spec = video_gan_of(cfg)
    if spec.write_samples is None:
        parser.error(f"MODEL.NAME {cfg.MODEL.NAME} has no sampling tool")
    generator = load_generator(cfg, args.weights, resolve_device(cfg.MODEL.DEVICE))
    try:
        written = spec.write_samples(generator, cfg, args, out)
    except SampleOptionError as exc:
        parser.error(str(exc))
    print("\n".join(written))


if __name__ == "__main__":
    main()
