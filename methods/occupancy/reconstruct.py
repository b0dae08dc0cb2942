"""From an observation to a mesh (MISE + marching cubes, or the baseline's grid) and its scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from methods.occupancy.metrics import N_POINTS, Scores, scores
from methods.occupancy.mise import Field, Grid, Mesh, extract_mesh, logit, mise
from methods.occupancy.models import GridDecoder, OccupancyModel
from methods.occupancy.refine import RefineConfig, model_field, refine_mesh
from methods.occupancy.shapes import Shape, uniform_points

THRESHOLD = 0.2  # the paper's tau in every conditional configuration


@dataclass
class Reconstruction:
    grid: Grid
    level: float  # the threshold in the grid's units (logits)
    order: int  # how the grid is read at points: 1 trilinear (MISE), 0 nearest cell (baseline)
    mesh: Mesh | None  # None when nothing crosses the threshold
    seconds: float = 0.0

    def inside(self, points: np.ndarray) -> np.ndarray:
        return self.grid.interpolate(points, self.order) > self.level


def network_field(model: OccupancyModel, inputs: torch.Tensor) -> Field:
    """The logit field of `model` for one observation (no batch axis), as a NumPy function."""
    model.eval()
    with torch.no_grad():
        c = model.encode(inputs.unsqueeze(0))

    def field(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            p = torch.from_numpy(np.ascontiguousarray(points, np.float32)).unsqueeze(0)
            return model.decode(p, c)[0].numpy()

    return field


def reconstruct(
    model: OccupancyModel,
    inputs: torch.Tensor,
    threshold: float = THRESHOLD,
    resolution0: int = 32,
    upsampling_steps: int = 2,
    refine: RefineConfig | None = None,
) -> Reconstruction:
    """A mesh for one observation: MISE for the occupancy network, the 32^3 grid itself for
    the baseline; marching cubes at logit(threshold) in both cases; then, with `refine`, the
    occupancy network's mesh is refined on its field (the baseline has none to refine on)."""
    import time

    started = time.perf_counter()
    level = logit(threshold)
    model.eval()
    if isinstance(model.decoder, GridDecoder):
        decoder = model.decoder
        with torch.no_grad():
            values = decoder.grid(model.encode(inputs.unsqueeze(0)))[0].numpy()
        step = 2 * decoder.half / decoder.resolution
        grid = Grid(values.astype(np.float32), -decoder.half + step / 2, step, values.size)
        order = 0
    else:
        grid = mise(network_field(model, inputs), level, resolution0, upsampling_steps)
        order = 1
    mesh = extract_mesh(grid, level) if grid.values.min() < level < grid.values.max() else None
    if refine is not None and refine.steps and mesh is not None:  # the baseline raises
        mesh = refine_mesh(mesh, model_field(model, inputs), threshold, refine)
    return Reconstruction(grid, level, order, mesh, time.perf_counter() - started)


def evaluate(rec: Reconstruction, shape: Shape, seed: int = 0, n_points: int = N_POINTS) -> Scores:
    """IoU on `n_points` uniform points, Chamfer-L1 and normal consistency on `n_points`
    surface samples of each side. An empty prediction scores IoU 0 and the box's size as
    distance (so it is never mistaken for a good one)."""
    rng = np.random.default_rng(seed)
    points = uniform_points(n_points, rng)
    truth = shape.sample_surface(n_points, rng)
    if rec.mesh is None:
        return Scores(0.0, 1.0, 0.0, 1.0, 1.0)
    return scores(
        rec.inside(points), shape.occupancy(points), rec.mesh.sample(n_points, rng), truth
    )


def field_scores(
    field: Field, shape: Shape, level: float = 0.0, seed: int = 0, n_points: int = N_POINTS
) -> tuple[Reconstruction, Scores]:
    """The whole pipeline (MISE, marching cubes, metrics) applied to any field, e.g. an exact
    SDF: the check that the pipeline itself measures correctly."""
    grid = mise(field, level)
    rec = Reconstruction(grid, level, 1, extract_mesh(grid, level))
    return rec, evaluate(rec, shape, seed, n_points)
