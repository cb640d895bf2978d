"""The dataset object every reader returns, and the errors readers raise.

A reader turns a folder into three lists of ``(path, pid, camid)`` tuples: ``train``, ``query`` and
``gallery``. Camera ids are 0-based ints. Training pids are relabelled to ``0 .. N-1`` (the raw
pids stay available in :attr:`ReIDDataset.train_original_pids` and :attr:`ReIDDataset.pid_map`);
query and gallery keep their raw pids, so distractors (pid 0) stay distinguishable.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

logger = logging.getLogger(__name__)

Item = tuple  # (path: str, pid: int, camid: int)


class DatasetLayoutError(FileNotFoundError):
    """A dataset root that is missing, or present with some of its sub-folders or files missing."""


class DatasetFormatError(ValueError):
    """A file name or list-file line that does not follow the dataset's naming rules."""


def _subset_stats(items: Sequence[Item]) -> tuple[int, int, int]:
    """(number of identities, number of images, number of cameras) of one subset."""
    pids = {pid for _, pid, _ in items}
    cams = {camid for _, _, camid in items}
    return len(pids), len(items), len(cams)


class ReIDDataset:
    """Train / query / gallery lists of one person re-identification dataset.

    Args:
        name: canonical dataset name (``market1501``, ``dukemtmc``, ...).
        root: the folder the lists were read from.
        train, query, gallery: lists of ``(path, pid, camid)``.
        relabel_train: map training pids to ``0 .. N-1`` (sorted by raw pid). The raw pid of each
            training item is kept in :attr:`train_original_pids`.
    """

    def __init__(self, name: str, root: str, train: Iterable[Item], query: Iterable[Item],
                 gallery: Iterable[Item], relabel_train: bool = True) -> None:
        self.name = name
        self.root = root
        train = [(str(p), int(pid), int(cam)) for p, pid, cam in train]
        self.query = [(str(p), int(pid), int(cam)) for p, pid, cam in query]
        self.gallery = [(str(p), int(pid), int(cam)) for p, pid, cam in gallery]
        self.train_original_pids = [pid for _, pid, _ in train]
        raw_pids = sorted(set(self.train_original_pids))
        if relabel_train:
            self.pid_map = {raw: new for new, raw in enumerate(raw_pids)}
            self.train = [(p, self.pid_map[pid], cam) for p, pid, cam in train]
        else:
            self.pid_map = {raw: raw for raw in raw_pids}
            self.train = train

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def num_train_pids(self) -> int:
        return _subset_stats(self.train)[0]

    @property
    def num_train_imgs(self) -> int:
        return len(self.train)

    @property
    def num_train_cams(self) -> int:
        return _subset_stats(self.train)[2]

    @property
    def num_query_pids(self) -> int:
        return _subset_stats(self.query)[0]

    @property
    def num_query_imgs(self) -> int:
        return len(self.query)

    @property
    def num_query_cams(self) -> int:
        return _subset_stats(self.query)[2]

    @property
    def num_gallery_pids(self) -> int:
        return _subset_stats(self.gallery)[0]

    @property
    def num_gallery_imgs(self) -> int:
        return len(self.gallery)

    @property
    def num_gallery_cams(self) -> int:
        return _subset_stats(self.gallery)[2]

    # ---- reporting -----------------------------------------------------------------------
    def summary(self) -> str:
        """A plain-text table: subset | ids | images | cameras."""
        rows = [("subset", "ids", "images", "cameras")]
        for subset in ("train", "query", "gallery"):
            rows.append((subset, *map(str, _subset_stats(getattr(self, subset)))))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]

        def fmt(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            return "  " + " | ".join(cells)

        rule = "  " + "-+-".join("-" * w for w in widths)
        lines = [f"Dataset {self.name} ({self.root})", fmt(rows[0]), rule]
        lines += [fmt(row) for row in rows[1:]]
        return "\n".join(lines)

    def log_summary(self, log: logging.Logger | None = None) -> None:
        (log or logger).info("\n%s", self.summary())

    def __repr__(self) -> str:
        return (f"ReIDDataset(name={self.name!r}, train={len(self.train)}, "
                f"query={len(self.query)}, gallery={len(self.gallery)})")
