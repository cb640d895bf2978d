"""Tiny folders for the data tests: an unlabelled image tree for the ``folder`` dataset, and
MSMT17 with its training or its test part only."""
import os
import shutil

from PIL import Image

from reid.data import make_toy_reid_folder

SITES = ("site north", "site south", "site west")  # one per toy camera
#: Images directly in the root (a camera of their own with DATASETS.CAMERAS folder).
LOOSE = ("overview.png",)


def make_unlabelled_tree(root: str, num_ids: int = 16) -> str:
    """``root/<site>/<morning|evening>/<nnn>.jpg`` (the same names in every folder) plus
    ``root/overview.png``, a hidden ``.thumbs`` folder and a ``meshes`` folder that are not
    training images; returns ``root``."""
    source = make_toy_reid_folder(os.path.join(root + "-source"), num_ids=num_ids,
                                  num_cameras=len(SITES), images_per_id_per_camera=2,
                                  size=(64, 32), layout="generic", seed=3)
    train = os.path.join(source, "bounding_box_train")
    counts: dict = {}
    for i, name in enumerate(sorted(os.listdir(train))):
        camera = int(name.split("_c")[1].split("s")[0])
        folder = os.path.join(root, SITES[camera - 1], "morning" if i % 2 else "evening")
        os.makedirs(folder, exist_ok=True)
        counts[folder] = counts.get(folder, 0) + 1
        shutil.copy(os.path.join(train, name), os.path.join(folder, f"{counts[folder]:03d}.jpg"))
    first = os.path.join(train, sorted(os.listdir(train))[0])
    Image.open(first).save(os.path.join(root, LOOSE[0]))
    for skipped in (".thumbs", os.path.join("meshes", "train", "render")):
        os.makedirs(os.path.join(root, skipped), exist_ok=True)
        shutil.copy(first, os.path.join(root, skipped, "001.jpg"))
    shutil.rmtree(source)
    return root


#: What each part of a toy MSMT17_V1 folder consists of: its image folder and its lists.
MSMT17_PARTS = {"train": ("train", "list_train.txt", "list_val.txt"),
                "test": ("test", "list_query.txt", "list_gallery.txt")}


def make_msmt17_part(root: str, keep: str, num_ids: int) -> str:
    """A toy MSMT17_V1 below ``root`` with only its ``keep`` part (``train`` or ``test``)."""
    make_toy_reid_folder(root, num_ids=num_ids, num_cameras=2, layout="msmt17_v1")
    folder, *lists = MSMT17_PARTS["test" if keep == "train" else "train"]
    base = os.path.join(root, "MSMT17_V1")
    shutil.rmtree(os.path.join(base, folder))
    for name in lists:
        os.remove(os.path.join(base, name))
    return root
