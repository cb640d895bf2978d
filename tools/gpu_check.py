"""Prepared check of the CUDA paths, in under five minutes on one GPU: the joint iteration in
fp32 / bf16 / fp16 (it/s, peak GPU memory), the pseudo-labeller (faiss-gpu when installed and
torch), evaluation and re-ranking at Market size, the renderer's CUDA path, export parity on the
device, and the tests that skip without CUDA.

    python tools/gpu_check.py                       # on a CUDA machine
    python tools/gpu_check.py --phases joint_fp16 export
    python tools/gpu_check.py --device cpu --tiny   # the plumbing at tiny sizes, on the CPU

Every phase is guarded: a failure is recorded with its message and the next phase runs. Prints
one line per phase, then one JSON object on the last line (the code is in
benchmarks/gpu_check.py). Exit code 0 when no phase failed, 1 otherwise, 2 when the machine has
no CUDA device (unless --device cpu --tiny).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.gpu_check import DEFAULT_CONFIG, PHASES, run_gpu_check  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (with --tiny)")
    parser.add_argument("--tiny", action="store_true",
                        help="every phase at tiny size (with --device cpu: the plumbing test)")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="config of the networks (default: configs/market.yaml)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=None,
                        help="phases to run (default: all)")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="config override (repeatable)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check.py: no CUDA device on this machine (torch.cuda.is_available() is "
              "False); run it on a GPU machine, or test the plumbing here with "
              "--device cpu --tiny", file=sys.stderr)
        return 2
    if args.device == "cpu" and not args.tiny:
        print("gpu_check.py: the full-size check is for a CUDA device; on the CPU add --tiny",
              file=sys.stderr)
        return 2
    if not os.path.isfile(args.config):
        parser.error(f"--config {args.config}: no such file")
    overrides = [part for pair in args.set for part in pair]
    try:
        report = run_gpu_check(args.device, args.tiny, args.config, args.phases, overrides,
                               log=lambda line: print(line, flush=True))
    except (RuntimeError, ValueError) as exc:
        print(f"gpu_check.py: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
