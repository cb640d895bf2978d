"""The structure-map cache: grey body renders of every dataset image at its viewpoints.

Layout (compatible with the authors' released renders, which load as they are)::

    <mesh_dir>/train/render/<image file name>          original viewpoint (0 degrees)
    <mesh_dir>/train/render_45/<image file name>       rotated by 45 degrees about the vertical axis
    ...
    <mesh_dir>/train/render_315/<image file name>
    <mesh_dir>/test/...                                 query and gallery images
    <mesh_dir>/train/render/0000/<image file name>     MSMT17: the identity sub-folder kept

A cache holds the maps of its ``angles`` (default :data:`mesh.rotation.VIEW_ANGLES`, the original
view and 7 rotations); a map of another angle is refused by name.

Maps are 1-channel grey, 256 x 128 (H x W), white background. The file name (and so the image
format) is that of the dataset image, e.g. ``0002_c1s1_000451_03.jpg``. Below each render folder a
map keeps the path of its image relative to its image folder where the dataset's images sit in
sub-folders (the cache's ``image_dirs``: MSMT17's ``train/0000/0000_000_01_...jpg`` ->
``render/0000/0000_000_01_...jpg``, as the authors' MSMT17 renders are laid out; an image tree
read by the ``folder`` dataset likewise), and only the file name where they are flat (Market-1501,
DukeMTMC-reID, as the authors' renders of those are); so equal file names in different
sub-folders keep apart. Files in RGB (as some of the authors' renders are) are converted to grey
when read; other sizes are resized to 256 x 128, with a :class:`StructureMapSizeWarning` naming
both sizes and the first such file (once per process for each mesh folder and size found). Writes
are atomic (temporary file in the same folder, then rename), so an interrupted run never leaves a
half-written map behind and a resumed run can trust any file it finds.
"""
from __future__ import annotations

import io
import os
import warnings
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from common.io import atomic_write_bytes

from .rotation import ORIGINAL_VIEW, VIEW_ANGLES

__all__ = ["MAP_SIZE", "SPLITS", "StructureMapCache", "StructureMapSizeWarning", "folder_name",
           "resolve_mesh_dir", "structure_map_key", "to_uint8_maps"]

SPLITS: tuple[str, ...] = ("train", "test")
MAP_SIZE: tuple[int, int] = (256, 128)  # (H, W)

# File extension -> PIL format name used when writing.
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF", ".webp": "WEBP"}


# (mesh folder, expected (W, H), found (W, H)) already warned about in this process.
_SIZE_WARNED: set[tuple[str, tuple[int, int], tuple[int, int]]] = set()


class StructureMapSizeWarning(UserWarning):
    """Structure maps of another size than the cache's: they are resized when read."""


def _warn_resized_once(mesh_dir: str, path: str, expected: tuple[int, int],
                       found: tuple[int, int]) -> None:
    """Say once per (mesh folder, sizes) that maps of ``found`` (W, H) are resized."""
    key = (os.path.abspath(mesh_dir), expected, found)
    if key in _SIZE_WARNED:
        return
    _SIZE_WARNED.add(key)
    warnings.warn(f"structure maps below {mesh_dir} are {found[1]} x {found[0]} (H x W), "
                  f"expected {expected[1]} x {expected[0]}: resizing them when read (first: "
                  f"{path}; said once per size)", StructureMapSizeWarning, stacklevel=3)


def resolve_mesh_dir(mesh_dir: str, dataset_root: str) -> str:
    """The cache folder: ``mesh_dir`` (``MESH.DIR``), or ``<dataset folder>/meshes`` when empty."""
    return mesh_dir or os.path.join(dataset_root, "meshes")


def folder_name(angle: int, angles: Sequence[int] = VIEW_ANGLES) -> str:
    """``"render"`` for the original view (0 degrees), else ``"render_<angle>"``; ``angle`` must
    be one of ``angles``."""
    angle = _check_angle(angle, angles)
    return "render" if angle == ORIGINAL_VIEW else f"render_{angle}"


def _check_angle(angle: int, angles: Sequence[int]) -> int:
    angles = tuple(angles)
    try:
        value = int(angle)
    except (TypeError, ValueError):
        raise ValueError(f"structure-map angle must be one of {angles}; got {angle!r}") from None
    if value != angle or value not in angles:
        raise ValueError(f"structure-map angle must be one of {angles}; got {angle!r}")
    return value


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"structure-map split must be one of {SPLITS}; got {split!r}")
    return split


def _check_filename(filename: str) -> str:
    name = os.path.basename(os.fspath(filename))
    if not name or name in (".", ".."):
        raise ValueError(f"structure-map file name is empty or invalid: {filename!r}")
    return name


