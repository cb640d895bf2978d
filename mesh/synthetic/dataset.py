"""The synthetic multi-camera person dataset, written in the Market-1501 layout.

    DIR/bounding_box_train/0001_c1s1_000120_01.jpg   training identities (half of them, or
                                                      ``num_train_ids``); ``images_per_camera``
                                                      each per camera, or ``train_images`` in
                                                      all, spread evenly over them
    DIR/query/...  DIR/bounding_box_test/...          test identities: one query per identity and
                                                      camera (when it has several images there),
                                                      the rest in the gallery
    DIR/meshes/{train,test}/render[_ANGLE]/<name>     structure maps at 0, 45, ..., 315 degrees
                                                      (the ``angles`` argument)
    DIR/ground_truth_views/render_ANGLE/<name>        evaluation only: each training image's
                                                      person rotated by each non-zero angle with
                                                      full appearance (mesh.synthetic.ground_truth)
    DIR/annotations.npz                                per image: pid, camera, body shape and pose,
                                                      yaw, weak-perspective camera, scale
    DIR/annotations.json                               identity attributes and camera profiles
    DIR/preview.png                                    contact sheet (with ``preview=True``)
    DIR/SYNTHETIC_IN_PROGRESS.json                     written first, removed last: the generator
                                                       is writing DIR (or was interrupted)
    DIR/SYNTHETIC_COMPLETE.json                        written last: the dataset is complete

Every identity appears in at least two cameras. The same seed gives identical files.

The generator deletes only what it writes (the entries above), and only in a folder that holds
one of its two markers; a non-empty folder without them (a real Market-1501 copy, say) is
refused with :class:`ForeignFolderError` before anything is touched.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from common.io import atomic_write_bytes, atomic_write_json

from ..render import build_renderer
from ..rotation import ORIGINAL_VIEW, VIEW_ANGLES
from ..structure_cache import StructureMapCache
from .appearance import sample_identities
from .ground_truth import ground_truth_path
from .layout import IN_PROGRESS, MARKER, MESH_SPLIT, OWNED_FILES, OWNED_FOLDERS, SUBSET_FOLDERS
from .people import SyntheticPersonRenderer
from .preview import write_preview
from .scene import apply_camera_effects, crop_backgrounds, sample_camera_profiles, sample_yaws

_logger = logging.getLogger("mesh")

MAX_CAMERAS = 9  # Market-1501 file names hold a one-digit camera number
JPEG_QUALITY = 90
# Anny mesh resolution of the synthetic people ("low" = ~2.5k faces keeps the 9 renders per
# image fast on a CPU; "full" = ~27k faces for close-ups).
DEFAULT_BODY_RESOLUTION = "low"


class ForeignFolderError(RuntimeError):
    """The output folder holds files that the synthetic generator did not write."""


@dataclass
class ImagePlan:
    """Which images to make: one entry per image (numpy arrays of equal length)."""

    identity: np.ndarray   # index into the sampled identities
    pid: np.ndarray        # Market pid (1-based)
    camera: np.ndarray     # 0-based camera
    subset: np.ndarray     # "train" | "query" | "gallery"
    filename: np.ndarray

    def __len__(self) -> int:
        return len(self.pid)


def check_settings(num_ids: int, num_cameras: int, images_per_camera: int,
                   image_size: tuple[int, int] = (256, 128), batch_size: int = 1,
                   body_resolution: str = DEFAULT_BODY_RESOLUTION,
                   renderer: str = "auto", num_train_ids: int | None = None,
                   train_images: int = 0) -> None:
    """Raise ValueError naming the first bad setting; nothing is read or written.

    ``num_train_ids``: how many of the ``num_ids`` identities are training identities (None =
    half of them); the rest are test identities. ``train_images``: the training images in all
    (0 = ``images_per_camera`` per training identity and camera); every training identity needs
    two of them, one in each of two cameras."""
    if num_ids < 2:
        raise ValueError(f"synthetic dataset: need at least 2 identities (one train, one test); "
                         f"got {num_ids}")
    if num_train_ids is not None and not 1 <= num_train_ids <= num_ids - 1:
        raise ValueError(f"synthetic dataset: training identities must be in 1..{num_ids - 1} "
                         f"(at least one test identity of {num_ids}); got {num_train_ids}")
    if not 2 <= num_cameras <= MAX_CAMERAS:
        raise ValueError(f"synthetic dataset: cameras must be in 2..{MAX_CAMERAS} (Market file "
                         f"names hold one camera digit; every identity needs two cameras); "
                         f"got {num_cameras}")
    if images_per_camera < 1:
        raise ValueError(f"synthetic dataset: images per camera must be >= 1; "
                         f"got {images_per_camera}")
    num_train = num_ids // 2 if num_train_ids is None else int(num_train_ids)
    if train_images != 0 and train_images < 2 * num_train:
        raise ValueError(f"synthetic dataset: training images in all must be 0 (images per "
                         f"camera decide) or >= 2 per training identity (two cameras each), "
                         f"at least {2 * num_train} for {num_train} training identities; "
                         f"got {train_images}")
    if len(image_size) != 2 or min(int(v) for v in image_size) < 1:
        raise ValueError(f"synthetic dataset: image size must be (height, width) >= 1; "
                         f"got {tuple(image_size)}")
    if batch_size < 1:
        raise ValueError(f"synthetic dataset: batch size must be >= 1; got {batch_size}")
    from ..body.anny_model import RESOLUTIONS
    from ..render import RENDERER_NAMES

    if body_resolution not in RESOLUTIONS:
        raise ValueError(f"synthetic dataset: body resolution must be one of "
                         f"{', '.join(RESOLUTIONS)}; got {body_resolution!r}")
    if str(renderer).lower() not in RENDERER_NAMES:
        raise ValueError(f"synthetic dataset: renderer must be one of "
                         f"{', '.join(RENDERER_NAMES)}; got {renderer!r}")


def _images_per_camera_of(total: int, num_cams: int, generator: torch.Generator) -> list[int]:
    """``total`` images spread over ``num_cams`` cameras as evenly as possible, the cameras that
    get one more drawn at random."""
    counts = [total // num_cams] * num_cams
    for position in torch.randperm(num_cams, generator=generator)[:total % num_cams].tolist():
        counts[position] += 1
    return counts


def plan_images(num_ids: int, num_cameras: int, images_per_camera: int,
                generator: torch.Generator, num_train_ids: int | None = None,
                train_images: int = 0) -> ImagePlan:
    """Split identities into ``num_train_ids`` training ones (default: half) and test ones,
    give each >= 2 cameras, name the files.

    ``train_images`` > 0: the training identities get that many images in all instead of
    ``images_per_camera`` per camera, as evenly as possible (identities of the first ranks one
    more), each identity's spread evenly over its cameras (Market-1501: 12,936 images of 751
    identities, 17.2 each); an identity with fewer images than its drawn cameras keeps that
    many of them. Test identities keep ``images_per_camera``. With 0 the plan (and every random
    draw) is the same as without the argument."""
    check_settings(num_ids, num_cameras, images_per_camera, num_train_ids=num_train_ids,
                   train_images=train_images)
    order = torch.randperm(num_ids, generator=generator).tolist()
    num_train = num_ids // 2 if num_train_ids is None else int(num_train_ids)
    min_cams = max(2, (num_cameras + 1) // 2)
    rows = []
    for rank, ident in enumerate(order):
        subset_kind = "train" if rank < num_train else "test"
        pid = rank + 1
        count = int(torch.randint(min_cams, num_cameras + 1, (1,), generator=generator))
        cams = sorted(torch.randperm(num_cameras, generator=generator)[:count].tolist())
        per_camera = [images_per_camera] * len(cams)
        if subset_kind == "train" and train_images:
            total = train_images // num_train + (rank < train_images % num_train)
            cams = cams[:total]
            per_camera = _images_per_camera_of(total, len(cams), generator)
        for position, (cam, num_images) in enumerate(zip(cams, per_camera)):
            for k in range(num_images):
                if subset_kind == "train":
                    subset = "train"
                elif images_per_camera > 1:
                    subset = "query" if k == 0 else "gallery"
                else:  # one image per camera: queries in half of its cameras, gallery in the rest
                    subset = "query" if position < (count + 1) // 2 else "gallery"
                rows.append((ident, pid, cam, subset))
    # frame numbers increase per camera in a random order of appearance
    perm = torch.randperm(len(rows), generator=generator).tolist()
    rows = [rows[i] for i in perm]
    frames = [0] * num_cameras
    names = []
    for ident, pid, cam, subset in rows:
        frames[cam] += int(torch.randint(5, 60, (1,), generator=generator))
        names.append(f"{pid:04d}_c{cam + 1}s1_{frames[cam]:06d}_01.jpg")
    return ImagePlan(identity=np.array([r[0] for r in rows]), pid=np.array([r[1] for r in rows]),
                     camera=np.array([r[2] for r in rows]),
                     subset=np.array([r[3] for r in rows]), filename=np.array(names))


def _encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def _write_file(path: str, data: bytes) -> None:
    """Write one file of the dataset without a per-file fsync: the dataset's completion marker
    (written last) already guards against half-written output."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _write_map(cache: StructureMapCache, split: str, name: str, angle: int,
               array: np.ndarray) -> None:
    """Write one structure map in the cache layout."""
    path = cache.path(split, name, angle)
    _write_file(path, cache.encode(path, array))


