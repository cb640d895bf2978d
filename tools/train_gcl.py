#!/usr/bin/env python
"""Train GCL (joint generative and contrastive learning) for unsupervised person ReID.

    python tools/train_gcl.py                                  # synthetic default, all stages
    python tools/train_gcl.py --config configs/market.yaml     # paper settings on Market-1501
    python tools/train_gcl.py --config configs/market.yaml --resume
    python tools/train_gcl.py --config configs/market.yaml GCL.STAGES "('joint',)" \
        MODEL.WEIGHTS outputs/market/baseline_encoder.pth
    torchrun --nproc_per_node 2 tools/train_gcl.py --config configs/market.yaml

KEY VALUE pairs after the flags override the config.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.config import ConfigError, load_config  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "synthetic.yaml")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="YAML config (default: configs/synthetic.yaml)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUTPUT_DIR/checkpoints/last.pth")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.opts)
    except ConfigError as exc:
        parser.error(str(exc))
    from reid.engine import GCLTrainer

    summary = GCLTrainer(cfg, resume=args.resume).run()
    if "table" in summary:  # the table itself is in the log above
        print(f"summary written to {os.path.join(cfg.OUTPUT_DIR, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
