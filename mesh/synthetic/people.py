"""Render batches of synthetic people: posed body meshes, procedural clothes per pixel, lighting
and backgrounds, plus the structure maps of each image at its viewpoints (default
:data:`mesh.rotation.VIEW_ANGLES`)."""
from __future__ import annotations


import torch

from ..body.base import BodyModel
from ..camera import fit_camera
from ..render import MeshRenderer
from ..rotation import VIEW_ANGLES, rotate_about_vertical, rotate_views
from ..render.shading import face_normals, interpolate_visible, vertex_normals
from .appearance import Identities, paint

# Fraction of the image height the body spans before the per-image scale jitter.
BODY_FILL = 0.86


class SyntheticPersonRenderer:
    """Turns (identity, pose, yaw, framing) into images and structure maps, batched."""

    def __init__(self, body: BodyModel, renderer: MeshRenderer,
                 image_size: tuple[int, int] = (256, 128)):
        self.body = body
        self.renderer = renderer
        self.image_size = (int(image_size[0]), int(image_size[1]))
        with torch.no_grad():
            pose, shape = body.neutral(1)
            rest = body(pose=pose, shape=shape)
        self.faces = rest.faces
        # Pattern coordinates: each vertex's position on the neutral rest-pose template.
        self.template = rest.vertices[0]
        parts = getattr(body, "part_labels", None)
        if parts is None:
            parts = torch.zeros(self.template.shape[0], dtype=torch.long,
                                device=self.template.device)
        self.face_parts = parts[self.faces[:, 0]]

    @torch.no_grad()
    def pose_bodies(self, shape: torch.Tensor, pose: torch.Tensor, yaw: torch.Tensor
                    ) -> torch.Tensor:
        """(B, V, 3) posed bodies turned by ``yaw`` degrees (0 = facing the camera)."""
        out = self.body(pose=pose, shape=shape).check("synthetic body")
        return rotate_about_vertical(out.vertices, yaw, per_body=True)

    def frame(self, vertices: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor
              ) -> torch.Tensor:
        """(B, 3) weak-perspective cameras: fit the body, jitter its size and position.

        ``scale`` (B,) multiplies the fill; ``shift`` (B, 2) moves the body by that fraction of
        the image height (x right, y up).
        """
        cam = fit_camera(vertices, self.image_size, fill=BODY_FILL)
        s = cam[:, 0] * scale
        t = cam[:, 1:] + shift * 2.0 / s[:, None]
        return torch.cat((s[:, None], t), dim=1)

    @torch.no_grad()
    def render_people(self, vertices: torch.Tensor, camera: torch.Tensor, ident: Identities,
                      background: torch.Tensor, light_dir: torch.Tensor,
                      ambient: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clothed people over ``background`` (B, 3, H, W): ``(images, masks)`` in [0, 1].

        ``ident`` holds one identity row per image; ``light_dir`` (B, 3); ``ambient`` (B,).
        """
        faces = self.faces
        frags = self.renderer.fragments(vertices, faces, camera, self.image_size)
        batch, height, width = frags.face_index.shape
        normals = vertex_normals(vertices, faces, face_normals(vertices, faces))
        template = self.template[None].expand(batch, -1, -1)
        pix, values = interpolate_visible(frags, torch.cat((normals, template), dim=-1), faces)
        item = torch.div(pix, height * width, rounding_mode="floor")
        parts = self.face_parts[frags.face_index.reshape(-1)[pix]]
        albedo = paint(values[:, 3:], parts, ident.gather(item))
        n = torch.nn.functional.normalize(values[:, :3], dim=-1, eps=1e-12)
        light = torch.nn.functional.normalize(light_dir, dim=-1)[item]
        lambert = (n * light).sum(-1).clamp_min(0.0)
        amb = ambient[item]
        rgb = albedo * (amb + (1.0 - amb) * lambert)[:, None]
        images = background.permute(0, 2, 3, 1).reshape(-1, 3).clone()
        images[pix] = rgb.clamp(0.0, 1.0)
        images = images.view(batch, height, width, 3).permute(0, 3, 1, 2).contiguous()
        return images, frags.mask

    @torch.no_grad()
    def render_structure_views(self, vertices: torch.Tensor, camera: torch.Tensor,
                               angles=VIEW_ANGLES, chunk: int = 64) -> torch.Tensor:
        """(B, A, H, W) structure maps of each body rotated by each angle about the vertical
        axis through its centre (:func:`mesh.rotation.rotate_views`: camera fixed, its scale
        reduced only where a rotated body would leave the frame)."""
        batch = vertices.shape[0]
        num_angles = len(angles)
        views, cams = rotate_views(vertices, camera, angles, self.image_size)
        views = views.reshape(batch * num_angles, -1, 3)
        cams = cams.reshape(batch * num_angles, 3)
        maps = [self.renderer.render_structure_maps(views[i:i + chunk], self.faces,
                                                    cams[i:i + chunk], self.image_size)
                for i in range(0, views.shape[0], chunk)]
        return torch.cat(maps)[:, 0].view(batch, num_angles, *self.image_size)

    @torch.no_grad()
    def render_rotated_people(self, vertices: torch.Tensor, camera: torch.Tensor, angles,
                              ident: Identities, background: torch.Tensor,
                              light_dir: torch.Tensor, ambient: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The clothed people of :meth:`render_people` turned by each of ``angles`` exactly as
        :meth:`render_structure_views` turns them (same rotation, same camera refit), over the
        same backgrounds and lights: ``(B, A, 3, H, W)`` images and ``(B, A, H, W)`` masks."""
        batch, num_angles = vertices.shape[0], len(angles)
        views, cams = rotate_views(vertices, camera, angles, self.image_size)
        flat = views.reshape(batch * num_angles, -1, 3)
        rows = torch.arange(batch, device=vertices.device).repeat_interleave(num_angles)
        images, masks = self.render_people(
            flat, cams.reshape(batch * num_angles, 3), ident.gather(rows),
            background[rows], light_dir[rows], ambient[rows])
        height, width = self.image_size
        return (images.view(batch, num_angles, 3, height, width),
                masks.view(batch, num_angles, height, width))


__all__ = ["SyntheticPersonRenderer"]