def _normalised_dirs(image_dirs: Iterable[str]) -> tuple[str, ...]:
    """Absolute folders, deepest first (a folder nested in another one keys its own images)."""
    return tuple(sorted({os.path.abspath(os.fspath(d)) for d in image_dirs}, key=len,
                        reverse=True))


def _key(filename: str, dirs: tuple[str, ...]) -> str:
    filename = os.fspath(filename)
    name = _check_filename(filename)
    if dirs and os.path.dirname(filename):
        path = os.path.abspath(filename)
        for folder in dirs:
            if path.startswith(folder.rstrip(os.sep) + os.sep):
                return os.path.relpath(path, folder)
    return name


def structure_map_key(filename: str, image_dirs: Iterable[str] = ()) -> str:
    """Where the maps of image ``filename`` lie below each render folder: its path relative to
    the deepest of ``image_dirs`` that holds it (sub-folders kept), else its base name."""
    return _key(filename, _normalised_dirs(image_dirs))


class StructureMapCache:
    """Read, write and audit structure maps below ``mesh_dir``.

    ``filename`` arguments are image paths (or bare file names): an image below one of
    ``image_dirs`` keeps its path relative to that folder (the deepest one that holds it), any
    other only its base name (see :meth:`key`).
    ``angles``: the viewpoints the cache holds (``angles`` arguments default to them).
    ``image_dirs``: the image folders whose sub-folders the maps keep (e.g. MSMT17's ``train``
    and ``test``); empty = every map is found by its image's file name alone.
    ``sources``: ``{image path: path of the image whose maps it uses}``, e.g. generated frames
    that animate a training image use that image's maps (paths compared as absolute paths).
    """

    ANGLES = VIEW_ANGLES  # the default of ``angles``
    SPLITS = SPLITS
    SIZE = MAP_SIZE

    def __init__(self, mesh_dir: str, size: tuple[int, int] = MAP_SIZE, jpeg_quality: int = 95,
                 angles: Sequence[int] = VIEW_ANGLES, image_dirs: Iterable[str] = (),
                 sources: dict[str, str] | None = None):
        if not mesh_dir:
            raise ValueError("StructureMapCache needs a mesh_dir (MESH.DIR or <dataset>/meshes)")
        self.mesh_dir = os.fspath(mesh_dir)
        self.size = (int(size[0]), int(size[1]))
        self.jpeg_quality = int(jpeg_quality)
        self.angles = tuple(int(a) for a in angles)
        self.image_dirs = _normalised_dirs(image_dirs)
        self.sources = {os.path.abspath(os.fspath(k)): os.fspath(v)
                        for k, v in (sources or {}).items()}

    def key(self, filename: str) -> str:
        """:func:`structure_map_key` of ``filename`` (or of its source image, ``sources``) with
        the cache's ``image_dirs``."""
        if self.sources:
            filename = self.sources.get(os.path.abspath(os.fspath(filename)), filename)
        return _key(filename, self.image_dirs)

    def __repr__(self) -> str:
        return f"StructureMapCache({self.mesh_dir!r})"

    # -- paths -------------------------------------------------------------------------------
    def folder_name(self, angle: int) -> str:
        return folder_name(angle, self.angles)

    def path(self, split: str, filename: str, angle: int = ORIGINAL_VIEW) -> str:
        """``<mesh_dir>/<split>/<render folder of angle>/<key of the image>`` (:meth:`key`)."""
        return os.path.join(self.mesh_dir, _check_split(split), self.folder_name(angle),
                            self.key(filename))

    def exists(self, split: str, filename: str, angle: int = ORIGINAL_VIEW) -> bool:
        return os.path.isfile(self.path(split, filename, angle))

    def complete(self, split: str, filename: str, angles: Iterable[int] | None = None) -> bool:
        """True when the maps of ``filename`` exist at every angle (the resume test)."""
        return all(self.exists(split, filename, a) for a in self._angles(angles))

    def _angles(self, angles: Iterable[int] | None) -> tuple[int, ...]:
        return self.angles if angles is None else tuple(angles)

    # -- writing -----------------------------------------------------------------------------
    def encode(self, filename: str, array: np.ndarray) -> bytes:
        """Encode a (H, W) uint8 map in the image format of ``filename``'s extension."""
        array = _as_grey_uint8(array, filename)
        ext = os.path.splitext(filename)[1].lower()
        fmt = _FORMATS.get(ext)
        if fmt is None:
            raise ValueError(f"structure map {filename!r}: unsupported image extension {ext!r}; "
                             f"expected one of {sorted(_FORMATS)}")
        buffer = io.BytesIO()
        options = {"quality": self.jpeg_quality} if fmt == "JPEG" else {}
        Image.fromarray(array, mode="L").save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def write(self, split: str, filename: str, angle: int, array: np.ndarray) -> str:
        """Atomically write one (H, W) uint8 grey map; returns its path."""
        target = self.path(split, filename, angle)
        return atomic_write_bytes(target, self.encode(target, array))

    def write_views(self, split: str, filename: str, maps: np.ndarray | torch.Tensor,
                    angles: Sequence[int] | None = None) -> list[str]:
        """Write the maps of one image at several angles (default: the cache's).

        ``maps``: (A, H, W) or (A, 1, H, W); uint8, or float in [0, 1] (as the renderers return).
        """
        angles = self._angles(angles)
        arrays = to_uint8_maps(maps)
        if arrays.shape[0] != len(angles):
            raise ValueError(f"structure maps of {filename!r}: got {arrays.shape[0]} maps for "
                             f"{len(angles)} angles {tuple(angles)}")
        return [self.write(split, filename, a, m) for a, m in zip(angles, arrays)]

    # -- reading -----------------------------------------------------------------------------
    def read(self, split: str, filename: str, angle: int = ORIGINAL_VIEW) -> np.ndarray:
        """The map as np.uint8 (H, W), grey; RGB files are converted, other sizes resized."""
        path = self.path(split, filename, angle)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"structure map missing: {path} (run tools/prepare_meshes.py "
                                    f"or point MESH.DIR at the renders)")
        try:
            with Image.open(path) as image:
                image = image.convert("L")
                height, width = self.size
                if image.size != (width, height):
                    _warn_resized_once(self.mesh_dir, path, (width, height), tuple(image.size))
                    image = image.resize((width, height), Image.BILINEAR)
                return np.asarray(image, dtype=np.uint8).copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise OSError(f"structure map unreadable: {path}: {exc}") from exc

    def read_tensor(self, split: str, filename: str, angle: int = ORIGINAL_VIEW) -> torch.Tensor:
        """The map as a (1, H, W) float tensor normalised with mean/std 0.5, i.e. in [-1, 1]."""
        array = self.read(split, filename, angle)
        return torch.from_numpy(array).float().div_(127.5).sub_(1.0).unsqueeze(0)

    # -- auditing ----------------------------------------------------------------------------
    def missing(self, split: str, filenames: Iterable[str],
                angles: Iterable[int] | None = None) -> list[str]:
        """Paths (relative to ``mesh_dir``) of the maps that do not exist."""
        angles = self._angles(angles)
        out = []
        for name in filenames:
            for angle in angles:
                path = self.path(split, name, angle)
                if not os.path.isfile(path):
                    out.append(os.path.relpath(path, self.mesh_dir))
        return out

    def check(self, split: str, filenames: Iterable[str], angles: Iterable[int] | None = None,
              verify: bool = True) -> tuple[list[str], list[str]]:
        """``(missing, unreadable)`` relative paths; ``verify`` decodes every present file."""
        angles = self._angles(angles)
        missing, unreadable = [], []
        for name in filenames:
            for angle in angles:
                path = self.path(split, name, angle)
                rel = os.path.relpath(path, self.mesh_dir)
                if not os.path.isfile(path):
                    missing.append(rel)
                elif verify and not _decodes(path):
                    unreadable.append(rel)
        return missing, unreadable

    def check_splits(self, paths_by_split: dict[str, Sequence[str]],
                     angles: Iterable[int] | None = None) -> tuple[list[str], list[str]]:
        """:meth:`check` over several splits (``{split: image paths}``): all ``(missing,
        unreadable)`` relative paths, split by split."""
        missing, unreadable = [], []
        for split, paths in paths_by_split.items():
            miss, bad = self.check(split, paths, angles)
            missing += miss
            unreadable += bad
        return missing, unreadable


def _decodes(path: str) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def _as_grey_uint8(array, filename: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"structure map {filename!r}: expected a (H, W) grey array, got shape "
                         f"{array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"structure map {filename!r}: expected dtype uint8, got {array.dtype} "
                         f"(use to_uint8_maps for float maps in [0, 1])")
    return np.ascontiguousarray(array)


def to_uint8_maps(maps: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) maps, uint8 or float in [0, 1] -> (N, H, W) uint8."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu()
        if maps.is_floating_point():
            maps = (maps.clamp(0, 1) * 255.0).round().to(torch.uint8)
        maps = maps.numpy()
    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise ValueError(f"structure maps: expected (N, H, W) or (N, 1, H, W), got {maps.shape}")
    if maps.dtype != np.uint8:
        if not np.issubdtype(maps.dtype, np.floating):
            raise ValueError(f"structure maps: expected uint8 or float in [0, 1], got {maps.dtype}")
        maps = (np.clip(maps, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return maps
