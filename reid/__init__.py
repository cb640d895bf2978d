"""GCL-ReID: unsupervised person re-identification with joint generative and contrastive learning.

Quick use of a trained identity encoder:

>>> import reid
>>> encoder = reid.load_encoder("outputs/synthetic/export/encoder.pth")
>>> features = encoder(images)          # uint8 HWC arrays, PIL images, float RGB in [0, 1]
>>> features = encoder(signed, normalized=True)   # tensors already in the file's [-1, 1]
"""
__version__ = "0.1.0"


def load_encoder(path, device="cpu", strict=True, trust_pickle=None):
    """Load an exported identity encoder ready to embed images (see :mod:`reid.export`).

    Input size and normalisation come from the file. ``strict=True`` raises on weights that do
    not fit the architecture (missing / unexpected / mis-shaped keys listed by name);
    ``strict=False`` loads what fits with a logged warning. See
    :func:`reid.export.load_encoder`.
    """
    from reid.export import load_encoder as _load_encoder

    return _load_encoder(path, device=device, strict=strict, trust_pickle=trust_pickle)


__all__ = ["__version__", "load_encoder"]
