"""Train a video GAN: ``python tools/train_video_gan.py --config configs/generators/g3an.yaml``.

MODEL.NAME picks ImaGINator, G3AN, InMoDeGAN, MoStGAN-V or any other model of
``generators.registry`` (``configs/generators/*.yaml``).

Trailing ``KEY VALUE`` pairs override the config (``SOLVER.MAX_ITERS 50``). A run resumes from
``OUTPUT_DIR/checkpoint_last.pth`` when present. A run whose losses or weights turn NaN or
infinite stops with exit status 1 and keeps its last good checkpoint.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.config import save_config  # noqa: E402
from common.finite import NonFiniteWeightsError  # noqa: E402
from generators.config import load_generator_config  # noqa: E402
from generators.train_loop import VideoGANDivergedError  # noqa: E402
from generators.training import build_trainer  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/generators/g3an_synthetic.yaml")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (as SOLVER.PROGRESS log; default: SOLVER.PROGRESS, "
                             "a bar only when standard output is a terminal)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args(argv)
    cfg = load_generator_config(args.config, args.opts)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    save_config(cfg, os.path.join(cfg.OUTPUT_DIR, "config.yaml"))
    trainer = build_trainer(cfg)
    try:
        stats = trainer.train(progress=False if args.no_progress else None)
    except (VideoGANDivergedError, NonFiniteWeightsError) as exc:
        print(f"train_video_gan.py: error: {exc}", file=sys.stderr)
        return 1
    print("final losses:", " ".join(f"{k}={v:.4f}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
