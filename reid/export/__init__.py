"""Shipping the identity encoder: export (state dict, TorchScript, ONNX) and a ready predictor."""
from .exporter import (EXPORT_FORMATS, FILE_NAMES, NormalisedEncoder, export_encoder,
                       export_from_checkpoint, format_export_summary, parse_formats)
from .predictor import EncoderPredictor, load_encoder

__all__ = [
    "EXPORT_FORMATS",
    "EncoderPredictor",
    "FILE_NAMES",
    "NormalisedEncoder",
    "export_encoder",
    "export_from_checkpoint",
    "format_export_summary",
    "load_encoder",
    "parse_formats",
]
