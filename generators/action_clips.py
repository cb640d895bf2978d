"""Synthetic labelled human-action clips animated from the mesh subsystem's body model.

Eight actions (Weizmann-like): walk, run, wave one hand, wave two hands, bend, jump, jumping jack,
side step. Every clip draws a body shape, clothing colours, a background (gradient + stripes +
noise), a light direction, a viewing yaw, a camera scale / offset and a motion speed and phase
from one seeded generator, so the data set is identical for the same seed. The 32 poses of a clip
go through the body model and the renderer in one batched call each.

Written layout (the ``frames`` layout of :mod:`generators.video_dataset`)::

    OUT/<action>_<k:04d>/frame_00.png .. frame_31.png
    OUT/labels.csv        clip,label      (label = action name)
    OUT/classes.txt       the action names in label order
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from common.io import atomic_write_text

ACTIONS: tuple[str, ...] = ("walk", "run", "wave_one_hand", "wave_two_hands", "bend", "jump",
                            "jumping_jack", "side_step")
NUM_FRAMES = 32
IMAGE_SIZE = 64

_ARMS_DOWN = 0.55  # lowers Anny's A-pose arms to hang beside the body (mesh.body.poses)


def _rot(angle: torch.Tensor, axis: str) -> torch.Tensor:
    from mesh.body.transforms import rotation_about_axis

    return rotation_about_axis(angle, axis)


def _aa(matrix: torch.Tensor) -> torch.Tensor:
    from mesh.body.transforms import matrix_to_axis_angle

    return matrix_to_axis_angle(matrix)


def _about(angle: torch.Tensor, axis: str) -> torch.Tensor:
    out = torch.zeros(angle.shape[0], 3)
    out[:, "xyz".index(axis)] = angle
    return out


def _shoulder(lower: torch.Tensor, swing: torch.Tensor, side: int) -> torch.Tensor:
    """Lower the arm towards the body by ``lower`` (negative raises it sideways), then swing it
    forward (``swing`` < 0) or back about x. ``side`` +1 = left, -1 = right."""
    return _aa(_rot(swing, "x") @ _rot(-side * lower, "z"))


def action_motion(action: str, t: torch.Tensor, speed: float, phase: float,
                  amplitude: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Bone rotations {name: (T, 3)} and a root offset (T, 3) in metres (body frame) for frame
    times ``t`` in [0, 1)."""
    n = t.shape[0]
    zero = torch.zeros(n)
    w = 2 * math.pi * speed * t + phase
    s, c = torch.sin(w), torch.cos(w)
    arms_down = torch.full((n,), _ARMS_DOWN)
    rot: dict[str, torch.Tensor] = {}
    offset = torch.zeros(n, 3)
    if action in ("walk", "run"):
        running = action == "run"
        hip = (0.6 if running else 0.45) * amplitude * s
        rot["upperleg01.L"] = _about(-hip, "x")
        rot["upperleg01.R"] = _about(hip, "x")
        knee = (0.9 if running else 0.45) * amplitude
        rot["lowerleg01.L"] = _about(knee * torch.relu(-c), "x")
        rot["lowerleg01.R"] = _about(knee * torch.relu(c), "x")
        arm = (0.6 if running else 0.35) * amplitude * s
        rot["upperarm01.L"] = _shoulder(arms_down, arm, +1)
        rot["upperarm01.R"] = _shoulder(arms_down, -arm, -1)
        elbow = torch.full((n,), -1.2 if running else -0.2)
        rot["lowerarm01.L"] = _about(elbow, "x")
        rot["lowerarm01.R"] = _about(elbow, "x")
        rot["spine03"] = _about(torch.full((n,), 0.2 if running else 0.03), "x")
        offset[:, 2] = (0.9 if running else 0.5) * (t - 0.5) * speed
        offset[:, 1] = (0.05 if running else 0.015) * (2 * s).abs()
    elif action in ("wave_one_hand", "wave_two_hands"):
        wave = 0.5 * amplitude * s
        rot["upperarm01.R"] = _shoulder(torch.full((n,), -1.5), zero, -1)
        rot["lowerarm01.R"] = _about(-wave - 0.3, "z")
        if action == "wave_two_hands":
            rot["upperarm01.L"] = _shoulder(torch.full((n,), -1.5), zero, +1)
            rot["lowerarm01.L"] = _about(wave + 0.3, "z")
        else:
            rot["upperarm01.L"] = _shoulder(arms_down, zero, +1)
    elif action == "bend":
        bend = 0.45 * amplitude * (1 - c) / 2 * 2
        for bone in ("spine04", "spine03", "spine02"):
            rot[bone] = _about(bend / 3 * 1.5, "x")
        rot["upperarm01.L"] = _shoulder(arms_down, -bend * 0.8, +1)
        rot["upperarm01.R"] = _shoulder(arms_down, -bend * 0.8, -1)
    elif action == "jump":
        cycle = (w / (2 * math.pi)) % 1.0
        crouch = torch.clamp(1 - 4 * cycle, min=0) + torch.clamp(4 * cycle - 3, min=0)
        air = torch.sin(math.pi * torch.clamp((cycle - 0.25) / 0.5, 0, 1))
        rot["upperleg01.L"] = _about(-0.7 * crouch, "x")
        rot["upperleg01.R"] = _about(-0.7 * crouch, "x")
        rot["lowerleg01.L"] = _about(1.2 * crouch, "x")
        rot["lowerleg01.R"] = _about(1.2 * crouch, "x")
        arm = -0.9 * air * amplitude
        rot["upperarm01.L"] = _shoulder(arms_down, arm, +1)
        rot["upperarm01.R"] = _shoulder(arms_down, arm, -1)
        offset[:, 1] = 0.35 * amplitude * air - 0.15 * crouch
    elif action == "jumping_jack":
        open_ = (1 - c) / 2 * amplitude
        lower = _ARMS_DOWN - 2.3 * open_
        rot["upperarm01.L"] = _shoulder(lower, zero, +1)
        rot["upperarm01.R"] = _shoulder(lower, zero, -1)
        rot["upperleg01.L"] = _about(0.35 * open_, "z")
        rot["upperleg01.R"] = _about(-0.35 * open_, "z")
        offset[:, 1] = 0.06 * (2 * s).abs()
    elif action == "side_step":
        step = (1 - c) / 2 * amplitude
        rot["upperleg01.L"] = _about(0.3 * step, "z")
        rot["upperleg01.R"] = _about(-0.15 * step, "z")
        rot["upperarm01.L"] = _shoulder(arms_down, zero, +1)
        rot["upperarm01.R"] = _shoulder(arms_down, zero, -1)
        offset[:, 0] = 0.6 * (t - 0.5) * speed + 0.1 * step
    else:
        raise ValueError(f"unknown action '{action}'; expected one of {', '.join(ACTIONS)}")
    return rot, offset


