"""Evaluation benchmark at Market-1501 size: distance matrix, metrics against the per-query
reference (same distance matrix, same run), and k-reciprocal re-ranking time and peak memory.

``--peers`` also times fast-reid's ``evaluate_rank`` (Cython and numpy) and ``re_ranking`` on the
same problem in the same process (install them with ``pip install -e '.[peers]'`` and
``pip install --no-deps fastreid==1.4.0``). The last line printed is one JSON object with the
figures; ``--json-dir DIR`` also writes them to ``DIR/eval.json``.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.evaluation import check_peer_rerank_memory, run_benchmark  # noqa: E402
from benchmarks.record import add_json_dir_argument, write_record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-query", type=int, default=3368)
    parser.add_argument("--num-gallery", type=int, default=15913)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rerank", action="store_true", help="skip the re-ranking stage")
    parser.add_argument("--no-rerank-check", action="store_true",
                        help="skip the float64 re-ranking that checks ours (and fast-reid's)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the per-query reference evaluation")
    parser.add_argument("--peers", action="store_true",
                        help="also time fast-reid's evaluate_rank (Cython, numpy) and re_ranking")
    parser.add_argument("--repeats", type=int, default=1,
                        help="report the fastest of N runs of our metrics and fast-reid's "
                             "Cython evaluator")
    add_json_dir_argument(parser)
    args = parser.parse_args()
    if args.peers:  # say what is missing before any work
        from benchmarks.peers import PeersUnavailable, require_peers

        try:
            require_peers()
            if not args.no_rerank:
                check_peer_rerank_memory(args.num_query, args.num_gallery)
        except (PeersUnavailable, MemoryError) as exc:
            parser.exit(2, f"{parser.prog}: --peers: {exc}\n")
    figures = run_benchmark(args.num_query, args.num_gallery, args.dim, seed=args.seed,
                            rerank=not args.no_rerank, reference=not args.no_reference,
                            peers=args.peers, repeats=args.repeats,
                            rerank_exact=not args.no_rerank_check)
    print(json.dumps(figures))
    write_record("eval", figures, args.json_dir)


if __name__ == "__main__":
    main()
