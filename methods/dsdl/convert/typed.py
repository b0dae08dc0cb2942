"""Find parts of a typed sample by their type, so exporters work on any matching struct."""

from __future__ import annotations

import dataclasses
from typing import Any

from methods.dsdl.classdom import ClassLabel
from methods.dsdl.geometry import Box, ImageShape, Media


def values(obj: Any) -> dict[str, Any]:
    """A typed struct's fields (shallow), absent optional fields left out."""
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"expected a typed sample (a dataclass), got {type(obj).__name__}")
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def first(obj: Any, cls: type, kind: str | None = None) -> tuple[str, Any] | None:
    """The first field whose value is a `cls` (and, for Media, of `kind`)."""
    for name, value in values(obj).items():
        if isinstance(value, cls) and (kind is None or getattr(value, "kind", None) == kind):
            return name, value
    return None


def image_of(sample: Any) -> Media:
    found = first(sample, Media, "Image")
    if found is None:
        raise ValueError(f"{type(sample).__name__} has no Image field to export")
    return found[1]


def shape_of(sample: Any) -> ImageShape | None:
    found = first(sample, ImageShape)
    return found[1] if found else None


def objects_of(sample: Any) -> list[Any]:
    """The first list field whose items are structs with a box and a label."""
    for value in values(sample).values():
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            item = value[0]
            if first(item, Box) is not None and first(item, ClassLabel) is not None:
                return value
    for value in values(sample).values():
        if isinstance(value, list) and not value:
            return value
    return []


def box_of(obj: Any) -> Box:
    found = first(obj, Box)
    if found is None:
        raise ValueError(f"{type(obj).__name__} has no BBox field")
    return found[1]


def label_of(obj: Any) -> ClassLabel:
    found = first(obj, ClassLabel)
    if found is None:
        raise ValueError(f"{type(obj).__name__} has no Label field")
    return found[1]


def image_size(sample: Any) -> tuple[int, int]:
    """(width, height): from an ImageShape field, else by opening the image."""
    shape = shape_of(sample)
    if shape is not None:
        return shape.width, shape.height
    image = image_of(sample)
    if image.path is None:
        raise ValueError(f"image {image.locator!r} does not resolve to a file")
    from PIL import Image

    with Image.open(image.path) as img:
        return img.size
