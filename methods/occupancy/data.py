"""Shape sets for training: per-task inputs, and fresh uniform occupancy samples every batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from methods.occupancy.models import TASKS
from methods.occupancy.observe import render, voxelize
from methods.occupancy.shapes import Shape, uniform_points

SURFACE_POOL = 2048  # surface points kept per shape; each batch draws its input cloud from them


@dataclass
class Batch:
    inputs: torch.Tensor  # (B, T, 3) clouds, (B, R, R, R) voxels or (B, H, W) images
    points: torch.Tensor  # (B, K, 3)
    occupancy: torch.Tensor  # (B, K) in {0, 1}


class ShapeSet:
    """Shapes with the observation a task's encoder reads.

    Occupancy is exact (analytic SDFs), so every batch samples new uniform points instead of
    reusing a fixed 100k per shape as the paper does from its meshes.
    """

    def __init__(
        self,
        shapes: list[Shape],
        task: str = "pointcloud",
        n_input_points: int = 300,
        noise: float = 0.005,
        voxel_resolution: int = 32,
        image_size: int = 32,
        seed: int = 0,
    ) -> None:
        if not shapes:
            raise ValueError("shapes: expected at least one shape, got an empty list")
        if task not in TASKS:
            raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
        if n_input_points < 1:
            raise ValueError(f"n_input_points: expected at least 1, got {n_input_points}")
        self.shapes, self.task = shapes, task
        self.n_input_points, self.noise = n_input_points, noise
        rng = np.random.default_rng(seed)
        if task == "pointcloud":
            self.pool = np.stack([s.sample_surface(SURFACE_POOL, rng)[0] for s in shapes])
        elif task == "voxels":
            self.pool = np.stack([voxelize(s, voxel_resolution) for s in shapes])
        else:
            self.pool = np.stack([render(s, image_size) for s in shapes])

    def __len__(self) -> int:
        return len(self.shapes)

    def inputs(self, index: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The observations of shapes `index`; point clouds get a fresh subset and noise."""
        if self.task != "pointcloud":
            return torch.from_numpy(self.pool[index].astype(np.float32))
        pick = np.stack([rng.choice(SURFACE_POOL, self.n_input_points, False) for _ in index])
        clouds = self.pool[np.asarray(index)[:, None], pick]
        clouds = clouds + rng.normal(0, self.noise, clouds.shape)
        return torch.from_numpy(clouds.astype(np.float32))

    def batch(self, index: np.ndarray, n_points: int, rng: np.random.Generator) -> Batch:
        points = np.stack([uniform_points(n_points, rng) for _ in index])
        occ = np.stack([self.shapes[i].occupancy(p) for i, p in zip(index, points, strict=True)])
        return Batch(
            self.inputs(index, rng),
            torch.from_numpy(points),
            torch.from_numpy(occ.astype(np.float32)),
        )