def _ground_truth_batch(people: SyntheticPersonRenderer, plan: ImagePlan, lo: int, hi: int,
                        angles: Sequence[int], vertices: torch.Tensor, camera: torch.Tensor,
                        ident, background: torch.Tensor, profiles, cams: torch.Tensor,
                        device: torch.device) -> dict[int, np.ndarray] | None:
    """``{row in the batch: (A, H, W, 3) uint8}`` ground-truth novel views of the batch's
    training images (their people turned by ``angles``, same background, light and camera
    look, no sensor noise), or None when there are none to make."""
    rows = [j for j in range(hi - lo) if plan.subset[lo + j] == "train"]
    if not angles or not rows:
        return None
    index = torch.as_tensor(rows)
    on_dev = index.to(device)
    images, _ = people.render_rotated_people(
        vertices[on_dev], camera[on_dev], angles, ident.gather(index).to(device),
        background[index].to(device),
        profiles.light_dir[cams[index]].to(device), profiles.ambient[cams[index]].to(device))
    num_angles = len(angles)
    flat = images.cpu().flatten(0, 1)
    flat = apply_camera_effects(flat, profiles, cams[index].repeat_interleave(num_angles), None)
    pixels = _to_uint8(flat.permute(0, 2, 3, 1)).reshape(len(rows), num_angles,
                                                          *flat.shape[-2:], 3)
    return {j: pixels[k] for k, j in enumerate(rows)}


