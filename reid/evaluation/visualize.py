"""Ranked-list pictures: the query, then its top-k gallery images with green (right identity) or
red (wrong identity) borders, after removing the same-identity same-camera junk."""
from __future__ import annotations

import io
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from common.io import atomic_write_bytes

RIGHT = (40, 180, 60)
WRONG = (220, 40, 40)
QUERY = (60, 60, 60)


def _tile(path: str, size: tuple[int, int], colour: tuple[int, int, int], label: str,
          border: int) -> Image.Image:
    """One image resized to ``size`` (height, width) inside a coloured border, with a label."""
    height, width = size
    try:
        with Image.open(path) as img:
            picture = img.convert("RGB").resize((width, height), Image.BILINEAR)
    except OSError as exc:
        raise OSError(f"cannot read image {path} for the ranked list: {exc}") from exc
    tile = Image.new("RGB", (width + 2 * border, height + 2 * border), colour)
    tile.paste(picture, (border, border))
    if label:
        ImageDraw.Draw(tile).text((border + 2, border + 1), label, fill=(255, 255, 0))
    return tile


def ranked_gallery(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                   q_camids: np.ndarray, g_camids: np.ndarray, topk: int) -> np.ndarray:
    """(num_q, topk) gallery indices, nearest first, junk (same pid and camera) excluded;
    -1 pads lists shorter than ``topk``."""
    junk = (q_pids[:, None] == g_pids[None, :]) & (q_camids[:, None] == g_camids[None, :])
    dist = np.where(junk, np.inf, distmat)
    k = min(topk, dist.shape[1])
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    order = np.where(np.isinf(np.take_along_axis(dist, order, axis=1)), -1, order)
    if k < topk:
        order = np.pad(order, ((0, 0), (0, topk - k)), constant_values=-1)
    return order


def save_ranked_lists(distmat, query_items: Sequence[tuple], gallery_items: Sequence[tuple],
                      out_dir: str, num_queries: int = 10, topk: int = 10,
                      q_pids=None, g_pids=None, q_camids=None, g_camids=None,
                      image_size: tuple[int, int] = (128, 64), border: int = 4) -> list[str]:
    """Write one PNG per query for ``num_queries`` queries spread evenly over the query list.

    ``query_items`` / ``gallery_items`` are ``(path, pid, camid)`` tuples; labels given
    explicitly take precedence over the ones in the items. Returns the written paths.
    """
    distmat = np.asarray(distmat)
    if distmat.shape != (len(query_items), len(gallery_items)):
        raise ValueError(f"distmat shape {distmat.shape} does not match {len(query_items)} "
                         f"queries x {len(gallery_items)} gallery items")
    label = lambda given, items, i: np.asarray(given if given is not None else  # noqa: E731
                                               [item[i] for item in items])
    q_pids, q_camids = label(q_pids, query_items, 1), label(q_camids, query_items, 2)
    g_pids, g_camids = label(g_pids, gallery_items, 1), label(g_camids, gallery_items, 2)
    num_queries = min(int(num_queries), len(query_items))
    if num_queries <= 0:
        return []
    chosen = np.unique(np.linspace(0, len(query_items) - 1, num_queries).round().astype(int))
    ranked = ranked_gallery(distmat[chosen], q_pids[chosen], g_pids, q_camids[chosen], g_camids,
                            topk)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for q, row in zip(chosen, ranked):
        tiles = [_tile(query_items[q][0], image_size, QUERY, "query", border)]
        for rank, g in enumerate(row[row >= 0], start=1):
            colour = RIGHT if g_pids[g] == q_pids[q] else WRONG
            tiles.append(_tile(gallery_items[g][0], image_size, colour, str(rank), border))
        gap = 2 * border
        width = sum(t.width for t in tiles) + gap * (len(tiles) - 1) + gap  # extra gap after query
        canvas = Image.new("RGB", (width, tiles[0].height), (255, 255, 255))
        x = 0
        for i, tile in enumerate(tiles):
            canvas.paste(tile, (x, 0))
            x += tile.width + gap + (gap if i == 0 else 0)
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG")
        stem = os.path.splitext(os.path.basename(query_items[q][0]))[0]
        path = os.path.join(out_dir, f"{int(q):05d}_{stem}.png")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written
