"""The dataset object every reader returns, and the errors readers raise.

A reader turns a folder into three lists of ``(path, pid, camid)`` tuples: ``train``, ``query`` and
``gallery``. Camera ids are 0-based ints. Training pids are relabelled to ``0 .. N-1`` (the raw
pids stay available in :attr:`ReIDDataset.train_original_pids` and :attr:`ReIDDataset.pid_map`);
query and gallery keep their raw pids, so distractors (pid 0) stay distinguishable.

An unlabelled training set (``train_labelled=False``, e.g. the ``folder`` reader's) has pid
:data:`UNKNOWN_PID` on every training item and is never relabelled; nothing of the unsupervised
pipeline reads training pids (they only feed the pseudo-label monitoring, which is then off). A
dataset without query and gallery (a train-only folder) trains; evaluation is skipped.
``nested_image_dirs``: the image folders whose images sit in sub-folders (MSMT17's ``train`` and
``test``, an image tree); their structure maps keep the same sub-folders.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

logger = logging.getLogger(__name__)

Item = tuple  # (path: str, pid: int, camid: int)
#: The pid of every training image of an unlabelled dataset.
UNKNOWN_PID = -1


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
        train_labelled: False = the training identities are unknown: every training pid must be
            :data:`UNKNOWN_PID`, and stays so.
        nested_image_dirs: image folders whose sub-folders are part of an image's place (its
            structure maps keep them); empty = flat folders.
    """

    def __init__(self, name: str, root: str, train: Iterable[Item], query: Iterable[Item],
                 gallery: Iterable[Item], relabel_train: bool = True,
                 train_labelled: bool = True, nested_image_dirs: Iterable[str] = ()) -> None:
        self.name = name
        self.root = root
        self.train_labelled = bool(train_labelled)
        self.nested_image_dirs = tuple(str(d) for d in nested_image_dirs)
        train = [(str(p), int(pid), int(cam)) for p, pid, cam in train]
        self.query = [(str(p), int(pid), int(cam)) for p, pid, cam in query]
        self.gallery = [(str(p), int(pid), int(cam)) for p, pid, cam in gallery]
        self.train_original_pids = [pid for _, pid, _ in train]
        raw_pids = sorted(set(self.train_original_pids))
        if not self.train_labelled:
            known = [p for p, pid, _ in train if pid != UNKNOWN_PID]
            if known:
                raise ValueError(f"Dataset {name}: an unlabelled training set has pid "
                                 f"{UNKNOWN_PID} on every image; '{known[0]}' has another")
            self.pid_map = {}
            self.train = train
        elif relabel_train:
            self.pid_map = {raw: new for new, raw in enumerate(raw_pids)}
            self.train = [(p, self.pid_map[pid], cam) for p, pid, cam in train]
        else:
            self.pid_map = {raw: raw for raw in raw_pids}
            self.train = train

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def num_train_pids(self) -> int:
        """Training identities (0 when they are unknown, see ``train_labelled``)."""
        return _subset_stats(self.train)[0] if self.train_labelled else 0

    @property
    def has_test_split(self) -> bool:
        """Query and gallery both present (what evaluation needs)."""
        return bool(self.query) and bool(self.gallery)

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
            stats = list(map(str, _subset_stats(getattr(self, subset))))
            if subset == "train" and not self.train_labelled:
                stats[0] = "unknown"
            rows.append((subset, *stats))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]

        def fmt(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            return "  " + " | ".join(cells)

        rule = "  " + "-+-".join("-" * w for w in widths)
        lines = [f"Dataset {self.name} ({self.root})", fmt(rows[0]), rule]
        lines += [fmt(row) for row in rows[1:]]
        if not self.has_test_split:
            lines.append("  (no query / gallery: training only, evaluation is skipped)")
        return "\n".join(lines)

    def log_summary(self, log: logging.Logger | None = None) -> None:
        (log or logger).info("\n%s", self.summary())

    def __repr__(self) -> str:
        return (f"ReIDDataset(name={self.name!r}, train={len(self.train)}, "
                f"query={len(self.query)}, gallery={len(self.gallery)})")
