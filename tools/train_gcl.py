#!/usr/bin/env python
"""Train GCL (joint generative and contrastive learning) for unsupervised person ReID.

    python tools/train_gcl.py                                  # synthetic default, all stages
    python tools/train_gcl.py --config configs/market.yaml     # paper settings on Market-1501
    python tools/train_gcl.py --config configs/market.yaml --resume
    python tools/train_gcl.py --config configs/market.yaml --overwrite   # deletes old checkpoints
    python tools/train_gcl.py --config configs/market.yaml GCL.STAGES "('joint',)" \
        MODEL.WEIGHTS outputs/market/baseline_encoder.pth
    torchrun --nproc_per_node 2 tools/train_gcl.py --config configs/market.yaml

KEY VALUE pairs after the flags override the config. One run at a time per OUTPUT_DIR: a second
run into it fails naming the first (OUTPUT_DIR/run.lock); a fresh run into a folder that holds
checkpoints needs --resume or --overwrite. SIGTERM stops a run like Ctrl-C; --resume continues.
"""
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.config import ConfigError, load_config  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "synthetic.yaml")


def _refusals() -> tuple:
    """Errors reported in one line, without a traceback (the trainer logs the traceback of the
    ones raised while training to log.txt): a locked or used OUTPUT_DIR, a foreign dataset
    folder, a config the run cannot train with, weights that do not fit, an epoch with no
    iterations, weights that are not finite."""
    from reid.engine.checkpoint import ExistingCheckpointsError
    from reid.engine.run_lock import OutputFolderLockedError
    from reid.engine.validation import EmptyEpochError
    from reid.models.weight_checks import PartialLoadError
    from common.finite import NonFiniteWeightsError

    synthetic = sys.modules.get("mesh.synthetic.dataset")  # loaded only when it was used
    return (OutputFolderLockedError, ExistingCheckpointsError, ConfigError, PartialLoadError,
            EmptyEpochError, NonFiniteWeightsError) + (
        (synthetic.ForeignFolderError,) if synthetic is not None else ())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="YAML config (default: configs/synthetic.yaml)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true",
                       help="continue from the newest checkpoint in OUTPUT_DIR/checkpoints")
    start.add_argument("--overwrite", action="store_true",
                       help="start afresh in an OUTPUT_DIR that holds checkpoints: deletes those "
                            "checkpoints (only them)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.opts)
    except ConfigError as exc:
        parser.error(str(exc))
    from reid.engine import GCLTrainer
    from reid.engine.run_lock import Terminated

    try:
        summary = GCLTrainer(cfg, resume=args.resume, overwrite=args.overwrite).run()
    except Exception as exc:
        if not isinstance(exc, _refusals()):
            raise
        print(f"train_gcl.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("train_gcl.py: interrupted; continue with --resume", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
    if "table" in summary:  # the table itself is in the log above
        print(f"summary written to {os.path.join(cfg.OUTPUT_DIR, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
