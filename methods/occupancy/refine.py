"""Mesh refinement, the paper's optional last step: pull vertices onto the level set of the
network and turn face normals towards the field's gradient, by gradient descent on the vertices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from methods.occupancy.mise import Mesh
from methods.occupancy.models import GridDecoder, OccupancyModel

# Points (N, 3) -> logits (N,), differentiable with respect to the points.
TorchField = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RefineConfig:
    """Per step, one random point on each of `faces_per_step` random faces (the paper takes
    every face of a mesh first simplified to 5,000; sampling keeps a step's cost fixed without
    a simplifier); loss = mean (sigmoid(f(p)) - tau)^2 +
    `normal_weight` * mean |n_face - grad f / |grad f||^2. Marching cubes winds the faces so
    that (b - a) x (c - a) points up the field (inwards), as the gradient does. The paper
    optimises the same two terms."""

    steps: int = 30
    lr: float = 1e-4
    normal_weight: float = 0.01
    faces_per_step: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps: expected 0 or more, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive rate, got {self.lr}")
        if self.faces_per_step < 1:
            raise ValueError(f"faces_per_step: expected at least 1, got {self.faces_per_step}")
        if self.normal_weight < 0:
            raise ValueError(f"normal_weight: expected 0 or more, got {self.normal_weight}")


def model_field(model: OccupancyModel, inputs: torch.Tensor) -> TorchField:
    """The network's logit field for one observation, differentiable in the points."""
    if isinstance(model.decoder, GridDecoder):
        raise ValueError("model: the 32^3 grid baseline has no continuous field to refine on")
    model.eval()
    with torch.no_grad():
        c = model.encode(inputs.unsqueeze(0))
    return lambda points: model.decode(points.unsqueeze(0), c)[0]


def refine_mesh(
    mesh: Mesh, field: TorchField, threshold: float, config: RefineConfig | None = None
) -> Mesh:
    """A copy of `mesh` whose vertices were moved by `config.steps` Adam steps (faces kept)."""
    config = config or RefineConfig()
    if not 0 < threshold < 1:
        raise ValueError(f"threshold: expected a probability in (0, 1), got {threshold}")
    generator = torch.Generator().manual_seed(config.seed)
    vertices = torch.tensor(mesh.vertices, dtype=torch.float32, requires_grad=True)
    faces = torch.as_tensor(mesh.faces, dtype=torch.long)
    optimizer = torch.optim.Adam([vertices], lr=config.lr)
    for _ in range(config.steps):
        chosen = faces[torch.randint(len(faces), (config.faces_per_step,), generator=generator)]
        a, b, c = (vertices[chosen[:, i]] for i in range(3))
        u, v = torch.rand(2, len(chosen), 1, generator=generator)
        flip = u + v > 1  # fold the square onto the triangle: uniform on the face
        u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
        points = a + u * (b - a) + v * (c - a)
        logits = field(points)
        level_loss = ((torch.sigmoid(logits) - threshold) ** 2).mean()
        (gradient,) = torch.autograd.grad(logits.sum(), points, retain_graph=True)
        target = gradient / gradient.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        normal = torch.linalg.cross(b - a, c - a)
        normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        normal_loss = ((normal - target.detach()) ** 2).sum(-1).mean()
        loss = level_loss + config.normal_weight * normal_loss
        # Gradients for the vertices only: the network's own .grad stays untouched.
        (vertices.grad,) = torch.autograd.grad(loss, [vertices])
        optimizer.step()
    refined = vertices.detach().numpy().astype(np.float32)
    if not np.isfinite(refined).all():
        raise FloatingPointError("refine_mesh: vertices became NaN or infinite; lower lr")
    return Mesh(refined, mesh.faces.copy())
