"""A tiny synthetic model in the official SMPL pickle format, for tests and offline demos.

It has the keys, shapes and object types of an official SMPL file (``v_template``,
``shapedirs`` and ``posedirs`` as chumpy objects, a sparse ``J_regressor``, 24 joints with SMPL's
kinematic tree) but a small random body, so code paths that need SMPL files can run without the
licensed model. While the pickle is written, a stand-in ``chumpy`` module is placed in
``sys.modules`` (and removed afterwards) so the file references ``chumpy.ch.Ch`` exactly as the
official files do.
"""
from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types

import numpy as np

from common.io import atomic_write_bytes

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)


@contextlib.contextmanager
def _fake_chumpy():
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    package = types.ModuleType("chumpy")
    module = types.ModuleType("chumpy.ch")

    class Ch:  # pickled by reference as chumpy.ch.Ch, state = {"x": array}
        def __init__(self, x):
            self.x = np.asarray(x)

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    package.ch = module
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    try:
        yield Ch
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def tiny_smpl_arrays(num_vertices: int = 240, seed: int = 0) -> dict:
    """A small person-like SMPL-format body (a 1.7 m tall column of vertices) as numpy arrays."""
    from scipy import sparse

    rng = np.random.default_rng(seed)
    joints = 24
    # vertices on a column from y = -0.9 to 0.8, radius 0.15: a crude standing body
    t = np.linspace(0, 1, num_vertices)
    angle = rng.uniform(0, 2 * np.pi, num_vertices)
    v_template = np.stack((0.15 * np.cos(angle), -0.9 + 1.7 * t, 0.15 * np.sin(angle)), 1)
    count = num_vertices - 2
    faces = np.stack((np.arange(count), np.arange(count) + 1, np.arange(count) + 2), 1)
    # each vertex follows the joint nearest in height (joint heights spread over the column)
    joint_rank = np.linspace(0, 1, joints)
    joint_rank[[0, joints // 2]] = joint_rank[[joints // 2, 0]]  # the root (pelvis) mid-body
    nearest = np.abs(t[:, None] - joint_rank[None]).argmin(1)
    weights = np.zeros((num_vertices, joints))
    weights[np.arange(num_vertices), nearest] = 1.0
    regressor = np.zeros((joints, num_vertices))
    regressor[nearest, np.arange(num_vertices)] = 1.0
    regressor[regressor.sum(1) == 0, 0] = 1.0
    regressor /= regressor.sum(1, keepdims=True)
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(0, 0.01, (num_vertices, 3, 10)),
        "posedirs": rng.normal(0, 0.001, (num_vertices, 3, 207)),
        "J_regressor": sparse.csc_matrix(regressor),
        "weights": weights,
        "kintree_table": np.stack((np.array(SMPL_PARENTS, dtype=np.int64) % (2 ** 32),
                                   np.arange(joints))).astype(np.int64),
        "f": faces.astype(np.uint32),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_tiny_smpl_file(path: str, num_vertices: int = 240, seed: int = 0,
                         chumpy_objects: bool = True) -> str:
    """Write :func:`tiny_smpl_arrays` as an SMPL-format pickle (protocol 2, like the originals)."""
    data = tiny_smpl_arrays(num_vertices, seed)
    buffer = io.BytesIO()
    if chumpy_objects:
        with _fake_chumpy() as ch:
            for key in ("v_template", "shapedirs", "posedirs"):
                data[key] = ch(data[key])
            pickle.dump(data, buffer, protocol=2)
    else:
        pickle.dump(data, buffer, protocol=2)
    return atomic_write_bytes(path, buffer.getvalue())
