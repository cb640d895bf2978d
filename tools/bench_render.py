"""Benchmark the structure-map renderer: 16 bodies at 256x128.

    python tools/bench_render.py [--batch 16] [--repeats 3] [--reference-images 1] [--device cpu]
                                 [--threads N] [--method auto] [--json-dir DIR]

Prints images/s of the built-in rasteriser (and of PyTorch3D when importable) and of a per-face
loop reference, with the silhouette IoU against that reference; the last line is one JSON object
with the figures (``images_per_s`` and ``images_per_s_<N>_threads`` included), also written to
``DIR/render.json`` with ``--json-dir``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.record import add_json_dir_argument, write_record  # noqa: E402
from benchmarks.render import run_render_benchmark  # noqa: E402
from mesh.render.rasterizer import METHODS  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-images", type=int, default=1,
                        help="images rendered by the per-face loop reference (0 = skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--method", default="auto", choices=METHODS,
                        help="rasteriser implementation (auto: compiled on CPU when numba is "
                             "installed, else vectorised)")
    add_json_dir_argument(parser)
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    result = run_render_benchmark(batch=args.batch, image_size=(args.height, args.width),
                                  repeats=args.repeats, reference_images=args.reference_images,
                                  device=args.device, method=args.method)
    print(json.dumps(result))
    write_record("render", result, args.json_dir)
    return result


if __name__ == "__main__":
    main()
