"""Benchmark the video GANs: ``python tools/bench_video_gan.py``.

Seconds per training iteration and peak memory for ImaGINator, G3AN, InMoDeGAN and MoStGAN-V
(any registered model can be named in ``--models``; paper widths by default,
``--style-size synthetic`` for the small configs of the style-based models; on the GPU when
present), and the transposed 3D vs (1+2)D comparison of thesis table 3.12 at equal parameter
counts (:mod:`benchmarks.video_gan`); ``--parameters`` prints only the parameter counts of every
model's generator and discriminators at the widths of its paper and synthetic configs.
The last line is one JSON object.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.video_gan import parameter_counts, run_benchmark  # noqa: E402
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
    parser.add_argument("--parameters", action="store_true",
                        help="only the parameter counts of G and D (paper and synthetic widths)")
    args = parser.parse_args(argv)
    if args.parameters:
        counts = {name: {size: parameter_counts(name, size) for size in ("paper", "synthetic")}
                  for name in args.models}
        for name, sizes in counts.items():
            for size, c in sizes.items():
                print(f"{name} ({size}): G {c['generator']:,}, D {c['discriminator']:,}")
        print(json.dumps(counts))
        return
    result = run_benchmark(args.base_channels, args.batch_size, args.iterations, args.device,
                           tuple(args.models), args.style_size)
    for name in args.models:
        r = result[name]
        print(f"{name}: {r['seconds_per_iteration']:.2f} s/iteration, peak "
              f"{r['peak_memory_mb']:.0f} MiB ({r['device']}), G {r['generator_parameters']:,} params")
    t = result["table_3_12"]
    c3, c12 = t["transposed_3d"], t["transposed_1plus2d"]
    print(f"table 3.12: transposed 3D {c3['seconds_per_step']:.2f} s "
          f"({c3['parameters']:,} params, width {c3['base_channels']:.2f}) vs (1+2)D "
          f"{c12['seconds_per_step']:.2f} s ({c12['parameters']:,} params, width "
          f"{c12['base_channels']:.0f}); parameters x{t['parameter_ratio_3d_over_1plus2d']:.3f}, "
          f"time ratio {t['time_ratio_3d_over_1plus2d']:.2f} (paper {t['paper_time_ratio']:.2f})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
