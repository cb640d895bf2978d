"""Optional dependencies: import them with an error that names the pip extra to install.

The core install (``pip install -e .``) covers ReID training and evaluation on a real dataset.
The heavier parts are extras of ``setup.py``; :func:`require` imports a module of one and, when it
is missing, raises :class:`MissingExtraError` (an ImportError) that says which extra brings it::

    av = require("av", extra="video", purpose="writing mp4 clips")
"""
from __future__ import annotations

import importlib
from types import ModuleType

# module name -> (pip package, extra of setup.py)
EXTRA_OF_MODULE = {
    "anny": ("anny", "synthetic"),
    "warp": ("warp-lang", "synthetic"),
    "onnx": ("onnx", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "onnxscript": ("onnxscript", "export"),
    "av": ("av", "video"),
    "cv2": ("opencv-python-headless", "video"),
    "imageio": ("imageio", "video"),
    "smplx": ("smplx", "smpl"),
    "faiss": ("faiss-cpu", "faiss"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str | None = None, purpose: str = "this feature") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the module is there but one of its own imports failed: show that error
        package, known_extra = EXTRA_OF_MODULE.get(top, (top, None))
        extra = extra or known_extra
        where = (f"the '{extra}' extra: pip install -e '.[{extra}]' (or `make setup`, which "
                 f"installs every extra)") if extra else f"pip install {package}"
        raise MissingExtraError(f"{purpose} needs the Python package '{package}' (module "
                                f"'{module}'), which is not installed; it comes with {where}",
                                name=module) from exc
