"""ImageFolder classification <-> DSDL (torchvision's layout: one folder per class).

`<root>/<split>/<class>/<image>` when every top-level folder holds class folders, else
`<root>/<class>/<image>` as one split (named by `split`). Classes are the sorted folder names
(torchvision's order); names that need sanitising keep their original in global info.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

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
from methods.dsdl.convert.typed import image_of, label_of
from methods.dsdl.loader import load_dataset
from methods.dsdl.templates import template

TASK = "Image Classification"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_imagefolder(root: Path, split: str = "train") -> dict[str, dict[str, list[Path]]]:
    """split -> class folder name -> images."""
    if not root.is_dir():
        raise FileNotFoundError(f"root: image folder {root} does not exist")
    tops = _class_dirs(root)
    if not tops:
        raise FileNotFoundError(f"root: {root} has no class folders")
    nested = all(_class_dirs(t) and not _images(t) for t in tops)
    groups = {t.name: t for t in tops} if nested else {split: root}
    layout: dict[str, dict[str, list[Path]]] = {}
    for name, folder in groups.items():
        layout[name] = {c.name: _images(c) for c in _class_dirs(folder)}
        if not any(layout[name].values()):
            raise FileNotFoundError(f"root: no images under {folder}")
    return layout


def imagefolder_to_dsdl(
    root: str | Path,
    out: str | Path,
    *,
    split: str = "train",
    name: str = "ImageFolder",
    media: MediaMode = "copy",
) -> Path:
    """Convert an ImageFolder tree to a DSDL classification dataset under `out`."""
    root = Path(root)
    layout = scan_imagefolder(root, split)
    names = sorted({c for classes in layout.values() for c in classes})
    domain, mapping = domain_from_names(names)
    clean = dict(zip(names, domain.classes, strict=True))
    t = template("classification")
    samples: dict[str, list[dict[str, Any]]] = {}
    locators: list[str] = []
    for split_name, classes in layout.items():
        samples[split_name] = []
        for cls, files in classes.items():
            for f in files:
                locator = f.relative_to(root).as_posix()
                locators.append(locator)
                samples[split_name].append({"image": locator, "label": clean[cls]})
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


def dsdl_to_imagefolder(dataset: str | Path, out: str | Path) -> Path:
    """Write a DSDL classification dataset as `<out>/<split>/<class>/<image>`."""
    out = fresh_output_folder(out)
    for split_name, split in load_dataset(dataset).items():
        names = original_names(split)
        for sample in split:
            image = image_of(sample)
            label = label_of(sample)
            target = out / split_name / names[label.index - 1] / Path(image.locator).name
            if target.exists():
                raise ValueError(f"two images of class {label.name} are named {target.name}")
            if image.path is None or not image.path.is_file():
                raise FileNotFoundError(f"image {image.locator!r} is missing")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image.path, target)
    return out


def read_imagefolder(root: str | Path) -> dict[str, list[tuple[str, str, str]]]:
    """Canonical form: split -> sorted (class, file name, sha256 of the bytes)."""
    layout = scan_imagefolder(Path(root))
    return {
        s: sorted(
            (c, f.name, hashlib.sha256(f.read_bytes()).hexdigest())
            for c, files in classes.items()
            for f in files
        )
        for s, classes in layout.items()
    }
