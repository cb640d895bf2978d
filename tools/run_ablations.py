#!/usr/bin/env python
"""Run the ablation configs (thesis table 6.3) on the synthetic set and print the table.

The benchmark protocol: every row for N training seeds, mean +- std, a bar chart, resumable:

    python tools/run_ablations.py --seeds 3     # outputs/ablations_seeds/{table.md,ablations.png}

Per seed, one warm-up run (baseline + gan_warmup of configs/synthetic.yaml) is the baseline row
and the start of every other row of that seed. Finished runs are skipped when the command is
run again; an interrupted one resumes from its checkpoints. The JSON summary is the last line.

Single runs from the default run's warm-ups (after `python tools/train_gcl.py`):

    python tools/run_ablations.py             # every configs/ablations/[0-9]*.yaml
    python tools/run_ablations.py --configs configs/ablations/6_gcl_full.yaml \
        --set SOLVER.JOINT.EPOCHS 2
    python tools/run_ablations.py --only full video_view   # with / without the video view
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.engine.ablation import (ablation_configs, format_ablation_table, run_ablations,  # noqa: E402
                                  run_seeded_ablations, select_ablation_configs)

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*", default=None,
                        help="config files (default: configs/ablations/[0-9]*.yaml)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="configs of configs/ablations by name, e.g. full video_view")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="the seeds protocol with training seeds 1..N (see above)")
    parser.add_argument("--seed-list", type=int, nargs="+", default=None, metavar="S",
                        help="the seeds protocol with these training seeds")
    parser.add_argument("--warmup-config", default=os.path.join(HERE, "configs", "synthetic.yaml"),
                        help="config of each seed's warm-up run (seeds protocol)")
    parser.add_argument("--output", default=None,
                        help="default: outputs/ablations_seeds with seeds, else outputs/ablations")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="config override applied to every run (repeatable)")
    args = parser.parse_args(argv)
    folder = os.path.join(HERE, "configs", "ablations")
    if args.configs and args.only:
        parser.error("give --configs or --only, not both")
    if args.seeds < 0:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    if args.seeds and args.seed_list:
        parser.error("give --seeds or --seed-list, not both")
    try:
        configs = args.configs or (select_ablation_configs(folder, args.only) if args.only
                                   else ablation_configs(folder))
    except ValueError as exc:
        parser.error(str(exc))
    missing = [p for p in configs if not os.path.isfile(p)]
    if missing:
        parser.error(f"config file(s) not found: {', '.join(missing)}")
    opts = [item for pair in args.set for item in pair]
    seeds = args.seed_list or list(range(1, args.seeds + 1))
    if seeds:
        result = run_seeded_ablations(configs, seeds, opts,
                                      args.output or "outputs/ablations_seeds",
                                      warmup_config=args.warmup_config)
        print(result["table"])
        print(json.dumps({k: result[k] for k in ("seeds", "rows", "chart", "seconds")}))
        return 0
    rows = run_ablations(configs, opts, args.output or "outputs/ablations")
    print(format_ablation_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
