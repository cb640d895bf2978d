"""Render the structure-map cache of a dataset: HMR regressor -> SMPL -> MESH.ANGLES views ->
grey maps.

    python tools/prepare_meshes.py --config configs/market.yaml --checkpoint hmr.pt \
        --smpl-dir models/smpl [--splits train,test] [--batch-size 32] [--check] [KEY VALUE ...]

Resumable (images whose maps all exist are skipped). ``--check`` only audits the cache and names
missing or unreadable maps; the exit code is non-zero when any exist. Maps are written in the
layout of the authors' released renders: by file name for Market-1501 and DukeMTMC-reID,
with the identity sub-folder for MSMT17 (``render/0000/0000_000_01_...jpg``), with the image's
sub-folders for the ``folder`` dataset.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.config import load_config  # noqa: E402
from reid.views.structure_maps import prepare_structure_maps  # noqa: E402
from common import setup_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config (dataset, MESH.*)")
    parser.add_argument("--checkpoint", default="", help="HMR checkpoint (MESH.HMR_CHECKPOINT)")
    parser.add_argument("--smpl-dir", default="", help="folder with SMPL .pkl files "
                        "(MESH.SMPL_DIR; from https://smpl.is.tue.mpg.de)")
    parser.add_argument("--splits", default="train,test", help="comma list of train,test")
    parser.add_argument("--batch-size", type=int, default=0, help="default MESH.BATCH_SIZE")
    parser.add_argument("--check", action="store_true", help="only report missing/unreadable maps")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.opts)
    setup_logger("mesh")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    return prepare_structure_maps(cfg, checkpoint=args.checkpoint, smpl_dir=args.smpl_dir,
                                  splits=splits, batch_size=args.batch_size or None,
                                  check_only=args.check, progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(main())
