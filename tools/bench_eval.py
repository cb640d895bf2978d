"""Evaluation benchmark at Market-1501 size: distance matrix, metrics against the per-query
reference (same distance matrix, same run), and k-reciprocal re-ranking time and peak memory.

The last line printed is one JSON object with the figures.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.evaluation import run_benchmark  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-query", type=int, default=3368)
    parser.add_argument("--num-gallery", type=int, default=15913)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rerank", action="store_true", help="skip the re-ranking stage")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the per-query reference evaluation")
    args = parser.parse_args()
    figures = run_benchmark(args.num_query, args.num_gallery, args.dim, seed=args.seed,
                            rerank=not args.no_rerank, reference=not args.no_reference)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
