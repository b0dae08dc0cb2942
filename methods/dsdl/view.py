"""Draw samples to PNG: the image with its boxes, rotated boxes, polygons and label maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from methods.dsdl.classdom import ClassLabel
from methods.dsdl.geometry import Box, Media, Polygon, RotatedBox
from methods.dsdl.loader import load_dataset

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
]


def _color(label: ClassLabel | None) -> tuple[int, int, int]:
    return PALETTE[(label.index - 1) % len(PALETTE)] if label else (255, 255, 255)


def _shapes(value: Any, label: ClassLabel | None, out: list[tuple[Any, ClassLabel | None]]) -> None:
    """Collect drawable values with the label of the struct they sit in."""
    if isinstance(value, Box | RotatedBox | Polygon):
        out.append((value, label))
    elif isinstance(value, Media) and value.kind == "LabelMap":
        out.append((value, None))
    elif isinstance(value, list):
        for v in value:
            _shapes(v, label, out)
    elif hasattr(value, "__dataclass_fields__"):
        fields = [getattr(value, n) for n in value.__dataclass_fields__]
        own = next((v for v in fields if isinstance(v, ClassLabel)), label)
        for v in fields:
            _shapes(v, own, out)


def draw_sample(sample: Any, scale: int = 1) -> Any:
    """The sample's first Image, enlarged `scale` times and annotated (a PIL image)."""
    from PIL import Image, ImageDraw

    fields = [getattr(sample, n) for n in sample.__dataclass_fields__]
    image = next((v for v in fields if isinstance(v, Media) and v.kind == "Image"), None)
    if image is None:
        raise ValueError(f"{type(sample).__name__} has no Image field to draw on")
    canvas = image.open().convert("RGB")
    shapes: list[tuple[Any, ClassLabel | None]] = []
    _shapes(sample, None, shapes)
    for value, _ in shapes:  # label maps first, under the outlines
        if isinstance(value, Media):
            pixels = value.array()
            if pixels.shape[:2] != (canvas.height, canvas.width):
                raise ValueError(
                    f"LabelMap {value.locator} is {pixels.shape[1]}x{pixels.shape[0]}, "
                    f"the image {canvas.width}x{canvas.height}"
                )
            overlay = np.asarray(canvas).copy()
            for v in np.unique(pixels):
                if v in (0, 255):
                    continue
                overlay[pixels == v] = PALETTE[(int(v) - 1) % len(PALETTE)]
            canvas = Image.blend(canvas, Image.fromarray(overlay), 0.45)
    if scale > 1:
        canvas = canvas.resize((canvas.width * scale, canvas.height * scale), resample=0)
    draw = ImageDraw.Draw(canvas)
    for value, label in shapes:
        color = _color(label)
        if isinstance(value, Box):
            draw.rectangle([v * scale for v in value.xyxy], outline=color, width=2)
            if label is not None:
                x1, y1, *_ = value.xyxy
                draw.text((x1 * scale + 3, y1 * scale + 2), label.leaf, fill=color)
        elif isinstance(value, RotatedBox):
            draw.polygon([tuple(p * scale) for p in value.corners()], outline=color)
        elif isinstance(value, Polygon):
            for ring in value.rings:
                draw.polygon([(x * scale, y * scale) for x, y in ring], outline=color)
    return canvas


def view(
    path: str | Path, out_dir: str | Path, *, n: int = 4, split: str | None = None, scale: int = 4
) -> list[Path]:
    """Draw the first `n` samples of a split (the first split by default) as PNG files."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    splits = load_dataset(path)
    if split is None:
        split = next(iter(splits))
    if split not in splits:
        raise KeyError(f"split: no split {split!r}; have {sorted(splits)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, sample in enumerate(splits[split]):
        if i >= n:
            break
        img = draw_sample(sample, scale)
        target = out_dir / f"{split}_{i:03d}.png"
        img.save(target)
        written.append(target)
    return written
