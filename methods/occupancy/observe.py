"""Observations of a shape that the encoders read: noisy point clouds, voxels, rendered images."""

from __future__ import annotations

import numpy as np

from methods.occupancy.shapes import BOX_HALF, Shape

LIGHT = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])


def point_cloud(shape: Shape, n: int, rng: np.random.Generator, noise: float = 0.005) -> np.ndarray:
    """`n` surface points plus N(0, noise): the paper's point-completion input (300, 0.005)."""
    if noise < 0:
        raise ValueError(f"noise: expected a standard deviation >= 0, got {noise}")
    pts, _ = shape.sample_surface(n, rng)
    return (pts + rng.normal(0, noise, pts.shape)).astype(np.float32)


def voxel_centers(resolution: int) -> np.ndarray:
    """Centres of a resolution^3 grid over the unit cube, in C order (x slowest)."""
    step = 2 * BOX_HALF / resolution
    axis = -BOX_HALF + step * (np.arange(resolution) + 0.5)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def voxelize(shape: Shape, resolution: int = 32) -> np.ndarray:
    """Occupancy at the cell centres of a resolution^3 grid over the unit cube (bool)."""
    if resolution < 2:
        raise ValueError(f"resolution: expected at least 2 cells per side, got {resolution}")
    occ = shape.occupancy(voxel_centers(resolution))
    return occ.reshape(resolution, resolution, resolution)


def render(shape: Shape, size: int = 32, steps: int = 48) -> np.ndarray:
    """A greyscale image (size x size, values in [0, 1]) by sphere tracing the SDF.

    Orthographic camera from a fixed oblique direction; background 0,
    surface shaded by Lambert with a fixed light. Union SDFs are not exact distances inside
    overlaps, but outside (where tracing happens) min() of exact SDFs is a lower bound, so
    sphere tracing stays safe.
    """
    if size < 4:
        raise ValueError(f"size: expected at least 4 pixels, got {size}")
    view = -np.array([1.0, 0.8, 0.6])
    view /= np.linalg.norm(view)
    right = np.cross(view, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, view)
    half = BOX_HALF * 1.1
    u, v = np.meshgrid(np.linspace(-half, half, size), np.linspace(half, -half, size))
    origin = u.reshape(-1, 1) * right + v.reshape(-1, 1) * up - view * 1.0
    t = np.zeros(size * size)
    hit = np.zeros(size * size, bool)
    for _ in range(steps):
        d = shape.sdf(origin + t[:, None] * view)
        hit |= d < 1e-3
        t = np.where(hit, t, t + d)
    pts = origin + t[:, None] * view
    eps = 1e-3
    grad = np.stack([shape.sdf(pts + eps * e) - shape.sdf(pts - eps * e) for e in np.eye(3)], -1)
    normal = grad / np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-9)
    shade = np.clip(normal @ LIGHT, 0, 1) * 0.8 + 0.2
    return np.where(hit, shade, 0.0).reshape(size, size).astype(np.float32)


def check_observation(observation: np.ndarray, task: str, size: int = 32) -> np.ndarray:
    """Validate an observation for `task`; returns it as float32.

    pointcloud: (N, 3) points, N >= 1; voxels: (size, size, size); image: (size, size).
    """
    obs = np.asarray(observation)
    if obs.dtype == object or not np.issubdtype(obs.dtype, np.number) and obs.dtype != bool:
        raise ValueError(f"observation: expected a numeric array, got dtype {obs.dtype}")
    obs = obs.astype(np.float32)
    expected = {
        "pointcloud": "a point cloud of shape (N, 3)",
        "voxels": f"voxels of shape ({size}, {size}, {size})",
        "image": f"an image of shape ({size}, {size})",
    }
    if task not in expected:
        raise ValueError(f"task: expected one of {tuple(expected)}, got {task!r}")
    ok = {
        "pointcloud": obs.ndim == 2 and obs.shape[1:] == (3,) and len(obs) > 0,
        "voxels": obs.shape == (size,) * 3,
        "image": obs.shape == (size,) * 2,
    }[task]
    if not ok:
        raise ValueError(f"observation: expected {expected[task]}, got shape {obs.shape}")
    if not np.isfinite(obs).all():
        raise ValueError("observation: contains NaN or infinite values")
    return obs


def load_observation(path: str, task: str, size: int = 32) -> np.ndarray:
    """An observation from a .npy file (or the first array of a .npz), checked for `task`."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"input_path: no file at {file}")
    if file.suffix not in (".npy", ".npz"):
        raise ValueError(f"input_path: expected a .npy or .npz file, got {file.name}")
    loaded = np.load(file, allow_pickle=False)
    if file.suffix == ".npz":
        if not loaded.files:
            raise ValueError(f"input_path: {file.name} holds no arrays")
        loaded = loaded[loaded.files[0]]
    return check_observation(loaded, task, size)
