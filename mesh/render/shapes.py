"""Analytic test meshes (outward-wound, counter-clockwise seen from outside): cube, icosphere, box."""
from __future__ import annotations

import torch

_CUBE_CORNERS = [[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)]


def box_mesh(size=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """An axis-aligned box: (8, 3) vertices and (12, 3) outward-wound faces."""
    corners = torch.tensor(_CUBE_CORNERS) * (torch.tensor(size) / 2) + torch.tensor(centre)
    # corner index = 4*ix + 2*iy + iz
    quads = [(0, 1, 3, 2), (4, 6, 7, 5),  # x = -1, x = +1
             (0, 4, 5, 1), (2, 3, 7, 6),  # y = -1, y = +1
             (0, 2, 6, 4), (1, 5, 7, 3)]  # z = -1, z = +1
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    return corners.float(), torch.tensor(faces, dtype=torch.long)


def cube_mesh(side: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A cube of edge ``side`` centred at the origin."""
    return box_mesh((side, side, side))


def icosphere(subdivisions: int = 3, radius: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A geodesic sphere: 20 * 4**subdivisions outward-wound faces."""
    t = (1.0 + 5 ** 0.5) / 2.0
    verts = torch.tensor([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
                          [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                          [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=torch.float64)
    faces = torch.tensor([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
                          [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
                          [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
                          [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    verts = torch.nn.functional.normalize(verts, dim=-1)
    for _ in range(subdivisions):
        edges = torch.cat((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]), dim=0)
        edges_sorted = edges.sort(dim=1).values
        unique, inverse = torch.unique(edges_sorted, dim=0, return_inverse=True)
        mids = torch.nn.functional.normalize(verts[unique[:, 0]] + verts[unique[:, 1]], dim=-1)
        mid_index = inverse.view(3, -1) + verts.shape[0]  # (3, F): mids of edges 01, 12, 20
        verts = torch.cat((verts, mids), dim=0)
        a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
        ab, bc, ca = mid_index[0], mid_index[1], mid_index[2]
        faces = torch.cat((torch.stack((a, ab, ca), 1), torch.stack((b, bc, ab), 1),
                           torch.stack((c, ca, bc), 1), torch.stack((ab, bc, ca), 1)), dim=0)
    return (verts * radius).float(), faces.long()