def check_output_folder(out_dir: str) -> None:
    """Raise :class:`ForeignFolderError` unless ``out_dir`` is absent, empty, or a synthetic
    dataset (complete, or being written by the generator: one of its markers is there)."""
    out_dir = os.fspath(out_dir)
    if not os.path.isdir(out_dir):
        if os.path.exists(out_dir):
            raise ForeignFolderError(f"synthetic dataset: {out_dir} is a file, not a folder")
        return
    entries = sorted(os.listdir(out_dir))
    writer = _running_writer(os.path.join(out_dir, IN_PROGRESS)) if IN_PROGRESS in entries else None
    if writer is not None:
        raise ForeignFolderError(
            f"synthetic dataset: {out_dir} is being written by another run of the generator "
            f"(pid {writer['pid']}, started {writer.get('started', '?')}); wait for it to end, "
            f"or delete {os.path.join(out_dir, IN_PROGRESS)} if that process is not the generator")
    if not entries or MARKER in entries or IN_PROGRESS in entries:
        return
    shown = [e + ("/" if os.path.isdir(os.path.join(out_dir, e)) else "") for e in entries[:6]]
    more = f" and {len(entries) - 6} more" if len(entries) > 6 else ""
    raise ForeignFolderError(
        f"synthetic dataset: refusing to write into {out_dir}: it holds {', '.join(shown)}{more} "
        f"but neither {MARKER} nor {IN_PROGRESS}, so the synthetic generator did not make it "
        "and nothing there is deleted; choose a new or empty folder (or remove those files "
        "yourself if they are what an older version of the generator left)")


def _running_writer(marker_path: str) -> dict | None:
    """The in-progress marker's record while its writer still runs on this host (another
    process), else None: an interrupted run, ours, or one that cannot be checked from here."""
    try:
        with open(marker_path, "r", encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    pid = record.get("pid") if isinstance(record, dict) else None
    if (not isinstance(pid, int) or pid == os.getpid() or os.name == "nt"
            or record.get("host") != socket.gethostname()):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return record


def _start_writing(out_dir: str, settings: dict) -> None:
    """Claim ``out_dir``: the in-progress marker first (so an interrupted run can be cleared),
    then delete what an earlier run of the generator wrote there (nothing else)."""
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, IN_PROGRESS), {
        "writer": "mesh.synthetic.make_synthetic_dataset (tools/make_synthetic.py)",
        "owns": [f + "/" for f in OWNED_FOLDERS] + list(OWNED_FILES),
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings})
    _remove_owned(out_dir)


