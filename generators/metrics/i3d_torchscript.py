"""The TorchScript I3D detector of the StyleGAN-V family's FVD (``i3d_torchscript.pt``).

That file is a ``torch.jit`` module (a TorchScript port of the Kinetics-400 I3D of the original
TensorFlow FVD) called as ``detector(videos, rescale=True, resize=True, return_features=True)``:
``videos`` (B, 3, T, H, W) with values in [0, 255] (uint8 frames), ``rescale`` maps them to
[-1, 1], ``resize`` resizes the frames to 224x224, and ``return_features`` returns the 400
pre-softmax features FVD is defined on. :class:`TorchScriptI3D` wraps it with the ``preprocess``
/ ``forward`` interface of the other feature networks, so FVDs computed with the user's own copy
are comparable with published ones (given the same clip counts and frame counts). Nothing is
downloaded.
"""
from __future__ import annotations

import os
import warnings
import zipfile

import torch
from torch import nn

from .action_classifier import frame_indices

I3D_TORCHSCRIPT_HINT = ("the TorchScript I3D detector of the StyleGAN-V FVD, "
                        "i3d_torchscript.pt (a torch.jit module)")
I3D_FEATURE_DIM = 400


def is_torchscript_file(path: str) -> bool:
    """True when ``path`` is a TorchScript archive (a zip with ``constants.pkl`` and ``code/``),
    not a plain ``torch.save`` state dict."""
    if not path or not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


class TorchScriptI3D(nn.Module):
    """``preprocess``: clips in [-1, 1] -> [0, 255] (quantised as uint8 frames are), at least
    ``min_frames`` frames (shorter clips repeat frames; the detector's temporal pooling needs
    them); ``forward``: the detector's (B, 400) features."""

    def __init__(self, detector: torch.jit.ScriptModule, source: str = "i3d_torchscript.pt",
                 rescale: bool = True, resize: bool = True, return_features: bool = True,
                 min_frames: int = 9, feature_dim: int = I3D_FEATURE_DIM):
        super().__init__()
        self.detector = detector
        self.source = source
        self.rescale, self.resize, self.return_features = rescale, resize, return_features
        self.min_frames, self.feature_dim = min_frames, feature_dim

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        if videos.dim() != 5 or videos.shape[1] != 3:
            raise ValueError(f"i3d_torchscript: expected clips (B, 3, T, H, W); got "
                             f"{tuple(videos.shape)}")
        if videos.shape[2] < self.min_frames:
            index = frame_indices(videos.shape[2], self.min_frames).to(videos.device)
            videos = videos.index_select(2, index)
        # x * 127.5 + 128 truncated: the uint8 frame a [-1, 1] value came from
        return (videos.float() * 127.5 + 128).clamp(0, 255).floor().contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.detector(x, rescale=self.rescale, resize=self.resize,
                            return_features=self.return_features)
        if out.dim() != 2 or out.shape[0] != x.shape[0] or out.shape[1] != self.feature_dim:
            raise ValueError(f"{self.source}: the detector returned {tuple(out.shape)} for "
                             f"{x.shape[0]} clips; expected ({x.shape[0]}, {self.feature_dim}) "
                             f"features ({I3D_TORCHSCRIPT_HINT})")
        return out


def load_torchscript_i3d(path: str, device: str | torch.device = "cpu", **kwargs
                         ) -> TorchScriptI3D:
    """The detector at ``path`` wrapped as a feature network on ``device``; a file that is no
    TorchScript module is a ValueError naming it."""
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"i3d_torchscript weights not found at '{path}': download "
                                f"{I3D_TORCHSCRIPT_HINT} yourself and pass its path (nothing is "
                                "downloaded implicitly)")
    if not is_torchscript_file(path):
        raise ValueError(f"{path} is not a TorchScript module; expected {I3D_TORCHSCRIPT_HINT} "
                         "(a state dict in the PyTorch I3D layout loads as kind 'i3d')")
    try:
        with warnings.catch_warnings():  # the detector is TorchScript whatever torch prefers now
            warnings.simplefilter("ignore", FutureWarning)
            detector = torch.jit.load(path, map_location=device)
    except Exception as exc:  # a damaged archive
        raise ValueError(f"cannot load the TorchScript module {path}: {exc}") from exc
    return TorchScriptI3D(detector.eval(), source=str(path), **kwargs).to(device).eval()


__all__ = ["I3D_FEATURE_DIM", "I3D_TORCHSCRIPT_HINT", "TorchScriptI3D", "is_torchscript_file",
           "load_torchscript_i3d"]
