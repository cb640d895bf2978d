"""Make the synthetic multi-camera person dataset (Market-1501 layout + structure maps).

    python tools/make_synthetic.py --out DIR --ids N --cameras C --seed S
                                   [--images-per-camera K] [--preview]
    python tools/make_synthetic.py --out DIR --train-ids 50 --test-ids 250   # the default set
    python tools/make_synthetic.py --out DIR --train-ids 751 --test-ids 200 \
        --train-images 12936 --no-ground-truth-views --workers 2  # Market-1501's train size

Half of ``--ids`` train and half test, unless ``--train-ids`` and ``--test-ids`` give the two
counts (test identities are only embedded, never trained on: a large test split is cheap).
DIR/ground_truth_views holds every training person rotated by each novel angle with full
appearance, for evaluating generated views only (``--no-ground-truth-views`` leaves it out).

Ends with the summary as one JSON object on the last line. DIR must be new, empty or a dataset
this tool made: a folder with other files (a real Market-1501 copy, say) is refused untouched.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mesh.synthetic import make_synthetic_dataset  # noqa: E402
from mesh.synthetic.dataset import (ForeignFolderError, check_output_folder,  # noqa: E402
                                    check_settings)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (the dataset root)")
    parser.add_argument("--ids", type=int, default=100,
                        help="number of identities (half train, half test)")
    parser.add_argument("--train-ids", type=int, default=None,
                        help="training identities (with --test-ids; replaces --ids)")
    parser.add_argument("--test-ids", type=int, default=None,
                        help="test identities (with --train-ids; replaces --ids)")
    parser.add_argument("--no-ground-truth-views", action="store_true",
                        help="do not render the evaluation-only ground-truth novel views")
    parser.add_argument("--cameras", type=int, default=6, help="number of cameras (2..9)")
    parser.add_argument("--images-per-camera", type=int, default=2,
                        help="images per identity per camera it appears in")
    parser.add_argument("--train-images", type=int, default=0,
                        help="training images in all, spread evenly over the training "
                             "identities and their cameras (0: --images-per-camera for them "
                             "too; Market-1501: 12936 for 751 identities)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preview", action="store_true", help="write DIR/preview.png")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1,
                        help="rendering processes of one torch thread each (CPU only; the files "
                             "are the same for any count; 2 on a 2-core CPU)")
    parser.add_argument("--body-resolution", default="low",
                        help="Anny mesh resolution: low (fast, default) | full | notoes | ...")
    parser.add_argument("--renderer", default="auto", help="auto | torch | pytorch3d")
    args = parser.parse_args(argv)
    if (args.train_ids is None) != (args.test_ids is None):
        parser.error("give --train-ids and --test-ids together (or neither: --ids is split in "
                     "halves)")
    num_ids, num_train = args.ids, None
    if args.train_ids is not None:
        if args.train_ids < 1 or args.test_ids < 1:
            parser.error(f"--train-ids {args.train_ids} and --test-ids {args.test_ids} must be "
                         ">= 1 each")
        num_ids, num_train = args.train_ids + args.test_ids, args.train_ids
    try:  # every check before the folder is touched
        check_settings(num_ids, args.cameras, args.images_per_camera, (args.height, args.width),
                       args.batch_size, args.body_resolution, args.renderer, num_train,
                       args.train_images)
        check_output_folder(args.out)
    except (ValueError, ForeignFolderError) as exc:
        parser.error(str(exc))
    if args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    summary = make_synthetic_dataset(
        args.out, num_ids=num_ids, num_train_ids=num_train, num_cameras=args.cameras,
        images_per_camera=args.images_per_camera, seed=args.seed, preview=args.preview,
        image_size=(args.height, args.width), device=args.device, batch_size=args.batch_size,
        body_resolution=args.body_resolution, renderer=args.renderer,
        ground_truth_views=not args.no_ground_truth_views, train_images=args.train_images,
        workers=args.workers)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
