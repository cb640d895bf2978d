"""Body models behind one interface (:class:`BodyModel`)."""
from .base import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput"]
