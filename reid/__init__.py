"""GCL-ReID: unsupervised person re-identification with joint generative and contrastive learning.

Quick use of a trained identity encoder:

>>> import reid
>>> encoder = reid.load_encoder("outputs/synthetic/export/encoder.pth")
>>> features = encoder(images)          # uint8 HWC arrays, PIL images or [-1, 1] tensors
"""
__version__ = "0.1.0"


def load_encoder(path, device="cpu"):
    """Load an exported identity encoder ready to embed images (see :mod:`reid.export`)."""
    from reid.export import load_encoder as _load_encoder

    return _load_encoder(path, device=device)


__all__ = ["__version__", "load_encoder"]
