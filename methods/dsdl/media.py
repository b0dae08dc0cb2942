"""Media locators: where a relative path, '$alias/...' or '::domain::id' points, and checks.

The media root comes from the caller, or from the dataset's `config.py` (the SDK's
`local = dict(type="LocalFileReader", working_dir=...)`), read with `ast` and never executed;
a relative `working_dir` is taken from the folder of `config.py`. Without either, media paths
are relative to the description file.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from methods.dsdl.fields import FieldType

Finding = tuple[str, tuple[Any, ...], str, str]
SINGLE_CHANNEL_MODES = ("L", "P", "I", "I;16", "1")


def find_config(start: Path, levels: int = 3) -> Path | None:
    """The nearest `config.py` in `start` or up to `levels` folders above it."""
    folder = start if start.is_dir() else start.parent
    for _ in range(levels + 1):
        candidate = folder / "config.py"
        if candidate.is_file():
            return candidate
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def read_config_root(config: Path) -> Path | None:
    """`working_dir` of the LocalFileReader in an SDK config.py, parsed, not executed."""
    tree = ast.parse(config.read_text(encoding="utf-8"), filename=str(config))
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Name) and call.func.id == "dict"):
            continue
        try:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
        except ValueError:
            continue
        if kwargs.get("type") == "LocalFileReader" and isinstance(kwargs.get("working_dir"), str):
            working = Path(kwargs["working_dir"])
            return working if working.is_absolute() else (config.parent / working).resolve()
    return None


@dataclass
class MediaResolver:
    """Turns locators into paths: `root` for relative ones, `aliases` for '$alias/...'."""

    root: Path
    aliases: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def for_description(
        cls,
        description: Path,
        media_root: str | Path | None = None,
        aliases: dict[str, str | Path] | None = None,
    ) -> MediaResolver:
        if media_root is not None:
            root = Path(media_root)
            if not root.is_dir():
                raise FileNotFoundError(f"media_root: {root} is not a folder")
        else:
            config = find_config(description)
            found = read_config_root(config) if config else None
            root = found if found is not None else description.parent
        return cls(root, {k: Path(v) for k, v in (aliases or {}).items()})

    def resolve(self, locator: str) -> Path | None:
        """The file a locator names; None for '::domain::id' registry locators."""
        if locator.startswith("::"):
            return None
        if locator.startswith("$"):
            alias, _, rest = locator[1:].partition("/")
            base = self.aliases.get(alias)
            return None if base is None else base / rest
        path = Path(locator)
        return path if path.is_absolute() else self.root / path


class MediaChecker:
    """The validator's media hook: existence, and on request that files open as they should."""

    def __init__(self, resolver: MediaResolver, open_media: bool = False) -> None:
        self.resolver = resolver
        self.open_media = open_media
        self._exists: dict[str, bool] = {}

    def __call__(
        self, ft: FieldType, value: Any, path: tuple[Any, ...], out: list[Finding]
    ) -> None:
        locator = value["$loc"] if isinstance(value, dict) else value
        if locator.startswith("::"):
            out.append(
                (
                    "UnresolvedLocatorWarning",
                    path,
                    f"{locator!r} names a media registry; it cannot be checked offline",
                    "warning",
                )
            )
            return
        if locator.startswith("$") and locator[1:].partition("/")[0] not in self.resolver.aliases:
            alias = locator[1:].partition("/")[0]
            out.append(
                (
                    "MediaNotFoundError",
                    path,
                    f"{locator!r} uses alias ${alias}, which is not given (aliases={{...}})",
                    "error",
                )
            )
            return
        target = self.resolver.resolve(locator)
        assert target is not None
        key = str(target)
        exists = self._exists.get(key)
        if exists is None:
            exists = self._exists[key] = os.path.isfile(key)
        if not exists:
            out.append(
                (
                    "MediaNotFoundError",
                    path,
                    f"{ft.name} {locator!r} does not exist under {self.resolver.root}",
                    "error",
                )
            )
            return
        if self.open_media:
            problem = open_problem(ft, target)
            if problem:
                out.append(("MediaFormatError", path, problem, "error"))


def open_problem(ft: FieldType, target: Path) -> str | None:
    """Why an image-like media file is not what its field says; None when it is fine."""
    if ft.name not in ("Image", "LabelMap", "InstanceMap"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(target) as img:
            img.load()
            mode = img.mode
            pixels = np.asarray(img) if ft.name == "LabelMap" else None
    except (UnidentifiedImageError, OSError) as exc:
        return f"{ft.name} {target.name} does not open as an image: {exc}"
    if ft.name != "LabelMap":
        return None
    if mode not in SINGLE_CHANNEL_MODES:
        return f"LabelMap {target.name} has mode {mode}; it must be single-channel (L, P or I)"
    dom = ft.domain
    if dom is not None and pixels is not None:
        values = np.unique(pixels)
        # 0 is unlabelled and 255 the usual 'ignore' value; 1..n are the domain's classes.
        bad = [int(v) for v in values if not (v == 0 or v == 255 or 1 <= v <= len(dom))]
        if bad:
            return (
                f"LabelMap {target.name} has values {bad[:5]} outside domain {dom.name} "
                f"(1..{len(dom)}, 0 unlabelled, 255 ignored)"
            )
    return None
