"""Semantic-segmentation masks <-> DSDL (LabelMap of 1-based class indices).

Layout: `<root>/classes.txt` (line k names the class of pixel value k, from 1; 0 is
unlabelled and 255 ignored), `<root>/<split>/images/<stem>.<ext>` and
`<root>/<split>/masks/<stem>.png` (single-channel). An image and its mask share a stem.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from methods.dsdl.convert.layout import (
    IMAGE_SUFFIXES,
    NAME_MAPPING_DEFS,
    DatasetSpec,
    MediaMode,
    domain_from_names,
    fresh_output_folder,
    original_names,
    write_dataset,
)
from methods.dsdl.convert.typed import first, image_of
from methods.dsdl.geometry import Media
from methods.dsdl.loader import load_dataset
from methods.dsdl.templates import template

TASK = "Semantic Segmentation"


def read_classes(root: Path) -> list[str]:
    path = root / "classes.txt"
    if not path.is_file():
        raise FileNotFoundError(f"root: {path} (one class name per line) does not exist")
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not names:
        raise ValueError(f"{path} lists no classes")
    return names


def scan_segmentation(root: Path) -> dict[str, list[tuple[Path, Path]]]:
    """split -> (image, mask) pairs, by shared stem."""
    if not root.is_dir():
        raise FileNotFoundError(f"root: segmentation folder {root} does not exist")
    layout = {}
    for folder in sorted(p for p in root.iterdir() if (p / "images").is_dir()):
        masks = {m.stem: m for m in (folder / "masks").glob("*.png")}
        pairs = []
        for image in sorted((folder / "images").iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if image.stem not in masks:
                raise FileNotFoundError(f"image {image.name} in {folder.name} has no mask")
            pairs.append((image, masks[image.stem]))
        layout[folder.name] = pairs
    if not layout:
        raise FileNotFoundError(f"root: no <split>/images folders under {root}")
    return layout


def segmentation_to_dsdl(
    root: str | Path, out: str | Path, *, name: str = "Segmentation", media: MediaMode = "copy"
) -> Path:
    """Convert a masks folder to a DSDL semantic-segmentation dataset under `out`."""
    root = Path(root)
    layout = scan_segmentation(root)
    domain, mapping = domain_from_names(read_classes(root))
    t = template("semantic-seg")
    samples: dict[str, list[dict[str, Any]]] = {}
    locators: list[str] = []
    for split, pairs in layout.items():
        samples[split] = []
        for image, mask in pairs:
            image_loc, mask_loc = (p.relative_to(root).as_posix() for p in (image, mask))
            locators += [image_loc, mask_loc]
            samples[split].append({"image": image_loc, "semantic_map": mask_loc})
    spec = DatasetSpec(
        name=name,
        task=TASK,
        template_text=t.text + NAME_MAPPING_DEFS,
        sample_type=t.sample_type_for(domain.name),
        domain=domain,
        splits=samples,
        media_root=root,
        locators=locators,
        global_info_type="NameInfo",
        global_info={"name_mapping": mapping},
    )
    return write_dataset(spec, out, media=media)


def dsdl_to_segmentation(dataset: str | Path, out: str | Path) -> Path:
    """Write a DSDL semantic-segmentation dataset in the masks layout under `out`."""
    out = fresh_output_folder(out)
    classes: list[str] | None = None
    for split_name, split in load_dataset(dataset).items():
        names = original_names(split)
        if classes is not None and names != classes:
            raise ValueError("splits disagree on the class list")
        classes = names
        for sample in split:
            image = image_of(sample)
            found = first(sample, Media, "LabelMap")
            if found is None:
                raise ValueError(f"{type(sample).__name__} has no LabelMap field")
            mask = found[1]
            stem = Path(image.locator).stem
            if Path(mask.locator).stem != stem:
                raise ValueError(f"image {image.locator} and mask {mask.locator} differ in stem")
            for media, sub, suffix in (
                (image, "images", Path(image.locator).suffix),
                (mask, "masks", ".png"),
            ):
                if media.path is None or not media.path.is_file():
                    raise FileNotFoundError(f"{media.kind} {media.locator!r} is missing")
                target = out / split_name / sub / f"{stem}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(media.path, target)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in classes or []), encoding="utf-8")
    return out


def read_segmentation(root: str | Path) -> dict[str, Any]:
    """Canonical form: the classes, and per split sorted (stem, image sha256, mask sha256 of
    the decoded pixels), so two PNG encodings of one mask compare equal."""
    from PIL import Image

    root = Path(root)
    out: dict[str, Any] = {"classes": read_classes(root)}
    for split, pairs in scan_segmentation(root).items():
        rows = []
        for image, mask in pairs:
            with Image.open(mask) as m:
                pixels = np.asarray(m)
            rows.append(
                (
                    image.stem,
                    hashlib.sha256(image.read_bytes()).hexdigest(),
                    hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest(),
                )
            )
        out[split] = sorted(rows)
    return out
