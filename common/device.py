"""One code path for CPU and GPU: ``MODEL.DEVICE`` = auto | cpu | cuda | cuda:N."""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"MODEL.DEVICE is '{name}' but CUDA is not available on this machine; "
                           "use MODEL.DEVICE cpu or auto")
    return device
