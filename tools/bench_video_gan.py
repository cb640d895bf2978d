"""Benchmark the video GANs: ``python tools/bench_video_gan.py``.

Seconds per training iteration and peak memory for ImaGINator, G3AN, InMoDeGAN and MoStGAN-V
(any registered model can be named in ``--models``; paper widths by default,
``--style-size synthetic`` for the small configs of the style-based models; on the GPU when
present), and the transposed 3D vs (1+2)D comparison of thesis table 3.12
(:mod:`benchmarks.video_gan`).
The last line is one JSON object.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.video_gan import run_benchmark  # noqa: E402
from generators.registry import available_video_gans  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-channels", type=int, default=64, help="64 = paper widths")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="*",
                        default=list(available_video_gans()))
    parser.add_argument("--style-size", choices=("paper", "synthetic"), default="paper",
                        help="InMoDeGAN / MoStGAN-V widths")
    args = parser.parse_args(argv)
    result = run_benchmark(args.base_channels, args.batch_size, args.iterations, args.device,
                           tuple(args.models), args.style_size)
    for name in args.models:
        r = result[name]
        print(f"{name}: {r['seconds_per_iteration']:.2f} s/iteration, peak "
              f"{r['peak_memory_mb']:.0f} MiB ({r['device']}), G {r['generator_parameters']:,} params")
    t = result["table_3_12"]
    print(f"table 3.12: transposed 3D {t['transposed_3d']['seconds_per_step']:.2f} s "
          f"({t['transposed_3d']['parameters']:,} params) vs (1+2)D "
          f"{t['transposed_1plus2d']['seconds_per_step']:.2f} s "
          f"({t['transposed_1plus2d']['parameters']:,} params): ratio "
          f"{t['time_ratio_3d_over_1plus2d']:.2f} (paper {t['paper_time_ratio']:.2f})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
