#!/usr/bin/env python
"""Run the ablation configs (thesis table 6.3) on the synthetic set and print the table.

    python tools/train_gcl.py                 # once: writes outputs/synthetic/baseline_encoder.pth
    python tools/run_ablations.py             # every configs/ablations/[0-9]*.yaml
    python tools/run_ablations.py --configs configs/ablations/6_gcl_full.yaml \
        --set SOLVER.JOINT.EPOCHS 2
    python tools/run_ablations.py --only full video_view   # with / without the video view
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.engine.ablation import (ablation_configs, format_ablation_table, run_ablations,  # noqa: E402
                                  select_ablation_configs)

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*", default=None,
                        help="config files (default: configs/ablations/[0-9]*.yaml)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="configs of configs/ablations by name, e.g. full video_view")
    parser.add_argument("--output", default="outputs/ablations")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="config override applied to every ablation (repeatable)")
    args = parser.parse_args(argv)
    folder = os.path.join(HERE, "configs", "ablations")
    if args.configs and args.only:
        parser.error("give --configs or --only, not both")
    configs = args.configs or (select_ablation_configs(folder, args.only) if args.only
                               else ablation_configs(folder))
    opts = [item for pair in args.set for item in pair]
    rows = run_ablations(configs, opts, args.output)
    print(format_ablation_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
