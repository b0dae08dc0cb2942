"""Experiments shared by the benchmark and the tools: test-set evaluation, oracle, MISE check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from methods.occupancy.data import ShapeSet
from methods.occupancy.metrics import Scores, iou, mean_scores
from methods.occupancy.mise import Grid, dense_grid, logit, mise
from methods.occupancy.models import OccupancyModel
from methods.occupancy.reconstruct import THRESHOLD, evaluate, network_field, reconstruct
from methods.occupancy.refine import RefineConfig
from methods.occupancy.shapes import BOX_HALF, PADDING, Shape, uniform_points

Progress = Callable[[float, str], None]


@dataclass
class Evaluation:
    mean: dict[str, float]
    per_shape: list[Scores]
    seconds_per_shape: float


def evaluate_model(
    model: OccupancyModel,
    data: ShapeSet,
    n_points: int,
    seed: int = 0,
    progress: Progress | None = None,
    refine: RefineConfig | None = None,
    count: int | None = None,
) -> Evaluation:
    """Reconstruct the first `count` (default all) shapes of `data` from their observations,
    meshes refined with `refine` if given, and score them (fixed seeds: the first k shapes
    get the same inputs and points whatever `count` is)."""
    count = len(data) if count is None else min(count, len(data))
    if count < 1:
        raise ValueError(f"count: expected at least one shape, got {count}")
    rng = np.random.default_rng(seed)
    per_shape = []
    started = time.perf_counter()
    for i in range(count):
        inputs = data.inputs(np.array([i]), rng)[0]
        rec = reconstruct(model, inputs, refine=refine)
        per_shape.append(evaluate(rec, data.shapes[i], seed + i, n_points))
        if progress is not None:
            progress((i + 1) / count, f"evaluated {i + 1}/{count} shapes")
    seconds = (time.perf_counter() - started) / count
    return Evaluation(mean_scores(per_shape), per_shape, seconds)


def oracle_iou(shapes: list[Shape], resolution: int = 32, n_points: int = 100_000) -> float:
    """The ceiling of any resolution^3 grid over the padded box read by nearest cell: the
    exact occupancy at each cell centre, scored at uniform points."""
    half = BOX_HALF * (1 + PADDING)
    step = 2 * half / resolution
    axis = -half + step * (np.arange(resolution) + 0.5)
    centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    ious = []
    for i, shape in enumerate(shapes):
        cells = shape.occupancy(centres).reshape((resolution,) * 3).astype(np.float32)
        grid = Grid(cells, -half + step / 2, step)
        points = uniform_points(n_points, np.random.default_rng(i))
        ious.append(iou(grid.interpolate(points, order=0) > 0.5, shape.occupancy(points)))
    return float(np.mean(ious))


def input_voxel_iou(shapes: list[Shape], resolution: int = 32, n_points: int = 100_000) -> float:
    """IoU of the voxel input itself (cells over the unit cube, nearest cell; empty outside):
    the baseline that voxel super-resolution must beat."""
    step = 2 * BOX_HALF / resolution
    axis = -BOX_HALF + step * (np.arange(resolution) + 0.5)
    centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    ious = []
    for i, shape in enumerate(shapes):
        cells = shape.occupancy(centres).reshape((resolution,) * 3)
        points = uniform_points(n_points, np.random.default_rng(i))
        idx = np.floor((points + BOX_HALF) / step).astype(int)
        inside_box = np.all((idx >= 0) & (idx < resolution), axis=1)
        pred = np.zeros(len(points), bool)
        ok = idx[inside_box]
        pred[inside_box] = cells[ok[:, 0], ok[:, 1], ok[:, 2]]
        ious.append(iou(pred, shape.occupancy(points)))
    return float(np.mean(ious))


@dataclass
class MiseCheck:
    evaluated_fraction: float  # of the (4 resolution0 + 1)^3 points, averaged over shapes
    iou_vs_dense: float  # occupancy of the two grids, averaged over shapes
    mise_seconds: float
    dense_seconds: float


def mise_check(
    model: OccupancyModel, data: ShapeSet, count: int, seed: int = 0, resolution0: int = 32
) -> MiseCheck:
    """MISE (resolution0^3, two refinements) against dense evaluation at the final resolution
    (32 -> 128^3, the paper's setting) on the trained network."""
    rng = np.random.default_rng(seed)
    level = logit(THRESHOLD)
    fractions, ious, t_mise, t_dense = [], [], 0.0, 0.0
    for i in range(min(count, len(data))):
        field = network_field(model, data.inputs(np.array([i]), rng)[0])
        started = time.perf_counter()
        fast = mise(field, level, resolution0, 2)
        t_mise += time.perf_counter() - started
        started = time.perf_counter()
        full = dense_grid(field, 4 * resolution0)
        t_dense += time.perf_counter() - started
        fractions.append(fast.evaluated / full.evaluated)
        ious.append(iou(fast.values > level, full.values > level))
    n = len(fractions)
    return MiseCheck(float(np.mean(fractions)), float(np.mean(ious)), t_mise / n, t_dense / n)
