"""Write generated person frames as an extra training folder: ``python tools/generate_views.py
--config configs/synthetic.yaml --weights outputs/generators/imaginator_reid_synthetic/
checkpoint_last.pth --out datasets/generated_views``.

Every training image of the ReID dataset (``--config`` + overrides, or ``--dataset-root`` +
``--dataset-name``) is animated by the ImaGINator of ``--generator-config``; ``--views`` random
frames per image go to ``OUT/bounding_box_train/{pid:04d}_c{cam}s1_{src:06d}_{k:02d}.jpg`` with a
``manifest.json``. Reruns resume. Use the folder with ``DATASETS.EXTRA_TRAIN_DIRS "('OUT',)"``.
Generator weights holding NaN or infinity (a diverged run) are refused (exit status 1), naming
the file and the tensors; nothing is written.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import resolve_device  # noqa: E402
from common.finite import NonFiniteWeightsError  # noqa: E402
from reid.config import load_config  # noqa: E402
from reid.data import build_dataset  # noqa: E402
from reid.data.build import build_dataset_from_cfg  # noqa: E402
from reid.views.generated_folders import generate_views_for_dataset  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="", help="ReID config (DATASETS.NAME / ROOT)")
    parser.add_argument("--dataset-root", default="", help="instead of --config: dataset folder")
    parser.add_argument("--dataset-name", default="synthetic", help="with --dataset-root")
    parser.add_argument("--generator-config",
                        default="configs/generators/imaginator_reid_synthetic.yaml")
    parser.add_argument("--weights", required=True, help="generator checkpoint (.pth)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--views", type=int, default=2, help="generated frames per image")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides of --config")
    args = parser.parse_args(argv)
    if args.dataset_root:
        dataset = build_dataset(args.dataset_name, args.dataset_root, verbose=False)
    else:
        if not args.config:
            parser.error("give --config (a ReID config) or --dataset-root and --dataset-name")
        cfg = load_config(args.config, args.opts)
        if cfg.DATASETS.NAME == "synthetic":
            from reid.views.synthetic_dataset import ensure_synthetic_dataset

            ensure_synthetic_dataset(cfg)
        # The source images only: the generated folders of EXTRA_TRAIN_DIRS are not animated.
        dataset = build_dataset_from_cfg(cfg, verbose=False, extra_train_dirs=False)
    try:
        manifest = generate_views_for_dataset(
            dataset, args.generator_config, args.weights, args.out, args.views, args.batch_size,
            args.seed, resolve_device(args.device), progress=not args.no_progress)
    except NonFiniteWeightsError as exc:
        print(f"generate_views.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"{manifest['num_files']} generated views of {manifest['num_sources']} images in "
          f"{args.out} ({manifest['written']} written, {manifest['skipped']} already there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
