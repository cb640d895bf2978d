"""Export the identity encoder alone (state dict, TorchScript, ONNX), each checked against PyTorch.

    python tools/export.py --weights outputs/market/model_final.pth --output outputs/export \
        [--formats state_dict,torchscript,onnx] [--config configs/market.yaml] [KEY VALUE ...]

Architecture, input size (H, W) and normalisation come from the checkpoint when it describes
itself (``final_encoder.pth``, ``baseline_encoder.pth``, an exported ``encoder.pth``, a training
checkpoint); the config (``MODEL.*``, ``INPUT.SIZE``) is only the fallback for checkpoints that
do not (third-party state dicts), which the log says. Every exported file records the values
used. Exits with status 1 when a check fails.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reid.config import load_config  # noqa: E402
from reid.export import EXPORT_FORMATS, export_from_checkpoint, format_export_summary  # noqa: E402
from common import setup_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="identity-encoder or training checkpoint")
    parser.add_argument("--output", required=True, help="folder for the exported files")
    parser.add_argument("--formats", default=",".join(EXPORT_FORMATS),
                        help="comma-separated subset of " + ",".join(EXPORT_FORMATS))
    parser.add_argument("--config", default="", help="YAML config (fallback for checkpoints that "
                        "do not describe their architecture / input size)")
    parser.add_argument("--batch", type=int, default=4, help="batch size of the check")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config or None, args.opts)
    setup_logger("reid", args.output, filename="export_log.txt")
    summary = export_from_checkpoint(args.weights, args.output, cfg, args.formats, args.batch)
    print(format_export_summary(summary))
    print(f"summary: {os.path.join(args.output, 'export.json')}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
