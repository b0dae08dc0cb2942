"""Write a dataset in the SDK's converted layout, byte-for-byte deterministically.

    <out>/config.py                      local = dict(type="LocalFileReader", working_dir=...)
    <out>/README.md
    <out>/media/...                      copies of the media (media="copy")
    <out>/dsdl/defs/template.yaml        the structs
    <out>/dsdl/defs/class-dom.yaml       the class domain
    <out>/dsdl/defs/global-info.json     optional
    <out>/dsdl/set-<split>/<split>.yaml  imports ../defs/class-dom and ../defs/template
    <out>/dsdl/set-<split>/<split>_samples.json

Numbers are written in one canonical form (integral floats as integers), so converting a
dataset out of DSDL and back reproduces the same bytes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from methods.dsdl.classdom import ClassDomain, sanitize_class_name
from methods.dsdl.templates import VERSION

MediaMode = Literal["copy", "reference"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

NAME_MAPPING_DEFS = """
NameMapping:
    $def: struct
    $fields:
        name: Str
        original_name: Str

NameInfo:
    $def: struct
    $fields:
        name_mapping: List[etype=NameMapping]
"""


def num(value: Any) -> int | float:
    """One spelling per number: 3.0 -> 3, so a round trip cannot change the bytes."""
    f = float(value)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"cannot write {value!r}: DSDL numbers are finite")
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def domain_from_names(
    originals: Iterable[str], name: str = "ClassDom"
) -> tuple[ClassDomain, list[dict[str, str]]]:
    """A domain whose classes are the sanitised names, plus the mapping back to the originals."""
    originals = list(originals)
    if not originals:
        raise ValueError("names: a class domain needs at least one class")
    classes, mapping, seen = [], [], {}
    for original in originals:
        clean = sanitize_class_name(original)
        if not clean:
            raise ValueError(f"names: class {original!r} has no usable characters")
        if clean in seen:
            raise ValueError(f"names: {original!r} and {seen[clean]!r} both become class {clean!r}")
        seen[clean] = original
        classes.append(clean)
        mapping.append({"name": clean, "original_name": original})
    return ClassDomain(name, classes), mapping


@dataclass
class DatasetSpec:
    """What `write_dataset` needs: the definitions, the samples per split, and the media."""

    name: str
    task: str
    template_text: str
    sample_type: str
    domain: ClassDomain
    splits: dict[str, list[dict[str, Any]]]
    media_root: Path  # where locators resolve in the source
    locators: list[str] = field(default_factory=list)
    global_info_type: str | None = None
    global_info: dict[str, Any] | None = None
    modality: str = "Images"
    homepage: str = ""


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def class_dom_text(domain: ClassDomain) -> str:
    lines = [f'$dsdl-version: "{VERSION}"', "", f"{domain.name}:", "    $def: class_domain"]
    lines.append("    classes:")
    lines += [f"        - {_q(c)}" for c in domain.classes]
    if domain.skeleton:
        lines.append("    skeleton:")
        lines += [f"        - [{a}, {b}]" for a, b in domain.skeleton]
    return "\n".join(lines) + "\n"


def split_text(spec: DatasetSpec, split: str) -> str:
    lines = [
        f'$dsdl-version: "{VERSION}"',
        "",
        "$import:",
        "    - ../defs/class-dom",
        "    - ../defs/template",
        "",
        "meta:",
        f"    Dataset Name: {_q(spec.name)}",
        f"    HomePage: {_q(spec.homepage)}",
        f"    Subset Name: {_q(split)}",
        f"    Modality: {_q(spec.modality)}",
        f"    Task: {_q(spec.task)}",
        "",
        "data:",
        f"    sample-type: {spec.sample_type}",
        f"    sample-path: {split}_samples.json",
    ]
    if spec.global_info_type is not None:
        lines += [
            f"    global-info-type: {spec.global_info_type}",
            "    global-info-path: ../defs/global-info.json",
        ]
    return "\n".join(lines) + "\n"


def samples_text(samples: list[dict[str, Any]]) -> str:
    """`{"samples": [...]}` with one sample per line: compact, yet diffable."""
    rows = ",\n".join(
        json.dumps(s, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for s in samples
    )
    return '{"samples":[\n' + rows + ("\n" if rows else "") + "]}\n"


def fresh_output_folder(out: str | Path) -> Path:
    """`out` as a Path, refusing a folder that already holds files (a converter never merges)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"out: {out} is not empty; give a new folder")
    return out


