"""Tool adapters for DSDL: generate, convert, validate, describe, view datasets; emit templates.

Relative paths are looked up in the run's artifact folder first, then from the working
directory. An empty `source`/`path` means the dataset an earlier DSDL tool of the same run
wrote (generate -> convert -> validate/describe/view), recorded in `dsdl/last.json`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool

Format = Literal["coco", "voc", "imagefolder", "segmentation"]
AnyFormat = Literal["auto", "dsdl", "coco", "voc", "imagefolder", "segmentation"]
Task = Literal[
    "classification",
    "detection",
    "semantic-seg",
    "instance-seg-polygon",
    "instance-seg-segmap",
    "panoptic-seg",
    "keypoint",
    "rotated-detection",
    "tracking",
    "ocr-detection",
    "ocr-recognition",
    "ocr-segmap",
    "ocr-end2end",
]
_LAST = "last.json"


def _folder(ctx: ToolContext) -> Path:
    folder = ctx.artifact_dir / "dsdl"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remember(ctx: ToolContext, key: str, path: Path, fmt: str) -> None:
    state_file = _folder(ctx) / _LAST
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    state[key] = {"path": str(path), "format": fmt}
    state_file.write_text(json.dumps(state, indent=1))


def _recall(ctx: ToolContext, key: str, what: str) -> tuple[Path, str]:
    state_file = ctx.artifact_dir / "dsdl" / _LAST
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    if key not in state:
        raise ValueError(f"{what} is empty and no earlier DSDL tool in this run wrote one: give it")
    return Path(state[key]["path"]), state[key]["format"]


def _resolve(ctx: ToolContext, raw: str, argument: str) -> Path:
    candidates = [Path(raw)] if Path(raw).is_absolute() else [ctx.artifact_dir / raw, Path(raw)]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{argument}: {raw!r} does not exist (looked in the run's artifact folder and here)"
    )


def _dataset(ctx: ToolContext, raw: str) -> Path:
    return _resolve(ctx, raw, "path") if raw else _recall(ctx, "converted", "path")[0]


def _rel(ctx: ToolContext, path: Path) -> str:
    try:
        return str(path.relative_to(ctx.artifact_dir))
    except ValueError:
        return str(path)


# ---- dsdl.generate ---------------------------------------------------------------------------


class GenerateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Format = Field(default="coco", description="Which format to write.")
    images: int = Field(default=8, ge=1, le=500, description="Images per split (train, val).")
    seed: int = Field(default=0, ge=0)


class GenerateResult(ToolResult):
    path: Path
    format: str


@tool("dsdl.generate")
def generate(args: GenerateArgs, ctx: ToolContext) -> GenerateResult:
    """Write a small synthetic dataset (drawn shapes with exact annotations) in a given format."""
    from methods.dsdl import generate as gen

    out = _folder(ctx) / "generated" / args.format
    if out.exists():
        raise FileExistsError(f"{_rel(ctx, out)} exists already in this run")
    ctx.report(0.0, f"drawing {args.images} images per split")
    getattr(gen, f"generate_{args.format}")(out, images=args.images, seed=args.seed)
    _remember(ctx, "generated", out, args.format)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    return GenerateResult(
        summary=f"Wrote a synthetic {args.format} dataset ({args.images} images per split, "
        f"train and val; {files} files) to {_rel(ctx, out)}.",
        artifacts=[out],
        path=out,
        format=args.format,
    )


# ---- dsdl.convert ----------------------------------------------------------------------------


class ConvertArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        default="",
        description="Folder to convert; empty: the dataset dsdl.generate wrote in this run.",
    )
    source_format: AnyFormat = Field(default="auto", description="'auto' detects it.")
    target_format: Literal["dsdl", "coco", "voc", "imagefolder", "segmentation"] = "dsdl"
    name: str = Field(default="", max_length=80, description="Dataset name for DSDL meta.")


class ConvertResult(ToolResult):
    path: Path
    source_format: str
    target_format: str
    splits: dict[str, int]


@tool("dsdl.convert")
def convert(args: ConvertArgs, ctx: ToolContext) -> ConvertResult:
    """Convert a dataset between DSDL and COCO, Pascal VOC, ImageFolder or segmentation masks."""
    from methods.dsdl.convert import convert as run
    from methods.dsdl.convert import detect_format

    if args.source:
        source = _resolve(ctx, args.source, "source")
        fmt = args.source_format
    else:
        source, fmt = _recall(ctx, "generated", "source")
        fmt = args.source_format if args.source_format != "auto" else fmt
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt == args.target_format:
        raise ValueError(f"source is already {fmt}; pick another target_format")
    out = _folder(ctx) / "converted" / f"{source.name}-{args.target_format}"
    if out.exists():
        raise FileExistsError(f"{_rel(ctx, out)} exists already in this run")
    ctx.report(0.1, f"converting {fmt} to {args.target_format}")
    run(source, out, src=fmt, dst=args.target_format, name=args.name or None)
    splits = _split_sizes(out, args.target_format)
    if args.target_format == "dsdl":
        _remember(ctx, "converted", out, "dsdl")
    counts = ", ".join(f"{s}: {n}" for s, n in splits.items())
    return ConvertResult(
        summary=f"Converted {fmt} {_rel(ctx, source)} to {args.target_format} at "
        f"{_rel(ctx, out)} ({counts} samples).",
        artifacts=[out],
        path=out,
        source_format=fmt,
        target_format=args.target_format,
        splits=splits,
    )


def _split_sizes(out: Path, fmt: str) -> dict[str, int]:
    if fmt == "dsdl":
        sizes = {}
        for f in sorted((out / "dsdl").glob("set-*/*_samples.json")):
            sizes[f.parent.name[4:]] = len(json.loads(f.read_text())["samples"])
        return sizes
    if fmt == "coco":
        return {
            f.stem[len("instances_") :]: len(json.loads(f.read_text())["images"])
            for f in sorted((out / "annotations").glob("instances_*.json"))
        }
    if fmt == "voc":
        return {
            f.stem: len(f.read_text().split())
            for f in sorted((out / "ImageSets" / "Main").glob("*.txt"))
        }
    sub = "images" if fmt == "segmentation" else "*"
    return {
        d.name: sum(1 for p in d.glob(f"{sub}/*") if p.is_file())
        for d in sorted(out.iterdir())
        if d.is_dir()
    }


# ---- dsdl.validate ---------------------------------------------------------------------------


class ValidateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        default="",
        description="A DSDL file or converted dataset folder; empty: the one dsdl.convert "
        "wrote in this run.",
    )
    check_media: bool = Field(default=True, description="Check that media files exist.")
    open_media: bool = Field(
        default=False, description="Also open images; LabelMaps must be single-channel."
    )


class ProblemOut(BaseModel):
    code: str
    severity: str
    file: str | None
    pointer: str
    message: str


class ValidateResult(ToolResult):
    ok: bool
    samples: int
    failed_samples: int
    errors: int
    warnings: int
    counts: dict[str, int]
    problems: list[ProblemOut] = Field(description="The first 20 problems.")


@tool("dsdl.validate")
def validate(args: ValidateArgs, ctx: ToolContext) -> ValidateResult:
    """Validate a DSDL dataset: definitions, every sample's fields, labels and media files."""
    from methods.dsdl.validate import validate as run

    path = _dataset(ctx, args.path)
    report = run(
        path,
        check_media=args.check_media,
        open_media=args.open_media,
        progress=lambda f, m: ctx.report(f, m),
    )
    folder = _folder(ctx)
    (folder / "validation.md").write_text(report.to_markdown(), encoding="utf-8")
    (folder / "validation.json").write_text(json.dumps(report.as_dict(), indent=1))
    first = "; ".join(str(p) for p in report.problems[:2])
    return ValidateResult(
        summary=report.summary().split(" (")[0] + (f". First: {first}" if first else "."),
        artifacts=[folder / "validation.md", folder / "validation.json"],
        ok=report.ok,
        samples=report.samples,
        failed_samples=report.failed_samples,
        errors=report.errors,
        warnings=report.warnings,
        counts=dict(report.counts),
        problems=[ProblemOut(**p.as_dict()) for p in report.problems[:20]],  # type: ignore[arg-type]
    )


