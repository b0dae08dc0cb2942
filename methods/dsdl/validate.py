"""The streaming validator: parse once, compile the sample type once, walk every sample.

report = validate("dsdl/set-train/train.yaml")      # or a converted dataset's folder
print(report.summary())
for problem in report.problems: print(problem)       # class, file#pointer, message
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from methods.dsdl.compiler import Compiler, Finding, Node
from methods.dsdl.errors import Problem, pointer
from methods.dsdl.media import MediaChecker, MediaResolver
from methods.dsdl.parser import Description, parse

Progress = Callable[[float, str], None]


@dataclass
class Report:
    """What validation found: counts, and the problems (the first `max_problems` kept)."""

    files: list[Path] = field(default_factory=list)
    samples: int = 0
    failed_samples: int = 0
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    dropped: int = 0  # problems counted but not kept
    seconds: float = 0.0
    max_problems: int | None = 1000

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.counts.items() if not code.endswith("Warning"))

    @property
    def warnings(self) -> int:
        return sum(n for code, n in self.counts.items() if code.endswith("Warning"))

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def add(self, problem: Problem) -> None:
        self.counts[problem.code] += 1
        if self.max_problems is None or len(self.problems) < self.max_problems:
            self.problems.append(problem)
        else:
            self.dropped += 1

    def summary(self) -> str:
        verdict = "valid" if self.ok else "INVALID"
        head = (
            f"{verdict}: {self.samples} samples in {len(self.files)} file(s), "
            f"{self.failed_samples} failed; {self.errors} error(s), {self.warnings} warning(s)"
        )
        if self.counts:
            head += " (" + ", ".join(f"{c} x{n}" for c, n in self.counts.most_common()) + ")"
        return head

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": [str(f) for f in self.files],
            "samples": self.samples,
            "failed_samples": self.failed_samples,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": dict(self.counts),
            "problems": [p.as_dict() for p in self.problems],
            "dropped": self.dropped,
            "seconds": self.seconds,
        }

    def to_markdown(self) -> str:
        """A check report in the spirit of `dsdl check`: status, counts, then each problem."""
        lines = ["# DSDL validation report", "", f"**{self.summary()}**", ""]
        lines += ["| class | count |", "|---|---|"]
        lines += [f"| {c} | {n} |" for c, n in self.counts.most_common()]
        if self.problems:
            lines += ["", "| class | file | pointer | message |", "|---|---|---|---|"]
            for p in self.problems:
                name = p.file.name if p.file else ""
                lines.append(f"| {p.code} | {name} | `{p.pointer}` | {p.message} |")
        if self.dropped:
            lines += ["", f"({self.dropped} more problems not listed)"]
        return "\n".join(lines) + "\n"


def find_descriptions(path: str | Path) -> list[Path]:
    """The description files a path stands for: itself, or a converted dataset's split files."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"path: {path} is neither a DSDL file nor a folder")
    base = path / "dsdl" if (path / "dsdl").is_dir() else path
    found = sorted(p for p in base.glob("set-*/*") if p.suffix in (".yaml", ".yml"))
    if not found:
        found = sorted(p for p in base.glob("*.y*ml") if _has_data_section(p))
    if not found:
        raise FileNotFoundError(
            f"path: no DSDL description in {path} (expected dsdl/set-<split>/<split>.yaml)"
        )
    return found


def _has_data_section(path: Path) -> bool:
    return any(line.startswith("data:") for line in path.read_text(encoding="utf-8").splitlines())


@dataclass
class SampleSource:
    """Where a description's samples are, and how to point into them."""

    file: Path
    base: tuple[Any, ...]  # the JSON-pointer parts of the samples list in `file`
    samples: list[Any]
    indexed: bool = True  # False for global info: one object, not a list of them