def _remove_owned(out_dir: str) -> None:
    """Delete the generator's own entries of ``out_dir``, all but its in-progress marker (the
    completion marker first: the folder stops counting as complete at once)."""
    for name in (n for n in OWNED_FILES if n != IN_PROGRESS):
        path = os.path.join(out_dir, name)
        if os.path.lexists(path):
            os.unlink(path)
    for name in OWNED_FOLDERS:
        path = os.path.join(out_dir, name)
        if os.path.islink(path):  # a link to shared renders: drop the link, not its target
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)


@dataclass
class _Generation:
    """What every batch is drawn from (:func:`_prepare`); a rendering worker process starts
    from its own copy (forked, the seeded generator's state included)."""

    generator: torch.Generator
    plan: ImagePlan
    identities: object
    profiles: object
    body: object
    people: SyntheticPersonRenderer
    cache: StructureMapCache
    size: tuple[int, int]
    angles: tuple[int, ...]
    truth_angles: tuple[int, ...]
    device: torch.device


def _prepare(out_dir: str, settings: dict) -> _Generation:
    """The plan, the body model, the identities and the camera profiles of ``settings`` (the
    keyword arguments of :func:`make_synthetic_dataset`), drawn in a fixed order."""
    from ..body import build_body_model
    from ..body.anny_model import SHAPE_NAMES, SHAPE_RANGES

    dev = torch.device(settings["device"])
    size = (int(settings["image_size"][0]), int(settings["image_size"][1]))
    g = torch.Generator().manual_seed(int(settings["seed"]))
    angles = tuple(int(a) for a in settings["angles"])
    truth_angles = (tuple(a for a in angles if a != ORIGINAL_VIEW)
                    if settings["ground_truth_views"] else ())
    plan = plan_images(settings["num_ids"], settings["num_cameras"],
                       settings["images_per_camera"], g, settings["num_train_ids"],
                       train_images=int(settings["train_images"]))
    body = build_body_model("anny", device=str(dev), cache_dir=settings["cache_dir"],
                            resolution=settings["body_resolution"])
    mesh_renderer = build_renderer(settings["renderer"])
    identities = sample_identities(settings["num_ids"], [SHAPE_RANGES[n] for n in SHAPE_NAMES], g)
    profiles = sample_camera_profiles(settings["num_cameras"], size, g)
    return _Generation(g, plan, identities, profiles, body,
                       SyntheticPersonRenderer(body, mesh_renderer, size),
                       StructureMapCache(os.path.join(out_dir, "meshes"), size=size,
                                         angles=angles),
                       size, angles, truth_angles, dev)