# ---- dsdl.describe ---------------------------------------------------------------------------


class DescribeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        default="",
        description="A converted dataset folder or DSDL file; empty: the one dsdl.convert "
        "wrote in this run.",
    )


class DescribeResult(ToolResult):
    samples: int
    splits: dict[str, int]
    objects: int
    class_histogram: dict[str, int]
    boxes: dict[str, dict[str, float]]


@tool("dsdl.describe")
def describe(args: DescribeArgs, ctx: ToolContext) -> DescribeResult:
    """Describe a DSDL dataset: samples per split, class histogram (plot), box-size statistics."""
    from methods.dsdl.stats import describe as run
    from methods.dsdl.stats import histogram_png

    path = _dataset(ctx, args.path)
    ctx.report(0.1, "loading samples")
    stats = run(path)
    folder = _folder(ctx)
    plot = histogram_png(stats, folder / "class_histogram.png", title=f"{path.name}: classes")
    data: dict[str, Any] = stats.as_dict()
    (folder / "stats.json").write_text(json.dumps(data, indent=1))
    top = stats.histogram.most_common(1)
    common = f"; most frequent class {top[0][0]} ({top[0][1]})" if top else ""
    return DescribeResult(
        summary=f"{stats.samples} samples ("
        + ", ".join(f"{s}: {n}" for s, n in stats.splits.items())
        + f"), {stats.objects} boxes, {len(stats.classes)} classes{common}.",
        artifacts=[plot, folder / "stats.json"],
        samples=stats.samples,
        splits=stats.splits,
        objects=stats.objects,
        class_histogram=data["class_histogram"],
        boxes=data["boxes"],
    )


