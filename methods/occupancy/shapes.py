"""Procedural shapes: unions of primitives with exact SDFs, occupancy and surface samples."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("sphere", "box", "cylinder", "torus", "capsule")
BOX_HALF = 0.5  # shapes live in the unit cube [-0.5, 0.5]^3
PADDING = 0.1  # the paper samples occupancy in the unit cube padded by 10%


@dataclass(frozen=True)
class Primitive:
    """One solid: `kind`, its size `params` (local frame, axis z), a rotation and a centre.

    sphere (r,), box (bx, by, bz) half extents, cylinder (r, h) half height h,
    torus (R, r) major and minor radii, capsule (r, h) half length of the axis segment.
    """

    kind: str
    params: tuple[float, ...]
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    center: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        need = {"sphere": 1, "box": 3, "cylinder": 2, "torus": 2, "capsule": 2}[self.kind]
        if len(self.params) != need or min(self.params) <= 0:
            raise ValueError(
                f"params: a {self.kind} takes {need} positive sizes, got {self.params!r}"
            )

    def local(self, points: np.ndarray) -> np.ndarray:
        # Rows are points, so p_local = R^T (p - c) is (p - c) @ R.
        return (points - self.center) @ self.rotation

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return _local_sdf(self.kind, self.params, self.local(points))

    def area(self) -> float:
        p = self.params
        if self.kind == "sphere":
            return 4 * np.pi * p[0] ** 2
        if self.kind == "box":
            return 8 * (p[0] * p[1] + p[1] * p[2] + p[0] * p[2])
        if self.kind == "cylinder":
            return 2 * np.pi * p[0] * 2 * p[1] + 2 * np.pi * p[0] ** 2
        if self.kind == "torus":
            return 4 * np.pi**2 * p[0] * p[1]
        return 2 * np.pi * p[0] * 2 * p[1] + 4 * np.pi * p[0] ** 2

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`n` area-uniform points on this primitive's surface and their outward normals."""
        pts, nrm = _local_surface(self.kind, self.params, n, rng)
        return pts @ self.rotation.T + self.center, nrm @ self.rotation.T


