"""MSMT17, versions V1 and V2, read from their list files.

V1: ``<root>/MSMT17_V1/{train,test}`` with ``list_train.txt``, ``list_val.txt``,
``list_query.txt`` and ``list_gallery.txt`` beside them. V2: ``<root>/MSMT17_V2/{mask_train_v2,
mask_test_v2}`` with the same list files. Each list line is ``<relative path> <pid>``; train and val
paths are relative to the train folder, query and gallery paths to the test folder. The camera is
the third underscore-separated field of the file name (``0000_000_01_0303morning_0015_0.jpg`` ->
camera 01 -> camid 0), numbered 1-15. The images sit in one sub-folder per identity
(``train/0000/0000_000_01_...jpg``), which their structure maps keep (``render/0000/...``, as
the authors' MSMT17 renders are laid out).

Training needs the train folder with ``list_train.txt`` (and ``list_val.txt`` when it is
merged); the test folder with ``list_query.txt`` and ``list_gallery.txt`` comes with them or not
at all (train-only: evaluation is skipped). ``test_only`` (evaluation) needs and reads only the
test folder and its two lists.
"""
from __future__ import annotations

import os

from .base import DatasetFormatError, DatasetLayoutError, Item, ReIDDataset
from .layout import locate_dataset_dir, optional_group
from .registry import register_dataset

EXAMPLE = "0000/0000_000_01_0303morning_0015_0.jpg 0"
NUM_CAMERAS = 15
LIST_FILES = {"train": "list_train.txt", "val": "list_val.txt", "query": "list_query.txt",
              "gallery": "list_gallery.txt"}
IMAGE_FOLDERS = {"v1": ("train", "test"), "v2": ("mask_train_v2", "mask_test_v2")}
FOLDER_NAMES = {"v1": ("MSMT17_V1", "MSMT17"), "v2": ("MSMT17_V2", "MSMT17")}


def _layout(version: str) -> dict[str, str]:
    train_dir, test_dir = IMAGE_FOLDERS[version]
    entries = {train_dir: "<pid>/<pid>_<seq>_<camera>_<date>_<...>.jpg", test_dir: ""}
    entries.update({name: f"lines like '{EXAMPLE}'" for name in LIST_FILES.values()})
    return entries


def camid_from_name(path: str) -> int:
    """0-based camera id from an MSMT17 file name (third underscore field, 1-based)."""
    fields = os.path.basename(path).split("_")
    if len(fields) < 3 or not fields[2].isdigit():
        raise DatasetFormatError(f"MSMT17 image name '{path}' has no camera field: expected "
                                 f"'<pid>_<seq>_<camera>_...' like '{EXAMPLE.split()[0]}'")
    cam = int(fields[2])
    if not 1 <= cam <= NUM_CAMERAS:
        raise DatasetFormatError(f"MSMT17 image name '{path}': camera {cam} is outside "
                                 f"1..{NUM_CAMERAS}")
    return cam - 1


def read_list_file(list_path: str, image_dir: str, check_files: bool = True) -> list[Item]:
    """Parse one MSMT17 list file into ``(path, pid, camid)``; errors name file and line."""
    items: list[Item] = []
    with open(list_path, "r", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DatasetFormatError(f"{list_path}:{lineno}: expected '<relative path> <pid>' "
                                         f"like '{EXAMPLE}', got '{line}'")
            rel, pid = parts[0], int(parts[1])
            try:
                camid = camid_from_name(rel)
            except DatasetFormatError as err:
                raise DatasetFormatError(f"{list_path}:{lineno}: {err}") from None
            items.append((os.path.join(image_dir, rel), pid, camid))
    if check_files:
        absent = [p for p, _, _ in items if not os.path.isfile(p)]
        if absent:
            raise DatasetLayoutError(f"{list_path} lists {len(absent)} image(s) that do not exist, "
                                     f"first: '{absent[0]}'")
    return items


def _detect_version(root: str) -> str:
    """Which MSMT17 version sits below (or at) ``root``; V1 when both are present."""
    for version in ("v1", "v2"):
        for name in FOLDER_NAMES[version]:
            folder = os.path.join(root, name)
            if os.path.isdir(folder) and os.path.exists(
                    os.path.join(folder, IMAGE_FOLDERS[version][0])):
                return version
    if os.path.isdir(os.path.join(root, IMAGE_FOLDERS["v2"][0])):
        return "v2"
    base = os.path.basename(os.path.normpath(root))
    return "v2" if base == "MSMT17_V2" or os.path.isdir(os.path.join(root, "MSMT17_V2")) else "v1"


@register_dataset("msmt17", "msmt", "msmt17_v1", "msmt17_v2")
def read_msmt17(root: str, merge_val: bool = True, version: str = "auto",
                check_files: bool = True, test_only: bool = False) -> ReIDDataset:
    """Read MSMT17 below ``root`` (or ``root`` = the MSMT17 folder itself).

    Args:
        merge_val: add the validation list to the training set (default, as published results do).
        version: ``auto``, ``v1`` or ``v2``.
        check_files: verify that every listed image exists.
        test_only: read query and gallery only (evaluation); the train folder may be absent.
    """
    version = version.lower()
    if version == "auto":
        version = _detect_version(os.fspath(root)) if os.path.isdir(root) else "v1"
    if version not in IMAGE_FOLDERS:
        raise ValueError(f"MSMT17 version must be 'auto', 'v1' or 'v2', got '{version}'")
    train_name, test_name = IMAGE_FOLDERS[version]
    train_group = [train_name, LIST_FILES["train"]] + ([LIST_FILES["val"]] if merge_val else [])
    test_group = [test_name, LIST_FILES["query"], LIST_FILES["gallery"]]
    name = f"msmt17 ({version.upper()})"
    folder = locate_dataset_dir(name, root, FOLDER_NAMES[version], _layout(version),
                                required=test_group if test_only else train_group)
    with_test = test_only or optional_group(name, root, folder, _layout(version),
                                              test_group, "evaluation")
    train_dir, test_dir = (os.path.join(folder, d) for d in IMAGE_FOLDERS[version])
    lists = {k: os.path.join(folder, v) for k, v in LIST_FILES.items()}
    train, query, gallery = [], [], []
    if not test_only:
        train = read_list_file(lists["train"], train_dir, check_files)
        if merge_val:
            train += read_list_file(lists["val"], train_dir, check_files)
    if with_test:
        query = read_list_file(lists["query"], test_dir, check_files)
        gallery = read_list_file(lists["gallery"], test_dir, check_files)
    subsets = {"train": train, "query": query, "gallery": gallery}
    expected = ([] if test_only else ["train"]) + (["query", "gallery"] if with_test else [])
    for subset in expected:
        if not subsets[subset]:
            raise DatasetFormatError(f"MSMT17 {subset} list in '{folder}' is empty")
    return ReIDDataset("msmt17", folder, train, query, gallery,
                       nested_image_dirs=(train_dir, test_dir))