# ---- dsdl.ingest -----------------------------------------------------------------------------


class IngestArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=400,
        description="A dataset folder (COCO, VOC, ImageFolder or masks layout), or "
        "'synthetic:coco' (or :voc, :imagefolder, :segmentation) to draw a small one first.",
    )
    source_format: AnyFormat = Field(default="auto", description="'auto' detects it.")
    images: int = Field(default=8, ge=1, le=500, description="Images per split if synthetic.")


class IngestResult(ToolResult):
    path: Path
    ok: bool
    samples: int
    errors: int
    classes: int
    objects: int


def _stage(ctx: ToolContext, lo: float, hi: float) -> ToolContext:
    """The same context with progress mapped into [lo, hi] of the whole call."""
    return dataclasses.replace(
        ctx, progress=lambda f, m: ctx.progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), m)
    )


@tool("dsdl.ingest")
def ingest(args: IngestArgs, ctx: ToolContext) -> IngestResult:
    """Bring a dataset into DSDL in one call: convert it, validate every sample, describe it."""
    if args.source.startswith("synthetic:"):
        fmt = args.source.partition(":")[2]
        if fmt not in ("coco", "voc", "imagefolder", "segmentation"):
            raise ValueError(f"source: no synthetic format {fmt!r} (coco, voc, imagefolder, ...)")
        gen_args = GenerateArgs(format=fmt, images=args.images)  # type: ignore[arg-type]
        generate(gen_args, _stage(ctx, 0.0, 0.2))
        source, source_format = "", args.source_format
    else:
        source, source_format = args.source, args.source_format
    converted = convert(
        ConvertArgs(source=source, source_format=source_format), _stage(ctx, 0.2, 0.5)
    )
    path = str(converted.path)
    checked = validate(ValidateArgs(path=path, open_media=True), _stage(ctx, 0.5, 0.8))
    described = describe(DescribeArgs(path=path), _stage(ctx, 0.8, 1.0))
    return IngestResult(
        summary=f"{converted.summary} {checked.summary} {described.summary}",
        artifacts=[*converted.artifacts, *checked.artifacts, *described.artifacts],
        path=converted.path,
        ok=checked.ok,
        samples=checked.samples,
        errors=checked.errors,
        classes=len(described.class_histogram),
        objects=described.objects,
    )


# ---- dsdl.view -------------------------------------------------------------------------------


class ViewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(default="", description="Dataset; empty: the one converted in this run.")
    n: int = Field(default=4, ge=1, le=32, description="How many samples to draw.")
    split: str = Field(default="", description="Which split; empty: the first.")


class ViewResult(ToolResult):
    images: list[Path]


@tool("dsdl.view")
def view(args: ViewArgs, ctx: ToolContext) -> ViewResult:
    """Draw samples of a DSDL dataset with their boxes, polygons and masks as PNG files."""
    from methods.dsdl.view import view as run

    path = _dataset(ctx, args.path)
    written = run(path, _folder(ctx) / "view", n=args.n, split=args.split or None)
    return ViewResult(
        summary=f"Drew {len(written)} samples of {path.name} to dsdl/view/.",
        artifacts=written,
        images=written,
    )


# ---- dsdl.template ---------------------------------------------------------------------------


class TemplateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Task = Field(default="detection", description="Which task's template.")


class TemplateResult(ToolResult):
    task: str
    sample_type: str
    params: list[str]
    text: str


@tool("dsdl.template")
def template(args: TemplateArgs, ctx: ToolContext) -> TemplateResult:
    """Write the DSDL template (struct definitions) for a task: detection, segmentation, OCR..."""
    from methods.dsdl.templates import template as find
    from methods.dsdl.templates import write_template

    t = find(args.task)
    path = write_template(args.task, _folder(ctx) / "templates", f"{args.task}.yaml")
    params = ", ".join(t.params) or "no class-domain parameters"
    return TemplateResult(
        summary=f"Wrote the {t.task} template to {_rel(ctx, path)}: sample type "
        f"{t.sample_type} ({params}).",
        artifacts=[path],
        task=t.task,
        sample_type=t.sample_type,
        params=list(t.params),
        text=t.text,
    )
