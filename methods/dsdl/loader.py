"""Load DSDL splits as typed samples: one dataclass per struct, boxes in a chosen mode.

split = load_split("dsdl/set-train/train.yaml", box_mode="xyxy")
sample = split[0]              # ObjectDetectionSample(image=Media(...), objects=[...])
sample.objects[0].bbox.values  # (x1, y1, x2, y2)
sample.objects[0].label        # ClassLabel(domain='ClassDom', index=3, name='dog')
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from methods.dsdl.classdom import ClassDomain
from methods.dsdl.compiler import Compiler, Node
from methods.dsdl.errors import DSDLValidationError, Problem, pointer
from methods.dsdl.fields import LoadContext
from methods.dsdl.geometry import BOX_MODES
from methods.dsdl.media import MediaChecker, MediaResolver
from methods.dsdl.parser import Description, load_description
from methods.dsdl.validate import find_descriptions, global_info_of, samples_of


class Split:
    """One description file's samples, checked on load and typed on access."""

    def __init__(
        self,
        path: str | Path,
        *,
        box_mode: str = "xyxy",
        library_path: str | Path | None = None,
        media_root: str | Path | None = None,
        check_media: bool = False,
        on_error: str = "raise",
    ) -> None:
        if box_mode not in BOX_MODES:
            raise ValueError(f"box_mode must be one of {BOX_MODES}, got {box_mode!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.desc: Description = load_description(path, library_path)
        if self.desc.data.sample_type is None:
            raise ValueError(f"path: {path} has no sample-type to load")
        assert self.desc.path is not None
        self.resolver = MediaResolver.for_description(self.desc.path, media_root)
        self.ctx = LoadContext(box_mode, self.resolver.resolve)
        compiler = Compiler(self.desc)
        self.node: Node = compiler.compile(self.desc.data.sample_type)
        info_type = self.desc.data.global_info_type
        self._info_node = compiler.compile(info_type) if info_type is not None else None
        if compiler.definition_issues:
            code, file, where, message = compiler.definition_issues[0]
            raise DSDLValidationError([Problem(code, where, message, file)])
        source, problem = samples_of(self.desc)
        if problem is not None:
            raise problem.exception()
        raw = source.samples if source is not None else []
        media = MediaChecker(self.resolver) if check_media else None
        self.skipped: list[Problem] = []
        self.raw: list[Any] = []
        for i, sample in enumerate(raw):
            findings: list[Any] = []
            self.node.check(sample, [*source.base, i], findings, media)  # type: ignore[union-attr]
            errors = [
                Problem(code, pointer(*where), message, source.file)  # type: ignore[union-attr]
                for code, where, message, severity in findings
                if severity == "error"
            ]
            if errors and on_error == "raise":
                raise DSDLValidationError(errors)
            if errors:
                self.skipped.extend(errors)
                continue
            self.raw.append(sample)

    @property
    def name(self) -> str:
        """The split's name: meta's 'Subset Name', else the file's stem."""
        assert self.desc.path is not None
        return str(self.desc.meta.get("Subset Name") or self.desc.path.stem)

    @property
    def domains(self) -> dict[str, ClassDomain]:
        return {name: d.domain for name, d in self.desc.domains.items()}

    @property
    def media_root(self) -> Path:
        return self.resolver.root

    def global_info(self) -> Any:
        """The typed global info, or None when the description has none."""
        if self._info_node is None:
            return None
        source, problem = global_info_of(self.desc)
        if problem is not None:
            raise problem.exception()
        if source is None:
            return None
        findings: list[Any] = []
        self._info_node.check(source.samples[0], list(source.base), findings, None)
        errors = [
            Problem(code, pointer(*where), message, source.file)
            for code, where, message, severity in findings
            if severity == "error"
        ]
        if errors:
            raise DSDLValidationError(errors)
        return self._info_node.load(source.samples[0], self.ctx)

    def raw_global_info(self) -> Any:
        source, problem = global_info_of(self.desc)
        if problem is not None:
            raise problem.exception()
        return source.samples[0] if source is not None else None

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> Any:
        return self.node.load(self.raw[index], self.ctx)

    def __iter__(self) -> Iterator[Any]:
        for sample in self.raw:
            yield self.node.load(sample, self.ctx)


def load_split(path: str | Path, **kwargs: Any) -> Split:
    """Load one description file; see `Split` for the options."""
    return Split(path, **kwargs)


def load_dataset(path: str | Path, **kwargs: Any) -> dict[str, Split]:
    """Every split of a converted dataset folder (or one file), by split name."""
    splits: dict[str, Split] = {}
    for file in find_descriptions(path):
        split = Split(file, **kwargs)
        if split.name in splits:
            raise ValueError(f"path: two description files both name split {split.name!r}")
        splits[split.name] = split
    return splits
