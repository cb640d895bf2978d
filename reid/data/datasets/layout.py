"""Finding a dataset's folder below the datasets root, and explaining the expected layout.

Readers call :func:`locate_dataset_dir` with the names their dataset folder may have and the
entries it must hold. A missing root, a missing dataset folder or a half-present one raises
:class:`~reid.data.datasets.base.DatasetLayoutError` whose message draws the expected tree and
marks what is missing.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

from .base import DatasetLayoutError


def draw_layout(root: str, dataset_dir: str | None, entries: Mapping[str, str],
                missing: Sequence[str] = ()) -> str:
    """A small tree drawing of the expected layout.

    Args:
        root: the datasets root as given by the user.
        dataset_dir: the dataset folder name below ``root`` (None = entries sit directly in root).
        entries: entry name -> short description (e.g. an example file name).
        missing: entry names to mark as missing.
    """
    lines = [root.rstrip("/") + "/"]
    indent = ""
    if dataset_dir:
        lines.append(f"└── {dataset_dir}/")
        indent = "    "
    names = list(entries)
    for i, name in enumerate(names):
        branch = "└── " if i == len(names) - 1 else "├── "
        is_dir = not os.path.splitext(name)[1]
        label = name + ("/" if is_dir else "")
        note = entries[name]
        mark = "   <- MISSING" if name in missing else ""
        lines.append(f"{indent}{branch}{label:<22} {note}{mark}".rstrip())
    return "\n".join(lines)


def locate_dataset_dir(dataset: str, root: str, folder_names: Sequence[str],
                       entries: Mapping[str, str], accept_root_itself: bool = True,
                       required: Sequence[str] | None = None) -> str:
    """Return the dataset folder, checking that every required entry exists.

    Args:
        dataset: dataset name used in messages.
        root: the datasets root (``DATASETS.ROOT``) or the dataset folder itself.
        folder_names: names the dataset folder may have below ``root``; empty = the entries sit
            directly in ``root``.
        entries: the entries (sub-folders or files) -> description for the layout drawing.
        accept_root_itself: also accept ``root`` when it already is the dataset folder.
        required: the entries that must exist (default: all of ``entries``).

    Raises:
        DatasetLayoutError: naming the missing root / folder / entries, with the expected tree.
    """
    required = list(entries) if required is None else list(required)
    root = os.fspath(root)
    shown_dir = folder_names[0] if folder_names else None
    if not os.path.isdir(root):
        raise DatasetLayoutError(
            f"Dataset '{dataset}': root folder '{root}' does not exist (set DATASETS.ROOT to the "
            f"folder that holds the datasets). Expected layout:\n"
            + draw_layout(root, shown_dir, entries))
    candidates = [os.path.join(root, name) for name in folder_names]
    if accept_root_itself or not folder_names:
        candidates.append(root)
    found = next((c for c in candidates if c != root and os.path.isdir(c)), None)
    if found is None and root in candidates:
        base = os.path.basename(os.path.normpath(root))
        if not folder_names or base in folder_names or any(
                os.path.exists(os.path.join(root, e)) for e in entries):
            found = root
    if found is None:
        names = " or ".join(f"'{n}'" for n in folder_names)
        raise DatasetLayoutError(
            f"Dataset '{dataset}': no folder {names} below '{root}', and '{root}' is not the "
            f"dataset folder itself. Expected layout:\n" + draw_layout(root, shown_dir, entries))
    missing = [e for e in required if not os.path.exists(os.path.join(found, e))]
    if missing:
        raise _incomplete(dataset, root, found, entries, missing)
    return found


def _incomplete(dataset: str, root: str, found: str, entries: Mapping[str, str],
                missing: Sequence[str], note: str = "") -> DatasetLayoutError:
    shown_sub = None if found == root else os.path.basename(found)
    return DatasetLayoutError(
        f"Dataset '{dataset}': folder '{found}' is incomplete, missing "
        + ", ".join(f"'{m}'" for m in missing) + f"{note}. Expected layout:\n"
        + draw_layout(root, shown_sub, entries, missing))


def optional_group(dataset: str, root: str, found: str, entries: Mapping[str, str],
                   group: Sequence[str], purpose: str) -> bool:
    """Whether the entries of ``group`` are in the dataset folder ``found`` (located below
    ``root`` by :func:`locate_dataset_dir`): all of them (True) or none (False); only some is a
    DatasetLayoutError naming the missing ones and ``purpose`` (what needs them all)."""
    missing = [e for e in group if not os.path.exists(os.path.join(found, e))]
    if missing and len(missing) < len(group):
        raise _incomplete(dataset, root, found, entries, missing,
                          f" ({purpose} needs all of {', '.join(repr(e) for e in group)}; "
                          f"without any of them the folder is train-only)")
    return not missing