def _frame_size(image_size) -> tuple[int, int]:
    """(H, W) from an int (square) or a pair."""
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = (int(v) for v in image_size)
    return height, width


def _background(gen: torch.Generator, height: int, width: int) -> torch.Tensor:
    """(3, H, W): a two-colour vertical gradient, soft stripes (walls / floor line) and noise."""
    top, bottom = torch.rand(3, generator=gen), torch.rand(3, generator=gen)
    ramp = torch.linspace(0, 1, height)[:, None]
    image = top[:, None, None] * (1 - ramp) + bottom[:, None, None] * ramp
    image = image.expand(3, height, width).clone()
    period = 4 + int(torch.randint(0, 12, (1,), generator=gen))
    stripes = (torch.arange(width) // period % 2).float()
    image += 0.08 * stripes[None, None, :] * (torch.rand(1, generator=gen) < 0.5)
    floor = int(height * (0.75 + 0.15 * float(torch.rand(1, generator=gen))))
    image[:, floor:] *= 0.7 + 0.3 * float(torch.rand(1, generator=gen))
    image += 0.03 * torch.randn(3, height, width, generator=gen)
    return image.clamp(0, 1)


def _part_colours(body, gen: torch.Generator) -> torch.Tensor:
    """(V, 3) colours: skin (head, hands), shirt (torso, arms), trousers (legs), shoes (feet)."""
    parts = list(body.part_names())
    skin = torch.tensor([0.95, 0.8, 0.65]) * (0.45 + 0.55 * torch.rand(1, generator=gen))
    shirt, trousers = torch.rand(3, generator=gen), torch.rand(3, generator=gen) * 0.8
    shoes = torch.rand(3, generator=gen) * 0.3
    sleeve = shirt if float(torch.rand(1, generator=gen)) < 0.6 else skin
    table = {"head": skin, "hand": skin, "torso": shirt, "upper_arm": shirt, "lower_arm": sleeve,
             "upper_leg": trousers, "lower_leg": trousers, "foot": shoes}
    palette = torch.stack([table.get(name, shirt) for name in parts])
    return palette[body.part_labels.long().cpu()]


def render_action_clip(body, action: str, gen: torch.Generator, num_frames: int = NUM_FRAMES,
                       image_size=IMAGE_SIZE) -> torch.Tensor:
    """One clip: (T, 3, H, W) float in [0, 1]; ``image_size`` an int (square) or (H, W)."""
    height, width = _frame_size(image_size)
    from mesh.camera import fit_camera
    from mesh.render import render_colored

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand(1, generator=gen))

    t = torch.arange(num_frames) / num_frames
    speed = uniform(1.0, 2.0) if action != "run" else uniform(2.0, 3.0)
    if action in ("walk", "run", "side_step"):
        speed = max(1.0, round(speed))
    rotations, offset = action_motion(action, t, speed, uniform(0, 2 * math.pi),
                                      uniform(0.8, 1.2))
    from mesh.body.anny_model import SHAPE_RANGES

    controls = {name: uniform(*SHAPE_RANGES[name]) for name in SHAPE_RANGES}
    shape = body.shape_from_controls(1, **controls)
    pose = body.pose_from_rotations(rotations, batch=num_frames)
    with torch.no_grad():
        out = body(pose=pose, shape=shape.expand(num_frames, -1))
    if action in ("walk", "run"):
        yaw = math.copysign(math.pi / 2, uniform(-1, 1)) + uniform(-0.35, 0.35)
    else:
        yaw = uniform(-0.5, 0.5)
    turn = _rot(torch.tensor([yaw]), "y")[0]
    vertices = (out.vertices + offset[:, None, :].to(out.vertices)) @ turn.T.to(out.vertices)
    whole = vertices.reshape(1, -1, 3)
    camera = fit_camera(whole, (height, width), fill=uniform(0.7, 0.85))
    camera[:, 1] += uniform(-0.15, 0.15)
    camera[:, 2] += uniform(-0.05, 0.05)
    colours = _part_colours(body, gen)
    light = torch.tensor([uniform(-0.6, 0.6), uniform(0.2, 0.8), 1.0])
    images, _ = render_colored(vertices, out.faces, colours.to(vertices),
                               camera.expand(num_frames, -1), (height, width),
                               background=_background(gen, height, width),
                               light_dir=light / light.norm(), ambient=uniform(0.35, 0.6))
    return images.clamp(0, 1)


