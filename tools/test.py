"""Evaluate an identity encoder on a dataset's query / gallery split.

    python tools/test.py --config configs/market.yaml --weights model.pth [--output DIR]
        [--rerank] [--visualize K] [KEY VALUE ...]

Prints a results table and writes DIR/results.json (mAP, rank-1/5/10/20, mINP in percent)
and the resolved config; --visualize K writes ranked-list PNGs for K queries. Only the dataset's
query and gallery are read (e.g. ``query/`` and ``bounding_box_test/`` of a Market-style folder;
no training folder is needed).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.config import ConfigError, load_config  # noqa: E402
from reid.evaluation import run_evaluation  # noqa: E402


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a negative count is an error, never ignored)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 (how many queries to "
                                         f"draw; 0 = none), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Evaluate an identity encoder (mAP, CMC, mINP; Market-1501 protocol).")
    parser.add_argument("--config", default="", help="YAML config file (with _BASE_ support)")
    parser.add_argument("--weights", default=None,
                        help="identity-encoder checkpoint (default: MODEL.WEIGHTS)")
    parser.add_argument("--output", default=None,
                        help="output folder (default: OUTPUT_DIR/test)")
    parser.add_argument("--rerank", action="store_true",
                        help="k-reciprocal re-ranking (default: TEST.RERANK)")
    parser.add_argument("--visualize", type=non_negative_int, default=0, metavar="K",
                        help="write ranked-list PNGs for K >= 0 queries")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides as KEY VALUE pairs, e.g. TEST.METRIC euclidean")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config or None, args.opts)
    except ConfigError as exc:
        parser.error(str(exc))
    return run_evaluation(cfg, weights=args.weights, output_dir=args.output,
                          rerank=True if args.rerank else None, visualize=args.visualize)


if __name__ == "__main__":
    main()
