"""Multiresolution IsoSurface Extraction (MISE, NumPy) and marching cubes (scikit-image).

MISE evaluates a coarse grid, then repeatedly subdivides only the cells whose corners straddle
the threshold, evaluating just the new corners; every other fine-grid value is filled by
trilinear interpolation from the coarser level, which keeps its side of the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates
from skimage.measure import marching_cubes

from methods.occupancy.shapes import BOX_HALF, PADDING

Field = Callable[[np.ndarray], np.ndarray]  # (N, 3) points -> (N,) values; inside is > level


@dataclass
class Grid:
    """Field values on a lattice: point (i, j, k) sits at origin + step * (i, j, k)."""

    values: np.ndarray
    origin: float
    step: float
    evaluated: int = 0  # how many points the field was asked for

    @classmethod
    def corners(cls, resolution: int, half: float) -> Grid:
        """An empty (resolution+1)^3 lattice of cell corners spanning [-half, half]^3."""
        n = resolution + 1
        return cls(np.empty((n, n, n), np.float32), -half, 2 * half / resolution)

    def points(self, index: np.ndarray) -> np.ndarray:
        return (self.origin + index * self.step).astype(np.float32)

    def interpolate(self, points: np.ndarray, order: int = 1) -> np.ndarray:
        """Trilinear (order 1) or nearest-point (order 0) values at `points`; outside the
        lattice, the nearest edge value."""
        idx = (np.asarray(points, np.float64) - self.origin) / self.step
        return map_coordinates(self.values, idx.T, order=order, mode="nearest")


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float
    faces: np.ndarray  # (F, 3) int

    def __post_init__(self) -> None:
        if len(self.faces) == 0:
            raise ValueError("faces: the mesh is empty (the field never crosses the threshold)")

    def face_areas_normals(self) -> tuple[np.ndarray, np.ndarray]:
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        cross = np.cross(b - a, c - a)
        double = np.linalg.norm(cross, axis=-1)
        return double / 2, cross / np.maximum(double, 1e-12)[:, None]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`n` area-uniform points on the mesh and their face normals."""
        areas, normals = self.face_areas_normals()
        face = rng.choice(len(self.faces), size=n, p=areas / areas.sum())
        u, v = rng.random((2, n))
        flip = u + v > 1
        u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
        a, b, c = (self.vertices[self.faces[face, i]] for i in range(3))
        pts = a + u[:, None] * (b - a) + v[:, None] * (c - a)
        return pts.astype(np.float32), normals[face].astype(np.float32)


def _half(padding: float) -> float:
    return BOX_HALF * (1 + padding)


def dense_grid(
    field: Field, resolution: int = 128, padding: float = PADDING, batch: int = 65536
) -> Grid:
    """Evaluate the field at every corner of a resolution^3 grid (the reference for MISE)."""
    if resolution < 2:
        raise ValueError(f"resolution: expected at least 2, got {resolution}")
    n = resolution + 1
    grid = Grid.corners(resolution, _half(padding))
    index = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid.values.reshape(-1)[:] = _evaluate(field, grid.points(index), batch)
    grid.evaluated = len(index)
    return grid


def mise(
    field: Field,
    level: float,
    resolution0: int = 32,
    upsampling_steps: int = 2,
    padding: float = PADDING,
    batch: int = 65536,
) -> Grid:
    """MISE: a resolution0^3 grid refined `upsampling_steps` times near the `level` set."""
    if resolution0 < 2:
        raise ValueError(f"resolution0: expected at least 2, got {resolution0}")
    if upsampling_steps < 0:
        raise ValueError(f"upsampling_steps: expected >= 0, got {upsampling_steps}")
    n = resolution0 + 1
    coarse = Grid.corners(resolution0, _half(padding))
    index = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coarse.values.reshape(-1)[:] = _evaluate(field, coarse.points(index), batch)
    evaluated = len(index)
    known = np.ones((n, n, n), bool)  # truly evaluated, as opposed to interpolated
    for _ in range(upsampling_steps):
        values = coarse.values
        inside = values > level
        # A cell is active when its 8 corners do not all agree on the side of the level.
        corners = [inside[i : i + n - 1, j : j + n - 1, k : k + n - 1] for i, j, k in _CUBE]
        active = np.any(corners, axis=0) & ~np.all(corners, axis=0)
        fine_n = 2 * (n - 1) + 1
        fine = _upsample(values)
        fine_known = np.zeros((fine_n, fine_n, fine_n), bool)
        fine_known[::2, ::2, ::2] = known
        # Every fine corner of an active cell gets a true evaluation.
        want = np.zeros_like(fine_known)
        cells = 2 * np.argwhere(active)
        for offset in np.ndindex(3, 3, 3):
            want[tuple((cells + offset).T)] = True
        todo = np.argwhere(want & ~fine_known)
        coarse = Grid(fine, coarse.origin, coarse.step / 2)
        if len(todo):
            fine[tuple(todo.T)] = _evaluate(field, coarse.points(todo), batch)
            evaluated += len(todo)
        fine_known |= want
        n, known = fine_n, fine_known
    coarse.evaluated = evaluated
    return coarse


_CUBE = [(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)]


def _upsample(values: np.ndarray) -> np.ndarray:
    """Trilinear 2x refinement of a lattice: (n)^3 -> (2n-1)^3, old points kept exactly."""
    out = values
    for axis in range(3):
        shape = list(out.shape)
        shape[axis] = 2 * shape[axis] - 1
        new = np.empty(shape, np.float32)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        new[tuple(even)] = out
        new[tuple(odd)] = 0.5 * (out[tuple(lo)] + out[tuple(hi)])
        out = new
    return out


def _evaluate(field: Field, points: np.ndarray, batch: int) -> np.ndarray:
    out = np.concatenate(
        [np.asarray(field(points[i : i + batch])) for i in range(0, len(points), batch)]
    )
    if out.shape != (len(points),):
        raise ValueError(f"field: expected one value per point, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError("field: returned NaN or infinite values")
    return out.astype(np.float32)


def extract_mesh(grid: Grid, level: float) -> Mesh:
    """Marching cubes (scikit-image) on the grid at `level`, rescaled to world coordinates."""
    lo, hi = float(grid.values.min()), float(grid.values.max())
    if not lo < level < hi:
        raise ValueError(
            f"level: {level:.3f} is outside the field's range [{lo:.3f}, {hi:.3f}]; "
            "nothing to extract"
        )
    verts, faces, _, _ = marching_cubes(grid.values, level=level, spacing=(grid.step,) * 3)
    return Mesh((verts + grid.origin).astype(np.float32), faces.astype(np.int64))


def logit(probability: float) -> float:
    """The logit of the paper's threshold tau: the level set in the network's output space."""
    if not 0 < probability < 1:
        raise ValueError(f"threshold: expected a probability in (0, 1), got {probability}")
    return float(np.log(probability / (1 - probability)))