def samples_of(desc: Description) -> tuple[SampleSource | None, Problem | None]:
    """The samples of a parsed description, or the problem that stops reading them."""
    data = desc.data
    assert desc.path is not None
    if data.samples is not None:
        return SampleSource(desc.path, ("data", "samples"), data.samples), None
    if data.sample_path is None:
        return None, None
    try:
        content = json.loads(data.sample_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, Problem(
            "SamplePathError",
            "/data/sample-path",
            f"{data.sample_path.name} is not valid JSON: {exc}",
            desc.path,
        )
    if not isinstance(content, dict) or not isinstance(content.get("samples"), list):
        return None, Problem(
            "SamplePathError",
            "/data/sample-path",
            f'{data.sample_path.name} must hold {{"samples": [...]}}',
            desc.path,
        )
    return SampleSource(data.sample_path, ("samples",), content["samples"]), None


def global_info_of(desc: Description) -> tuple[SampleSource | None, Problem | None]:
    """The global info as a one-item source, or the problem reading it."""
    data = desc.data
    assert desc.path is not None
    if data.global_info_path is None:
        if data.global_info is None:
            return None, None
        return SampleSource(desc.path, ("data", "global-info"), [data.global_info], False), None
    try:
        content = json.loads(data.global_info_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, Problem(
            "SamplePathError", "/data/global-info-path", f"not valid JSON: {exc}", desc.path
        )
    if not isinstance(content, dict) or "global-info" not in content:
        return None, Problem(
            "SamplePathError",
            "/data/global-info-path",
            f'{data.global_info_path.name} must hold {{"global-info": {{...}}}}',
            desc.path,
        )
    return (
        SampleSource(data.global_info_path, ("global-info",), [content["global-info"]], False),
        None,
    )


def validate(
    path: str | Path,
    *,
    library_path: str | Path | None = None,
    media_root: str | Path | None = None,
    aliases: dict[str, str | Path] | None = None,
    check_media: bool = True,
    open_media: bool = False,
    max_problems: int | None = 1000,
    progress: Progress | None = None,
) -> Report:
    """Validate a description file, or every split of a converted dataset folder.

    `check_media` checks that media files exist; `open_media` also opens images and checks
    that LabelMaps are single-channel with values in their domain. Problems are collected
    with their class and JSON pointer; nothing is raised for a wrong dataset.
    """
    if max_problems is not None and max_problems < 0:
        raise ValueError(f"max_problems must be >= 0 or None, got {max_problems}")
    started = time.perf_counter()
    report = Report(max_problems=max_problems)
    files = find_descriptions(path)
    for i, file in enumerate(files):
        report.files.append(file)
        sub = None
        if progress is not None:

            def sub(fraction: float, message: str, i: int = i) -> None:
                progress((i + fraction) / len(files), message)

        _validate_file(
            file, report, library_path, media_root, aliases, check_media, open_media, sub
        )
    report.seconds = time.perf_counter() - started
    return report


def _validate_file(
    file: Path,
    report: Report,
    library_path: str | Path | None,
    media_root: str | Path | None,
    aliases: dict[str, str | Path] | None,
    check_media: bool,
    open_media: bool,
    progress: Progress | None,
) -> None:
    desc = parse(file, library_path)
    for problem in desc.problems:
        report.add(problem)
    if not desc.ok or desc.data.sample_type is None:
        return
    compiler = Compiler(desc)
    node = compiler.compile(desc.data.sample_type, where=(desc.path, "/data/sample-type"))
    info_node = None
    if desc.data.global_info_type is not None:
        info_node = compiler.compile(
            desc.data.global_info_type, where=(desc.path, "/data/global-info-type")
        )
    for code, where_file, where, message in compiler.definition_issues:
        report.add(Problem(code, where, message, where_file))
    if compiler.definition_issues:
        return
    media = None
    if check_media:
        assert desc.path is not None
        media = MediaChecker(
            MediaResolver.for_description(desc.path, media_root, aliases), open_media
        )
    if info_node is not None:
        info, problem = global_info_of(desc)
        if problem:
            report.add(problem)
        elif info is not None:
            _walk(info_node, info, report, media, count=False)
    source, problem = samples_of(desc)
    if problem:
        report.add(problem)
        return
    if source is not None:
        _walk(node, source, report, media, count=True, progress=progress)


def _walk(
    node: Node,
    source: SampleSource,
    report: Report,
    media: MediaChecker | None,
    *,
    count: bool,
    progress: Progress | None = None,
) -> None:
    findings: list[Finding] = []
    path: list[Any] = list(source.base)
    n = len(source.samples)
    step = max(n // 20, 1)
    check = node.check
    indexed = source.indexed
    for i, sample in enumerate(source.samples):
        if indexed:
            path.append(i)
        check(sample, path, findings, media)
        if indexed:
            path.pop()
        if findings:
            failed = False
            for code, where, message, severity in findings:
                failed = failed or severity == "error"
                report.add(Problem(code, pointer(*where), message, source.file, severity))  # type: ignore[arg-type]
            findings.clear()
            if count and failed:
                report.failed_samples += 1
        if progress is not None and i % step == 0:
            progress(i / max(n, 1), f"{i}/{n} samples")
    if count:
        report.samples += n


def iter_samples(desc: Description) -> Iterator[tuple[int, Any]]:
    """(index, raw sample) pairs of a parsed description; a problem reading them raises."""
    source, problem = samples_of(desc)
    if problem is not None:
        raise problem.exception()
    yield from enumerate(source.samples if source else [])
