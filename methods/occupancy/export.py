"""Mesh files (PLY, OBJ) and PNG previews (input | prediction | truth), drawn with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from methods.occupancy.mise import Mesh
from methods.occupancy.observe import LIGHT, voxel_centers
from methods.occupancy.shapes import BOX_HALF, Shape

VIEW = -np.array([1.0, 0.8, 0.6]) / np.linalg.norm([1.0, 0.8, 0.6])  # as observe.render


def write_ply(mesh: Mesh, path: Path | str) -> Path:
    """A binary little-endian PLY with float vertices and int faces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(mesh.vertices)}\nproperty float x\nproperty float y\n"
        f"property float z\nelement face {len(mesh.faces)}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    faces = np.empty(len(mesh.faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    faces["n"], faces["idx"] = 3, mesh.faces
    with path.open("wb") as f:
        f.write(header.encode("ascii"))
        f.write(mesh.vertices.astype("<f4").tobytes())
        f.write(faces.tobytes())
    return path


def write_obj(mesh: Mesh, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def splat(points: np.ndarray, normals: np.ndarray | None, size: int = 192) -> np.ndarray:
    """Greyscale (size x size) orthographic splat of oriented points, nearest point wins."""
    right = np.cross(VIEW, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, VIEW)
    half = BOX_HALF * 1.5  # the unit cube's corners project up to ~0.7 from the centre
    u = ((points @ right + half) / (2 * half) * (size - 1)).round().astype(int)
    v = ((half - points @ up) / (2 * half) * (size - 1)).round().astype(int)
    depth = points @ VIEW
    # Face normals of a marching-cubes mesh may point either way; light both sides.
    lit = np.abs(normals @ LIGHT) * 0.75 + 0.25 if normals is not None else None
    shade = np.full(len(points), 0.8) if lit is None else lit
    image = np.zeros((size, size))
    keep = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    order = np.argsort(-depth[keep])  # far first, so near points overwrite them
    for du in (0, 1):
        for dv in (0, 1):
            image[
                np.clip(v[keep][order] + dv, 0, size - 1), np.clip(u[keep][order] + du, 0, size - 1)
            ] = shade[keep][order]
    return image


def preview(
    path: Path | str,
    observation: np.ndarray,
    predicted: Mesh | None,
    truth: Shape | None = None,
    title: str = "",
    seed: int = 0,
) -> Path:
    """A PNG: the observation (point cloud, voxels or image), the predicted mesh, and the
    ground-truth shape when known, side by side."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    size = 192
    panels = [("input", _observation_panel(np.asarray(observation), size))]
    if predicted is not None:
        panels.append(("prediction", splat(*predicted.sample(60_000, rng), size)))
    else:
        panels.append(("prediction (empty)", np.zeros((size, size))))
    if truth is not None:
        panels.append(("truth", splat(*truth.sample_surface(60_000, rng), size)))
    canvas = Image.new("L", (size * len(panels), size + 36), 255)
    draw = ImageDraw.Draw(canvas)
    for i, (label, pixels) in enumerate(panels):
        canvas.paste(Image.fromarray((255 * (1 - 0.85 * pixels)).astype(np.uint8)), (i * size, 36))
        draw.text((i * size + 6, 20), label, fill=0)
    draw.text((6, 4), title, fill=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def _observation_panel(observation: np.ndarray, size: int) -> np.ndarray:
    if observation.ndim == 2 and observation.shape[1] == 3:  # a point cloud
        return splat(observation, None, size)
    if observation.ndim == 3:  # voxels
        res = observation.shape[0]
        return splat(voxel_centers(res)[observation.reshape(-1) > 0.5], None, size)
    if observation.ndim == 2:  # an image
        from PIL import Image

        img = Image.fromarray((255 * np.clip(observation, 0, 1)).astype(np.uint8))
        return np.asarray(img.resize((size, size), Image.NEAREST), np.float32) / 255
    raise ValueError(
        f"observation: expected a point cloud (N, 3), voxels (R, R, R) or an image (H, W), "
        f"got shape {observation.shape}"
    )
