"""Dataset statistics: sample and object counts, class histogram, box sizes; a histogram PNG."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from methods.dsdl.classdom import ClassLabel
from methods.dsdl.geometry import Box, Media, Polygon
from methods.dsdl.loader import load_dataset


@dataclass
class DatasetStats:
    splits: dict[str, int] = field(default_factory=dict)  # samples per split
    classes: list[str] = field(default_factory=list)
    histogram: Counter[str] = field(default_factory=Counter)  # labels per class, all splits
    objects: int = 0  # boxes
    polygons: int = 0
    media: Counter[str] = field(default_factory=Counter)  # media fields by kind
    box_w: list[float] = field(default_factory=list)
    box_h: list[float] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(self.splits.values())

    def box_summary(self) -> dict[str, dict[str, float]]:
        """min / median / mean / max of box width, height and area."""
        if not self.box_w:
            return {}
        w, h = np.asarray(self.box_w), np.asarray(self.box_h)
        out = {}
        for name, v in (("width", w), ("height", h), ("area", w * h)):
            out[name] = {
                "min": float(v.min()),
                "median": float(np.median(v)),
                "mean": float(v.mean()),
                "max": float(v.max()),
            }
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "splits": self.splits,
            "classes": self.classes,
            "class_histogram": {c: self.histogram.get(c, 0) for c in self.classes},
            "objects": self.objects,
            "polygons": self.polygons,
            "media": dict(self.media),
            "boxes": self.box_summary(),
        }

    def text(self) -> str:
        lines = [
            f"{self.samples} samples ("
            + ", ".join(f"{s}: {n}" for s, n in self.splits.items())
            + f"), {self.objects} boxes, {self.polygons} polygons, {len(self.classes)} classes"
        ]
        width = max((len(c) for c in self.classes), default=0)
        top = max(self.histogram.values(), default=0)
        for c in self.classes:
            n = self.histogram.get(c, 0)
            bar = "#" * (round(30 * n / top) if top else 0)
            lines.append(f"  {c:<{width}} {n:>7} {bar}")
        for name, s in self.box_summary().items():
            lines.append(
                f"  box {name}: min {s['min']:.1f}, median {s['median']:.1f}, "
                f"mean {s['mean']:.1f}, max {s['max']:.1f}"
            )
        return "\n".join(lines)


def _walk(value: Any, stats: DatasetStats) -> None:
    if isinstance(value, ClassLabel):
        stats.histogram[value.name] += 1
    elif isinstance(value, Box):
        x1, y1, x2, y2 = value.xyxy
        stats.objects += 1
        stats.box_w.append(x2 - x1)
        stats.box_h.append(y2 - y1)
    elif isinstance(value, Polygon):
        stats.polygons += 1
    elif isinstance(value, Media):
        stats.media[value.kind] += 1
    elif isinstance(value, list):
        for v in value:
            _walk(v, stats)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _walk(getattr(value, name), stats)


def describe(path: str | Path, **load_kwargs: Any) -> DatasetStats:
    """Statistics of every split of a dataset folder (or of one description file)."""
    stats = DatasetStats()
    classes: dict[str, None] = {}
    for name, split in load_dataset(path, **load_kwargs).items():
        stats.splits[name] = len(split)
        for domain in split.domains.values():
            classes.update(dict.fromkeys(domain.classes))
        for sample in split:
            _walk(sample, stats)
    stats.classes = list(classes)
    return stats


def histogram_png(stats: DatasetStats, path: str | Path, title: str = "") -> Path:
    """A horizontal bar chart of the class histogram, drawn with Pillow."""
    from PIL import Image, ImageDraw

    path = Path(path)
    classes = stats.classes or ["(none)"]
    row, label_w, bar_w, pad = 18, 8 * max(len(c) for c in classes) + 10, 320, 10
    width = pad * 2 + label_w + bar_w + 60
    height = pad * 2 + 24 + row * len(classes)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((pad, pad), title or f"class histogram ({stats.samples} samples)", fill="black")
    top = max(stats.histogram.values(), default=0) or 1
    for i, c in enumerate(classes):
        y = pad + 24 + i * row
        n = stats.histogram.get(c, 0)
        draw.text((pad, y + 3), c, fill="black")
        x0 = pad + label_w
        draw.rectangle((x0, y + 2, x0 + int(bar_w * n / top), y + row - 3), fill=(70, 110, 200))
        draw.text((x0 + int(bar_w * n / top) + 5, y + 3), str(n), fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
