"""Body models behind one interface (:class:`BodyModel`): Anny (open, default) and SMPL."""
from __future__ import annotations

from .base import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput", "build_body_model"]

BODY_MODELS = ("anny", "smpl")


def build_body_model(name: str = "anny", device: str = "cpu", cache_dir: str | None = None,
                     smpl_dir: str | None = None, gender: str = "neutral",
                     resolution: str = "full") -> BodyModel:
    """The body model ``name`` (``MESH.BODY_MODEL``) on ``device``.

    ``cache_dir``: the project cache directory (``CACHE_DIR``; Anny caches below ``<it>/anny``).
    ``smpl_dir``: the folder of the user's SMPL files (``MESH.SMPL_DIR``).
    ``resolution``: Anny's mesh resolution (see ``mesh.body.anny_model.RESOLUTIONS``).
    """
    if name == "anny":
        from .anny_model import AnnyBody

        model = AnnyBody(resolution=resolution, cache_dir=cache_dir, gender=gender)
    elif name == "smpl":
        from .smpl_model import SMPLBody

        model = SMPLBody(smpl_dir or "", gender=gender)
    else:
        raise ValueError(f"unknown body model {name!r} (MESH.BODY_MODEL); expected one of "
                         f"{', '.join(BODY_MODELS)}")
    return model.to(device)