def write_dataset(spec: DatasetSpec, out: str | Path, *, media: MediaMode = "copy") -> Path:
    """Write `spec` under `out` in the SDK layout; returns `out`. `out` must be empty or new."""
    if media not in ("copy", "reference"):
        raise ValueError(f"media must be 'copy' or 'reference', got {media!r}")
    out = fresh_output_folder(out)
    for split in spec.splits:
        if not split or "/" in split or split.startswith("."):
            raise ValueError(f"splits: {split!r} is not a usable split name")
    defs = out / "dsdl" / "defs"
    defs.mkdir(parents=True)
    (defs / "template.yaml").write_text(spec.template_text, encoding="utf-8")
    (defs / "class-dom.yaml").write_text(class_dom_text(spec.domain), encoding="utf-8")
    if spec.global_info is not None:
        text = json.dumps({"global-info": spec.global_info}, ensure_ascii=False, indent=1)
        (defs / "global-info.json").write_text(text + "\n", encoding="utf-8")
    for split, samples in spec.splits.items():
        folder = out / "dsdl" / f"set-{split}"
        folder.mkdir(parents=True)
        (folder / f"{split}.yaml").write_text(split_text(spec, split), encoding="utf-8")
        (folder / f"{split}_samples.json").write_text(samples_text(samples), encoding="utf-8")
    if media == "copy":
        copy_media(spec.media_root, out / "media", spec.locators)
        working_dir = "media"
    else:
        working_dir = str(spec.media_root.resolve())
    (out / "config.py").write_text(
        "# Where media locators resolve (dsdl-sdk's config format); a relative working_dir\n"
        "# is taken from this file's folder.\n"
        f'local = dict(type="LocalFileReader", working_dir={_q(working_dir)})\n',
        encoding="utf-8",
    )
    (out / "README.md").write_text(_readme(spec), encoding="utf-8")
    return out


def copy_media(src_root: Path, dst_root: Path, locators: Iterable[str]) -> int:
    """Copy each locator's file from `src_root` to the same relative place under `dst_root`."""
    copied = 0
    for locator in dict.fromkeys(locators):
        src = src_root / locator
        if not src.is_file():
            raise FileNotFoundError(f"media {locator!r} is missing under {src_root}")
        dst = dst_root / locator
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        copied += 1
    return copied


def _readme(spec: DatasetSpec) -> str:
    lines = [
        f"# {spec.name} (DSDL)",
        "",
        f"Task: {spec.task}. Classes: {len(spec.domain)} in `{spec.domain.name}`.",
        "",
        "| split | samples |",
        "|---|---|",
    ]
    lines += [f"| {s} | {len(v)} |" for s, v in spec.splits.items()]
    lines += [
        "",
        "Validate with `python -m methods.dsdl validate <this folder>`; load with",
        "`methods.dsdl.load_dataset(<this folder>)`.",
    ]
    return "\n".join(lines) + "\n"


def original_names(split: Any) -> list[str]:
    """The original class names of a split's single domain, via its NameInfo global info."""
    domains = list(split.domains.values())
    if len(domains) != 1:
        raise ValueError(f"exporting needs exactly one class domain, found {len(domains)}")
    info = split.global_info()
    mapping = {m.name: m.original_name for m in getattr(info, "name_mapping", None) or []}
    return [mapping.get(c, c) for c in domains[0].classes]
