"""Time one GCL joint iteration (E_id, E_str, G twice + cycle, D step, G step, memory loss).

Prints the figures and ends with one JSON object on the last line. ``--reference`` also runs the
straightforward formulation in the same process and reports the ratios; ``--profile`` runs one
more iteration under the profiler and prints seconds per pass (forward and backward of E_id x3,
E_str, G x2, D, R1, the memory loss and each optimiser step) against the whole step (the code
is in ``benchmarks/gcl_step.py``). ``--json-dir DIR`` also writes ``DIR/train.json``.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.gcl_step import format_profile, run_train_benchmark  # noqa: E402
from benchmarks.record import add_json_dir_argument, write_record  # noqa: E402
from common import resolve_device  # noqa: E402
from common.config import ConfigError  # noqa: E402
from common.precision import PRECISIONS, check_precision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iters", type=int, default=2, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--num-negatives", type=int, default=8192)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="SOLVER.PRECISION of the step: auto (default) is bf16 autocast on "
                             "CPUs with AMX / AVX512-BF16 and fp32 elsewhere; fp16 (with "
                             "gradient scaling) needs a CUDA device")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="channels-last memory format for the networks and the batch "
                             "(SOLVER.CHANNELS_LAST; default on)")
    parser.add_argument("--reference", action="store_true",
                        help="also time the straightforward step for a ratio")
    parser.add_argument("--profile", action="store_true",
                        help="one more iteration under the profiler: seconds per pass")
    add_json_dir_argument(parser)
    args = parser.parse_args()
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error("--batch-size and --iters must be >= 1, --warmup >= 0")
    device = str(resolve_device(args.device))
    try:
        check_precision(args.precision, device)
    except ConfigError as err:
        parser.error(f"--precision: {err}")
    report = run_train_benchmark(args.batch_size, args.iters, args.warmup, device, args.reference,
                                 (args.height, args.width), args.num_negatives, args.precision,
                                 args.channels_last, args.profile)
    for name in ("gcl", "reference"):
        if name in report:
            r = report[name]
            line = (f"{name:9s}: {r['seconds_per_iter']:.2f} s/iter ({r['iters_per_second']:.3f} "
                    f"it/s, {r['cpu_seconds_per_iter']:.1f} CPU-s)")
            if "peak_rss_gb" in r:
                line += f", peak RSS {r['peak_rss_gb']:.2f} GB"
            if "peak_gpu_memory_gb" in r:
                line += f", peak GPU {r['peak_gpu_memory_gb']:.2f} GB"
            print(line)
    print(f"parameters (M): {report['gcl']['params_M']}")
    if "speedup_vs_reference" in report:
        print(f"speed-up vs reference: {report['speedup_vs_reference']}x, "
              f"memory ratio: {report.get('memory_ratio_vs_reference')}")
    if "profile" in report["gcl"]:
        print(format_profile(report["gcl"]["profile"]))
    print(json.dumps(report))
    # one record per precision asked for: `make bench` keeps the default run and the fp32 one
    write_record("train" if args.precision == "auto" else f"train_{args.precision}", report,
                 args.json_dir)


if __name__ == "__main__":
    main()
