"""Content digests of a folder tree, to assert that a run left files untouched."""
import hashlib
import os


def folder_digest(root: str) -> dict:
    """{path relative to ``root``: sha1 of its bytes} for every file below ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = hashlib.sha1(handle.read()).hexdigest()
    return out