def _local_sdf(kind: str, p: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    if kind == "sphere":
        return np.linalg.norm(x, axis=-1) - p[0]
    if kind == "box":
        q = np.abs(x) - np.asarray(p)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    if kind == "cylinder":
        d = np.stack([np.linalg.norm(x[:, :2], axis=-1) - p[0], np.abs(x[:, 2]) - p[1]], -1)
        return np.minimum(d.max(-1), 0) + np.linalg.norm(np.maximum(d, 0), axis=-1)
    if kind == "torus":
        q = np.stack([np.linalg.norm(x[:, :2], axis=-1) - p[0], x[:, 2]], -1)
        return np.linalg.norm(q, axis=-1) - p[1]
    z = np.clip(x[:, 2], -p[1], p[1])
    return np.linalg.norm(x - np.stack([0 * z, 0 * z, z], -1), axis=-1) - p[0]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _local_surface(
    kind: str, p: tuple[float, ...], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if kind == "sphere":
        nrm = _unit(rng, n)
        return nrm * p[0], nrm
    if kind == "box":
        b = np.asarray(p)
        face_area = np.array([b[1] * b[2], b[0] * b[2], b[0] * b[1]])
        axis = rng.choice(3, size=n, p=face_area / face_area.sum())
        sign = rng.choice([-1.0, 1.0], size=n)
        pts = rng.uniform(-1, 1, (n, 3)) * b
        pts[np.arange(n), axis] = sign * b[axis]
        nrm = np.zeros((n, 3))
        nrm[np.arange(n), axis] = sign
        return pts, nrm
    if kind in ("cylinder", "capsule"):
        r, h = p
        side = 2 * np.pi * r * 2 * h
        ends = 2 * np.pi * r**2 if kind == "cylinder" else 4 * np.pi * r**2
        on_side = rng.random(n) < side / (side + ends)
        ang = rng.uniform(0, 2 * np.pi, n)
        radial = np.stack([np.cos(ang), np.sin(ang), 0 * ang], -1)
        pts = radial * r + np.stack([0 * ang, 0 * ang, rng.uniform(-h, h, n)], -1)
        nrm = radial.copy()
        end = ~on_side
        if kind == "cylinder":
            sign = rng.choice([-1.0, 1.0], size=end.sum())
            rad = r * np.sqrt(rng.random(end.sum()))
            pts[end] = radial[end] * rad[:, None]
            pts[end, 2] = sign * h
            nrm[end] = 0
            nrm[end, 2] = sign
        else:
            u = _unit(rng, end.sum())
            pts[end] = u * r
            pts[end, 2] += np.sign(u[:, 2]) * h
            nrm[end] = u
        return pts, nrm
    # Torus: uniform in the tube angle phi is not area-uniform; accept with (R + r cos phi).
    big, r = p
    phi = np.empty(0)
    while phi.size < n:
        cand = rng.uniform(0, 2 * np.pi, 2 * n)
        keep = rng.random(2 * n) * (big + r) < big + r * np.cos(cand)
        phi = np.concatenate([phi, cand[keep]])
    phi = phi[:n]
    theta = rng.uniform(0, 2 * np.pi, n)
    nrm = np.stack([np.cos(phi) * np.cos(theta), np.cos(phi) * np.sin(theta), np.sin(phi)], -1)
    ring = np.stack([np.cos(theta), np.sin(theta), 0 * theta], -1) * big
    return ring + nrm * r, nrm


@dataclass(frozen=True)
class Shape:
    """A union of primitives: SDF = min of theirs (exact zero set, exact inside test)."""

    primitives: tuple[Primitive, ...]

    def __post_init__(self) -> None:
        if not self.primitives:
            raise ValueError("primitives: a shape needs at least one primitive")

    def sdf(self, points: np.ndarray) -> np.ndarray:
        points = _check_points(points)
        return np.min([q.sdf(points) for q in self.primitives], axis=0)

    def occupancy(self, points: np.ndarray) -> np.ndarray:
        return self.sdf(points) <= 0

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`n` area-uniform points on the union's outer surface, with outward unit normals.

        Each primitive is sampled by its area; samples inside another primitive are not on
        the union's surface and are dropped, so the result stays area-uniform.
        """
        if n < 1:
            raise ValueError(f"n: expected at least 1 surface point, got {n}")
        areas = np.array([q.area() for q in self.primitives])
        got_p, got_n, have = [], [], 0
        draw = n
        while have < n:
            counts = rng.multinomial(int(draw * 1.3) + 16, areas / areas.sum())
            for i, (q, c) in enumerate(zip(self.primitives, counts, strict=True)):
                if c == 0:
                    continue
                pts, nrm = q.sample_surface(int(c), rng)
                others = [o.sdf(pts) for j, o in enumerate(self.primitives) if j != i]
                keep = np.min(others, axis=0) > 0 if others else np.ones(len(pts), bool)
                got_p.append(pts[keep])
                got_n.append(nrm[keep])
                have += int(keep.sum())
            draw = max(n - have, 16) * 2
        pts, nrm = np.concatenate(got_p), np.concatenate(got_n)
        pick = rng.permutation(len(pts))[:n]
        return pts[pick].astype(np.float32), nrm[pick].astype(np.float32)


def _check_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points: expected an array of shape (N, 3), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points: contains NaN or infinite coordinates")
    return points


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def random_primitive(rng: np.random.Generator, kind: str | None = None) -> Primitive:
    kind = kind or str(rng.choice(KINDS))
    if kind == "sphere":
        params: tuple[float, ...] = (rng.uniform(0.12, 0.3),)
    elif kind == "box":
        params = tuple(rng.uniform(0.06, 0.3, 3))
    elif kind == "cylinder":
        params = (rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.35))
    elif kind == "torus":
        params = (rng.uniform(0.15, 0.3), rng.uniform(0.03, 0.09))
    else:
        params = (rng.uniform(0.05, 0.15), rng.uniform(0.08, 0.25))
    return Primitive(kind, params, random_rotation(rng), rng.uniform(-0.2, 0.2, 3))


def random_shape(rng: np.random.Generator, max_parts: int = 3, extent: float = 0.9) -> Shape:
    """A union of 1..max_parts random primitives, centred and scaled so that its bounding box's
    longest edge is `extent` (ShapeNet meshes are normalised the same way, to the unit cube)."""
    if max_parts < 1:
        raise ValueError(f"max_parts: expected at least 1, got {max_parts}")
    if not 0 < extent <= 2 * BOX_HALF:
        raise ValueError(f"extent: expected a size in (0, 1], got {extent}")
    parts = tuple(random_primitive(rng) for _ in range(rng.integers(1, max_parts + 1)))
    pts, _ = Shape(parts).sample_surface(4096, rng)
    lo, hi = pts.min(0), pts.max(0)
    scale = extent / float((hi - lo).max())
    mid = (lo + hi) / 2
    return Shape(tuple(scaled(q, scale, -mid * scale) for q in parts))


def scaled(q: Primitive, scale: float, shift: np.ndarray) -> Primitive:
    """The primitive scaled by `scale` about the origin, then moved by `shift`."""
    return Primitive(
        q.kind, tuple(p * scale for p in q.params), q.rotation, q.center * scale + shift
    )


def random_shapes(n: int, seed: int, max_parts: int = 3) -> list[Shape]:
    if n < 1:
        raise ValueError(f"n: expected at least 1 shape, got {n}")
    rng = np.random.default_rng(seed)
    return [random_shape(rng, max_parts) for _ in range(n)]


def uniform_points(n: int, rng: np.random.Generator, padding: float = PADDING) -> np.ndarray:
    """`n` points uniform in the unit cube padded by `padding` (the paper's training sampler)."""
    half = BOX_HALF * (1 + padding)
    return rng.uniform(-half, half, (n, 3)).astype(np.float32)


def sphere_shape(radius: float = 0.35) -> Shape:
    return Shape((Primitive("sphere", (radius,)),))
