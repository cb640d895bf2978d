"""Write the synthetic labelled human-action clips: ``python tools/make_action_clips.py --out DIR``.

Eight actions (walk, run, wave one hand, wave two hands, bend, jump, jumping jack, side step),
64x64 (or --size H --width W, e.g. 128x64 person crops), 32 frames, animated from the mesh subsystem's body model; deterministic for a seed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generators.action_clips import ACTIONS, NUM_FRAMES, make_action_clips  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--clips-per-action", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=NUM_FRAMES)
    parser.add_argument("--size", type=int, default=64, help="frame height (and width)")
    parser.add_argument("--width", type=int, default=0, help="frame width (0 = --size, square)")
    parser.add_argument("--actions", nargs="*", default=list(ACTIONS), choices=list(ACTIONS))
    args = parser.parse_args(argv)
    names = make_action_clips(args.out, args.clips_per_action, args.seed, args.frames,
                              (args.size, args.width or args.size), actions=tuple(args.actions))
    print(f"wrote {len(names)} clips to {args.out} (labels.csv, classes.txt)")


if __name__ == "__main__":
    main()
