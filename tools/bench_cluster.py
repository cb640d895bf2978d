"""Benchmark the pseudo-labeller (kNN, Jaccard, eps, DBSCAN) against the per-row reference, and
every exact kNN path on the same features.

Usage: python tools/bench_cluster.py [--n 12936] [--dims 2048 512] [--skip-reference]
       [--knn-paths | --skip-knn-paths] [--knn-repeats 2] [--json-dir DIR]
Prints the tables, then one JSON object with the figures on the last line.
"""
import argparse
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.cluster import run_cluster_benchmark  # noqa: E402
from benchmarks.record import add_json_dir_argument, write_record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12936, help="number of features (Market train size)")
    parser.add_argument("--dims", type=int, nargs="+", default=[2048, 512], help="feature sizes")
    parser.add_argument("--skip-reference", action="store_true", help="time the fast path only")
    sections = parser.add_mutually_exclusive_group()
    sections.add_argument("--knn-paths", action="store_true",
                          help="only the kNN paths section (faiss flat indexes, torch, numba, "
                               "bf16 candidates), not the pipeline")
    sections.add_argument("--skip-knn-paths", action="store_true",
                          help="only the pipeline, not the kNN paths section")
    parser.add_argument("--knn-repeats", type=int, default=2,
                        help="timed runs per kNN path (the best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    add_json_dir_argument(parser)
    args = parser.parse_args()
    if args.knn_repeats < 1:
        parser.error(f"--knn-repeats must be >= 1, got {args.knn_repeats}")
    logging.getLogger("reid.cluster").setLevel(logging.WARNING)
    result = run_cluster_benchmark(args.n, args.dims, args.skip_reference, args.seed,
                                   pipeline=not args.knn_paths,
                                   knn_paths=not args.skip_knn_paths,
                                   knn_repeats=args.knn_repeats)
    print(result["table"])
    print(f"kernel compilation / cache load {result['compile_seconds']:.2f}s (not timed above), "
          f"CPU {result['cpu_isa']}, kNN path {result['knn_path']}, "
          f"load average {result['load_average']}")
    figures = {key: result[key] for key in ("compile_seconds", "cpu_isa", "knn_path",
                                            "load_average", "rows", "knn_rows")}
    print(json.dumps({"benchmark": "cluster", **figures}))
    write_record("cluster", figures, args.json_dir)


if __name__ == "__main__":
    main()
