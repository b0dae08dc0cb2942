"""Converters between DSDL and COCO, Pascal VOC, ImageFolder and segmentation masks."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from methods.dsdl.convert.coco import coco_to_dsdl, dsdl_to_coco
from methods.dsdl.convert.imagefolder import dsdl_to_imagefolder, imagefolder_to_dsdl
from methods.dsdl.convert.layout import MediaMode, write_dataset
from methods.dsdl.convert.segmentation import dsdl_to_segmentation, segmentation_to_dsdl
from methods.dsdl.convert.voc import dsdl_to_voc, voc_to_dsdl

FORMATS = ("coco", "voc", "imagefolder", "segmentation")
TO_DSDL: dict[str, Callable[..., Path]] = {
    "coco": coco_to_dsdl,
    "voc": voc_to_dsdl,
    "imagefolder": imagefolder_to_dsdl,
    "segmentation": segmentation_to_dsdl,
}
FROM_DSDL: dict[str, Callable[..., Path]] = {
    "coco": dsdl_to_coco,
    "voc": dsdl_to_voc,
    "imagefolder": dsdl_to_imagefolder,
    "segmentation": dsdl_to_segmentation,
}


def detect_format(path: str | Path) -> str:
    """Which format a folder is in, from its layout: dsdl, coco, voc, segmentation, imagefolder."""
    root = Path(path)
    if root.is_file() and root.suffix in (".yaml", ".yml", ".json"):
        return "dsdl"
    if not root.is_dir():
        raise FileNotFoundError(f"path: {root} does not exist")
    if (root / "dsdl").is_dir() or list(root.glob("set-*/*.yaml")):
        return "dsdl"
    if list((root / "annotations").glob("instances_*.json")):
        return "coco"
    if (root / "Annotations").is_dir() and (root / "ImageSets" / "Main").is_dir():
        return "voc"
    if (root / "classes.txt").is_file() and list(root.glob("*/images")):
        return "segmentation"
    if any(p.is_dir() for p in root.iterdir()):
        return "imagefolder"
    raise ValueError(
        f"path: cannot tell the format of {root}; expected a DSDL dataset, COCO "
        "(annotations/instances_*.json), VOC (Annotations/, ImageSets/Main/), masks "
        "(classes.txt, <split>/images) or class folders"
    )


def convert(
    source: str | Path,
    out: str | Path,
    *,
    src: str,
    dst: str = "dsdl",
    name: str | None = None,
    media: MediaMode = "copy",
) -> Path:
    """Convert `source` in format `src` to format `dst` under `out` (one side may be 'dsdl';
    two other formats go through DSDL, e.g. COCO -> DSDL -> VOC)."""
    known = ("dsdl", *FORMATS)
    for value, arg in ((src, "src"), (dst, "dst")):
        if value not in known:
            raise ValueError(f"{arg} must be one of {known}, got {value!r}")
    if src == dst:
        raise ValueError(f"src and dst are both {src!r}; nothing to convert")
    kwargs: dict[str, Any] = {"media": media}
    if name is not None:
        kwargs["name"] = name
    if src == "dsdl":
        return FROM_DSDL[dst](source, out)
    if dst == "dsdl":
        return TO_DSDL[src](source, out, **kwargs)
    with tempfile.TemporaryDirectory(prefix="dsdl-") as tmp:
        # reference mode: the intermediate DSDL points at the source media, no copies
        TO_DSDL[src](source, Path(tmp) / "dsdl", **{**kwargs, "media": "reference"})
        return FROM_DSDL[dst](Path(tmp) / "dsdl", out)


__all__ = [
    "FORMATS",
    "FROM_DSDL",
    "TO_DSDL",
    "coco_to_dsdl",
    "convert",
    "detect_format",
    "dsdl_to_coco",
    "dsdl_to_imagefolder",
    "dsdl_to_segmentation",
    "dsdl_to_voc",
    "imagefolder_to_dsdl",
    "segmentation_to_dsdl",
    "voc_to_dsdl",
    "write_dataset",
]