def make_action_clips(out_dir: str, clips_per_action: int = 8, seed: int = 0,
                      num_frames: int = NUM_FRAMES, image_size=IMAGE_SIZE,
                      body=None, actions: tuple[str, ...] = ACTIONS, progress: bool = True
                      ) -> list[str]:
    """Write ``clips_per_action`` clips of every action below ``out_dir``; returns clip names.
    ``image_size``: an int (square frames) or (H, W), e.g. (128, 64) for person-crop frames."""
    from .video_io import write_image

    if body is None:
        from mesh.body import build_body_model

        body = build_body_model("anny", resolution="lowest")
    names: list[str] = []
    rows = ["clip,label"]
    jobs = [(a, k) for k in range(clips_per_action) for a in actions]
    iterator = jobs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(jobs, desc="action clips", dynamic_ncols=True)
    for action, k in iterator:
        # one generator per clip: a clip does not depend on how many others are made
        gen = torch.Generator().manual_seed(seed * 1_000_003 + ACTIONS.index(action) * 10_007 + k)
        clip = render_action_clip(body, action, gen, num_frames, image_size)
        frames = (clip.permute(0, 2, 3, 1) * 255).round().byte().numpy()
        name = f"{action}_{k:04d}"
        for index, frame in enumerate(frames):
            write_image(os.path.join(out_dir, name, f"frame_{index:02d}.png"), frame)
        names.append(name)
        rows.append(f"{name},{action}")
    # every action name, so label indices do not depend on which actions were written
    atomic_write_text(os.path.join(out_dir, "classes.txt"), "\n".join(ACTIONS) + "\n")
    atomic_write_text(os.path.join(out_dir, "labels.csv"), "\n".join(rows) + "\n")
    return names


def ensure_action_clips(out_dir: str, clips_per_action: int = 8, seed: int = 0,
                        image_size=IMAGE_SIZE) -> str:
    """Build the clips under ``out_dir`` (frames of ``image_size``) unless its labels.csv
    already exists."""
    if not os.path.isfile(os.path.join(out_dir, "labels.csv")):
        make_action_clips(out_dir, clips_per_action, seed, image_size=image_size)
    return out_dir


def clip_array(folder: str) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one written clip."""
    from .video_io import read_frames_folder

    return read_frames_folder(folder)
