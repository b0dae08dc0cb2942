"""Typed values that loaded samples carry: boxes in a chosen mode, polygons, keypoints, media."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

BoxMode = Literal["xyxy", "xywh", "cxcywh"]
BOX_MODES: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")


def convert_box(values: tuple[float, ...] | list[float], src: str, dst: str) -> tuple[float, ...]:
    """Convert 4 box numbers between xyxy, xywh and cxcywh (pixel units, no normalisation)."""
    for mode, what in ((src, "src"), (dst, "dst")):
        if mode not in BOX_MODES:
            raise ValueError(f"{what} must be one of {BOX_MODES}, got {mode!r}")
    if len(values) != 4:
        raise ValueError(f"a box has 4 numbers, got {len(values)}: {values!r}")
    a, b, c, d = (float(v) for v in values)
    if src == dst:  # no arithmetic: x + w - x need not give w back in floating point
        return (a, b, c, d)
    if src == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif src == "cxcywh":
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:
        x1, y1, x2, y2 = a, b, c, d
    if dst == "xyxy":
        return (x1, y1, x2, y2)
    if dst == "xywh":
        return (x1, y1, x2 - x1, y2 - y1)
    return ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box; `values` are in `mode`, and `to(mode)` gives another view."""

    values: tuple[float, float, float, float]
    mode: str = "xyxy"

    def to(self, mode: str) -> Box:
        return Box(convert_box(self.values, self.mode, mode), mode)  # type: ignore[arg-type]

    @property
    def xyxy(self) -> tuple[float, ...]:
        return convert_box(self.values, self.mode, "xyxy")

    @property
    def xywh(self) -> tuple[float, ...]:
        return convert_box(self.values, self.mode, "xywh")

    @property
    def area(self) -> float:
        _, _, w, h = self.xywh
        return w * h


@dataclass(frozen=True)
class RotatedBox:
    """A rotated box: [x, y, w, h, theta] (theta in `measure`) or 4 corner points (xyxy)."""

    values: tuple[float, ...]
    mode: str = "xywht"
    measure: str = "radian"

    def corners(self) -> np.ndarray:
        """The four corners as a (4, 2) array."""
        if self.mode == "xyxy":
            return np.asarray(self.values, dtype=float).reshape(4, 2)
        cx, cy, w, h, theta = self.values
        if self.measure == "degree":
            theta = math.radians(theta)
        c, s = math.cos(theta), math.sin(theta)
        half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        rot = np.array([[c, -s], [s, c]])
        return half @ rot.T + np.array([cx, cy])


@dataclass(frozen=True)
class Polygon:
    """One or more rings, each a sequence of (x, y) points."""

    rings: tuple[tuple[tuple[float, float], ...], ...]

    def arrays(self) -> list[np.ndarray]:
        return [np.asarray(r, dtype=float) for r in self.rings]

    def area(self) -> float:
        """Summed shoelace area of the rings."""
        total = 0.0
        for ring in self.arrays():
            x, y = ring[:, 0], ring[:, 1]
            total += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        return total


@dataclass(frozen=True)
class Keypoints:
    """One (x, y, visibility) row per class of the keypoint domain, and its skeleton."""

    points: np.ndarray  # (n, 3)
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ImageShape:
    height: int
    width: int


@dataclass(frozen=True)
class Media:
    """A media object referenced by a locator; `path` is where it resolves on disk, if anywhere."""

    locator: str
    kind: str
    path: Path | None = None
    description: str | None = None

    def open(self) -> Any:
        """The media as a PIL image (images, label and instance maps)."""
        from PIL import Image

        if self.path is None:
            raise FileNotFoundError(f"{self.kind} {self.locator!r} does not resolve to a file")
        with Image.open(self.path) as img:
            img.load()
            return img

    def array(self) -> np.ndarray:
        """The media as a numpy array (a LabelMap's class indices, for example)."""
        return np.asarray(self.open())
