"""Reading one image from disk as a decoded RGB PIL image, with an error that names the file."""
from __future__ import annotations

from PIL import Image


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Cannot read image '{path}': {reason}")
        self.path = path


def read_image(path: str) -> Image.Image:
    """Open ``path`` as a fully decoded RGB PIL image; :class:`ImageReadError` names the file."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageReadError(path, f"{type(err).__name__}: {err}") from None


__all__ = ["ImageReadError", "read_image"]
