"""Market-scale dry run on the CPU: configs/market.yaml's networks through every stage for a few
iterations on a synthetic set of Market-1501's training size, timing each phase (memory
initialisation, clustering at N, the loader with structure maps, one joint iteration,
evaluation) and the peak memory of the process and its loader workers.

    python tools/bench_scale.py --generate            # makes datasets/market_scale first
    python tools/bench_scale.py --iterations 3 --set SOLVER.BASELINE.BATCH_SIZE 64
    python tools/bench_scale.py --tiny --data-root /tmp/tiny --generate   # seconds, small nets

The set is configs/synthetic_market_scale.yaml's (751 training identities, 12,936 training
images, 256x128, 6 cameras; a 200-identity test split). Prints the figures, then one JSON
object on the last line (the code is in benchmarks/scale.py).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.scale import DEFAULT_CONFIG, format_report, run_scale_benchmark  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="config of the run (default: configs/synthetic_market_scale.yaml)")
    parser.add_argument("--data-root", default=None,
                        help="DATASETS.ROOT (default: the config's, datasets/market_scale): the "
                             "set is ROOT itself when it holds one or is named synthetic, else "
                             "ROOT/synthetic")
    parser.add_argument("--generate", action="store_true",
                        help="make the synthetic set first when it is missing (timed)")
    parser.add_argument("--generate-workers", type=int, default=2,
                        help="rendering processes for --generate (default 2)")
    parser.add_argument("--iterations", type=int, default=2,
                        help="batches per stage (each stage runs one epoch of them)")
    parser.add_argument("--loader-batches", type=int, default=30,
                        help="batches timed in the loader measurement (after the first)")
    parser.add_argument("--output-dir", default=None,
                        help="OUTPUT_DIR of the run (default: the config's; --tiny: a "
                             "temporary folder); its checkpoints are replaced")
    parser.add_argument("--tiny", action="store_true",
                        help="a small set and small networks (to test the plumbing)")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="config override (repeatable), applied last")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.loader_batches < 1 or args.generate_workers < 1:
        parser.error("--iterations, --loader-batches and --generate-workers must be >= 1")
    if not os.path.isfile(args.config):
        parser.error(f"--config {args.config}: no such file")
    from reid.config import ConfigError

    overrides = [part for pair in args.set for part in pair]
    try:
        report = run_scale_benchmark(args.config, args.data_root, args.generate,
                                     args.iterations, args.tiny, overrides, args.output_dir,
                                     args.loader_batches, args.generate_workers,
                                     log=lambda line: print(line, flush=True))
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"bench_scale.py: error: {exc}\n")
    print(format_report(report))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