def _render_batches(state: _Generation, out_dir: str, batch_size: int, worker: int = 0,
                    num_workers: int = 1, on_batch=None) -> tuple[np.ndarray, dict]:
    """Render and write batches ``worker``, ``worker + num_workers``, ... of the plan; the
    other batches only advance the generator by the same draws (their sensor noise included),
    so that every image gets the same random numbers whatever the number of workers.

    Returns ``(rows, records)``: the plan rows written and their per-image records (shape,
    pose, yaw, camera_params, scale). ``on_batch(count)`` is called after each written batch.
    """
    from ..body.poses import random_everyday_pose

    g, plan, people, profiles, dev = (state.generator, state.plan, state.people, state.profiles,
                                      state.device)
    size, angles, truth_angles = state.size, state.angles, state.truth_angles
    rows: list[np.ndarray] = []
    records: dict[str, list] = {k: [] for k in ("shape", "pose", "yaw", "camera_params", "scale")}
    for number, lo in enumerate(range(0, len(plan), batch_size)):
        hi = min(lo + batch_size, len(plan))
        idx = torch.as_tensor(plan.identity[lo:hi])
        cams = torch.as_tensor(plan.camera[lo:hi])
        batch = hi - lo
        # per-image draws (all from the one seeded generator, in a fixed order)
        pose = random_everyday_pose(state.body, batch, g)
        yaw = sample_yaws(profiles, cams, g)
        scale = 0.9 + 0.14 * torch.rand(batch, generator=g)
        shift = (torch.rand(batch, 2, generator=g) - 0.5) * torch.tensor([0.06, 0.04])
        background = crop_backgrounds(profiles, cams, size, g)
        if number % num_workers != worker:
            torch.randn((batch, 3, *size), generator=g)  # apply_camera_effects' sensor noise
            continue
        ident = state.identities.gather(idx)

        with _one_torch_thread():  # the same float32 sums in the main process and the workers
            vertices = people.pose_bodies(ident.shape.to(dev), pose.to(dev), yaw.to(dev))
            camera = people.frame(vertices, scale.to(dev), shift.to(dev))
        images, _ = people.render_people(vertices, camera, ident.to(dev), background.to(dev),
                                         profiles.light_dir[cams].to(dev),
                                         profiles.ambient[cams].to(dev))
        images = apply_camera_effects(images.cpu(), profiles, cams, g)
        maps = people.render_structure_views(vertices, camera, angles)
        truth = _ground_truth_batch(people, plan, lo, hi, truth_angles, vertices, camera, ident,
                                    background, profiles, cams, dev)

        pixels = _to_uint8(images.permute(0, 2, 3, 1))
        map_pixels = _to_uint8(maps)
        for j in range(batch):
            i = lo + j
            name, subset = str(plan.filename[i]), str(plan.subset[i])
            path = os.path.join(out_dir, SUBSET_FOLDERS[subset], name)
            with open(path, "wb") as handle:
                handle.write(_encode_jpeg(pixels[j]))
            for a, angle in enumerate(angles):
                _write_map(state.cache, MESH_SPLIT[subset], name, angle, map_pixels[j, a])
            if truth is not None and j in truth:
                for a, angle in enumerate(truth_angles):
                    _write_file(ground_truth_path(out_dir, name, angle),
                                _encode_jpeg(truth[j][a]))
        rows.append(np.arange(lo, hi))
        records["shape"].append(ident.shape.numpy())
        records["pose"].append(pose.cpu().numpy())
        records["yaw"].append(yaw.numpy())
        records["camera_params"].append(camera.cpu().numpy())
        records["scale"].append(scale.numpy())
        if on_batch is not None:
            on_batch(batch)
    if not rows:
        return np.zeros(0, np.int64), {}
    return np.concatenate(rows), {k: np.concatenate(v).astype(np.float32)
                                  for k, v in records.items()}


#: What a forked worker process renders from: (the generation state, the shared image counter).
_WORKER_INPUT: tuple | None = None


@contextlib.contextmanager
def _one_torch_thread():
    """Within the block torch runs on one CPU thread: the posed bodies and their cameras then
    come out bit-identical whether one process or several workers (one thread each) make them;
    with more threads the reduction order of some CPU kernels differs in the last bit, which the
    recorded camera parameters keep."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _render_shard(out_dir: str, batch_size: int, worker: int,
                  num_workers: int) -> tuple[np.ndarray, dict]:
    """One worker process: one torch thread (the workers share the cores), its batches, drawn
    from its copy of the parent's generation state."""
    state, counter = _WORKER_INPUT

    def count(images: int) -> None:
        with counter.get_lock():
            counter.value += images

    torch.set_num_threads(1)
    return _render_batches(state, out_dir, batch_size, worker, num_workers, count)


def _render_in_workers(state: _Generation, out_dir: str, batch_size: int, num_workers: int,
                       records: dict, bar) -> None:
    """Render the batches in ``num_workers`` forked processes (each writes its own files, each
    starts from a copy of ``state``) and gather their records into ``records``."""
    import multiprocessing

    global _WORKER_INPUT
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    _WORKER_INPUT = (state, counter)
    try:
        with context.Pool(num_workers) as pool:
            pending = pool.starmap_async(_render_shard, [(out_dir, batch_size, w, num_workers)
                                                         for w in range(num_workers)])
            shown = 0
            while not pending.ready():
                pending.wait(0.5)
                if bar is not None and counter.value > shown:
                    bar.update(counter.value - shown)
                    shown = counter.value
            results = pending.get()  # re-raises a worker's error
    finally:
        _WORKER_INPUT = None
    if bar is not None and counter.value > shown:
        bar.update(counter.value - shown)
    for rows, values in results:
        for key, array in values.items():
            records[key][rows] = array


