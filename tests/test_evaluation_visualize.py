"""Ranked-list pictures: junk removed, green borders for right matches, red for wrong."""
import numpy as np
from PIL import Image

from reid.evaluation.visualize import RIGHT, WRONG, ranked_gallery, save_ranked_lists


def _write_images(folder, n, prefix):
    paths = []
    for i in range(n):
        path = folder / f"{prefix}_{i}.jpg"
        Image.new("RGB", (8, 16), (10 * i, 100, 200)).save(path)
        paths.append(str(path))
    return paths


def test_ranked_gallery_skips_junk_and_pads():
    distmat = np.array([[0.0, 0.1, 0.2]])
    order = ranked_gallery(distmat, np.array([1]), np.array([1, 2, 1]), np.array([0]),
                           np.array([0, 1, 1]), topk=4)
    np.testing.assert_array_equal(order, [[1, 2, -1, -1]])


def test_pictures_have_right_and_wrong_borders(tmp_path):
    q_paths = _write_images(tmp_path, 2, "q")
    g_paths = _write_images(tmp_path, 6, "g")
    query = [(q_paths[0], 1, 0), (q_paths[1], 2, 0)]
    gallery = [(p, pid, cam) for p, pid, cam in zip(
        g_paths, [1, 2, 1, 3, 2, 1], [0, 1, 1, 1, 1, 2])]
    distmat = np.array([[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
                        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    border, size = 4, (32, 16)
    written = save_ranked_lists(distmat, query, gallery, str(tmp_path / "lists"), num_queries=2,
                                topk=3, image_size=size, border=border)
    assert len(written) == 2
    picture = np.asarray(Image.open(written[0]).convert("RGB"))
    tile_w, gap = size[1] + 2 * border, 2 * border
    # Query 0 (pid 1, cam 0): gallery 0 is junk; ranked: g1 (pid 2, wrong), g2 (right), g3 (wrong).
    starts = [tile_w + 2 * gap + k * (tile_w + gap) for k in range(3)]
    colours = [tuple(picture[size[0] + border, x + 1]) for x in starts]
    assert colours == [WRONG, RIGHT, WRONG]
    assert picture.shape[0] == size[0] + 2 * border
