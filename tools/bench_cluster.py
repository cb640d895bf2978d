"""Benchmark the pseudo-labeller (kNN, Jaccard, eps, DBSCAN) against the per-row reference.

Usage: python tools/bench_cluster.py [--n 12936] [--dims 2048 512] [--skip-reference]
Prints a table, then one JSON object with the figures on the last line.
"""
import argparse
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.cluster import run_cluster_benchmark  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12936, help="number of features (Market train size)")
    parser.add_argument("--dims", type=int, nargs="+", default=[2048, 512], help="feature sizes")
    parser.add_argument("--skip-reference", action="store_true", help="time the fast path only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("reid.cluster").setLevel(logging.WARNING)
    result = run_cluster_benchmark(args.n, args.dims, args.skip_reference, args.seed)
    print(result["table"])
    print(f"kernel compilation / cache load {result['compile_seconds']:.2f}s (not timed above), "
          f"load average {result['load_average']}")
    print(json.dumps({"benchmark": "cluster", "compile_seconds": result["compile_seconds"],
                      "load_average": result["load_average"], "rows": result["rows"]}))


if __name__ == "__main__":
    main()