def make_synthetic_dataset(out_dir: str, num_ids: int = 100, num_cameras: int = 6,
                           images_per_camera: int = 2, seed: int = 0, preview: bool = False,
                           image_size: tuple[int, int] = (256, 128), device: str = "cpu",
                           batch_size: int = 32, body_resolution: str = DEFAULT_BODY_RESOLUTION,
                           renderer: str = "auto", cache_dir: str | None = None,
                           progress: bool = True, angles: Sequence[int] = VIEW_ANGLES,
                           num_train_ids: int | None = None,
                           ground_truth_views: bool = True, train_images: int = 0,
                           workers: int = 1) -> dict:
    """Generate the dataset in ``out_dir`` (see the module doc); returns a summary dict.

    ``angles``: the viewpoints of the structure maps (the original view 0 first by convention).
    ``num_train_ids``: training identities among the ``num_ids`` (default: half); test images
    are only embedded, so a large test split is cheap. ``train_images``: the training images in
    all, spread evenly over the training identities and their cameras (0: ``images_per_camera``
    per identity and camera; see :func:`plan_images`). ``ground_truth_views``: also render every
    training person at each non-zero angle with full appearance (evaluation only; they are
    drawn without random numbers, so the rest of the dataset is the same with or without them).
    ``workers`` > 1: render in that many forked processes of one torch thread each (CPU, POSIX;
    the small per-batch operations of the renderer keep several torch threads of one process
    waiting on each other, so processes use the cores better); the files are the same as with
    one worker.

    Every setting is checked, and ``out_dir`` must be new, empty or a synthetic dataset
    (:func:`check_output_folder`), before anything in it is deleted or written.
    """
    start = time.perf_counter()
    cpu_start = time.process_time()
    out_dir = os.fspath(out_dir)
    check_settings(num_ids, num_cameras, images_per_camera, image_size, batch_size,
                   body_resolution, renderer, num_train_ids, train_images)
    if int(workers) < 1:
        raise ValueError(f"synthetic dataset: workers must be >= 1; got {workers}")
    if int(workers) > 1 and (torch.device(device).type != "cpu" or os.name != "posix"):
        raise ValueError(f"synthetic dataset: several workers render on the CPU of a POSIX "
                         f"system only (forked processes); got workers {workers} with device "
                         f"{device!r} on {os.name} (use workers 1 there)")
    check_output_folder(out_dir)
    size = (int(image_size[0]), int(image_size[1]))
    settings = {"num_ids": num_ids, "num_cameras": num_cameras,
                "images_per_camera": images_per_camera, "seed": int(seed), "image_size": size,
                "device": str(device), "body_resolution": body_resolution, "renderer": renderer,
                "cache_dir": cache_dir, "angles": tuple(int(a) for a in angles),
                "num_train_ids": num_train_ids, "ground_truth_views": bool(ground_truth_views),
                "train_images": int(train_images)}
    state = _prepare(out_dir, settings)
    plan, body, identities, profiles = state.plan, state.body, state.identities, state.profiles
    angles, truth_angles = state.angles, state.truth_angles
    from ..body.anny_model import SHAPE_NAMES

    num_train = int((plan.subset == "train").sum())
    train_ids = int(len(set(plan.pid[plan.subset == "train"].tolist())))
    _start_writing(out_dir, {"num_ids": num_ids, "train_ids": train_ids,
                             "num_cameras": num_cameras,
                             "images_per_camera": images_per_camera,
                             "train_images_setting": int(train_images), "seed": int(seed),
                             "image_size": list(size), "body_resolution": body_resolution})
    for folder in SUBSET_FOLDERS.values():
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)

    n = len(plan)
    records = {"shape": np.zeros((n, identities.shape.shape[1]), np.float32),
               "pose": np.zeros((n, body.pose_dim), np.float32),
               "yaw": np.zeros(n, np.float32), "camera_params": np.zeros((n, 3), np.float32),
               "scale": np.zeros(n, np.float32)}
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=n, desc="synthetic people", unit="img")
        except ImportError:  # pragma: no cover
            bar = None
    workers = min(int(workers), -(-n // batch_size))
    if workers > 1:
        _render_in_workers(state, out_dir, batch_size, workers, records, bar)
    else:
        rows, values = _render_batches(state, out_dir, batch_size,
                                       on_batch=bar.update if bar is not None else None)
        for key, array in values.items():
            records[key][rows] = array
    if bar is not None:
        bar.close()

    buffer = io.BytesIO()
    np.savez_compressed(buffer, filename=plan.filename, pid=plan.pid, camera=plan.camera + 1,
                        subset=plan.subset, **records)
    atomic_write_bytes(os.path.join(out_dir, "annotations.npz"), buffer.getvalue())
    pid_of = {int(plan.identity[i]): int(plan.pid[i]) for i in range(n)}
    meta = {
        "description": "procedural people rendered from the Anny body model; Market-1501 layout",
        "shape_names": list(SHAPE_NAMES), "body_model": f"anny ({body_resolution})",
        "pose": f"axis-angle, {body.pose_dim // 3} bones x 3 (AnnyBody.joint_names)",
        "camera_params": "weak perspective [s, tx, ty] (mesh.camera)",
        "structure_angles": list(angles),
        "identities": {str(pid_of[i]): identities.describe(i) for i in sorted(pid_of)},
        "cameras": {str(c + 1): profiles.describe(c) for c in range(num_cameras)},
    }
    atomic_write_json(os.path.join(out_dir, "annotations.json"), meta)
    elapsed = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # this process only, not its workers
    counts = {s: int((plan.subset == s).sum()) for s in SUBSET_FOLDERS}
    summary = {
        "out_dir": out_dir, "num_ids": num_ids, "num_cameras": num_cameras,
        "images_per_camera": images_per_camera, "train_images_setting": int(train_images),
        "seed": int(seed), "image_size": list(size), "body_resolution": body_resolution,
        "images": n, "train_ids": int(len(set(plan.pid[plan.subset == "train"].tolist()))),
        "test_ids": int(len(set(plan.pid[plan.subset != "train"].tolist()))),
        **{f"{s}_images": c for s, c in counts.items()},
        "structure_maps": n * len(angles),
        "ground_truth_views": num_train * len(truth_angles),
        "ground_truth_angles": list(truth_angles),
        "seconds": round(elapsed, 2), "images_per_s": round(n / max(elapsed, 1e-9), 2),
        "workers": workers,
        # CPU time of this process (all threads; without its workers): on a machine shared
        # with other jobs the wall clock overstates the cost
        "cpu_seconds": round(cpu_seconds, 2),
    }
    if preview:
        summary["preview"] = write_preview(out_dir, plan, state.cache)
    # the marker is written last: its presence means the dataset is complete
    marker = {k: summary[k] for k in ("num_ids", "train_ids", "num_cameras", "images_per_camera",
                                      "train_images_setting", "seed", "image_size",
                                      "body_resolution", "images", "ground_truth_angles")}
    atomic_write_json(os.path.join(out_dir, MARKER), marker)
    os.unlink(os.path.join(out_dir, IN_PROGRESS))
    _logger.info("synthetic dataset: %d images of %d identities in %d cameras -> %s (%.1f s)",
                 n, num_ids, num_cameras, out_dir, elapsed)
    return summary


def synthetic_dataset_dir(root: str) -> str:
    """Where the synthetic dataset lives for ``DATASETS.ROOT`` = ``root``: ``root`` itself when
    it holds the dataset or is named ``synthetic``, else ``<root>/synthetic`` (as the reader)."""
    root = os.fspath(root)
    if os.path.exists(os.path.join(root, MARKER)) or os.path.basename(
            os.path.normpath(root)) == "synthetic":
        return root
    return os.path.join(root, "synthetic")


#: Marker entries that older datasets lack, with the value they were made with; they are
#: compared even when ``expected`` leaves them out (then with this value): a training-image
#: total changes every file of the set.
_MARKER_DEFAULTS = {"train_images_setting": 0}


def is_complete(out_dir: str, expected: dict | None = None) -> bool:
    """True when ``out_dir`` holds a finished dataset (made with ``expected`` settings; the
    training-image total ``train_images_setting`` is 0 where the marker or ``expected`` has
    none)."""
    path = os.path.join(out_dir, MARKER)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "r", encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return False
    expected = {**_MARKER_DEFAULTS, **(expected or {})}
    return all(marker.get(k, _MARKER_DEFAULTS.get(k)) == v for k, v in expected.items())
