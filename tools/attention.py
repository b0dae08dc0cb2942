"""Tool adapters for the visual attention library: the catalog, the head-to-head, attention maps."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool

Category = Literal[
    "channel",
    "spatial",
    "self",
    "arithmetic",
    "multi-modal",
    "logical",
    "category-based",
    "statistical",
    "gaussian",
    "clustering",
]


class CatalogArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category | None = Field(default=None, description="Only this survey category.")
    query: str = Field(
        default="", max_length=80, description="Text to match in name/paper/formula."
    )
    implemented_only: bool = Field(default=False, description="Only techniques Ponder implements.")


class CatalogResult(ToolResult):
    count: int
    implemented: int
    rows: list[dict]


@tool("attention.catalog")
def attention_catalog(args: CatalogArgs, ctx: ToolContext) -> CatalogResult:
    """List the attention survey's techniques by category, with paper, formula and module name."""
    from methods.attention.catalog import catalog

    found = catalog(args.category, True if args.implemented_only else None, args.query)
    rows = [t.row() for t in found]
    out = ctx.artifact_dir / "attention"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "catalog.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["name"])
        writer.writeheader()
        writer.writerows(rows)
    implemented = sum(r["implemented"] is not None for r in rows)
    names = ", ".join(r["implemented"] or r["name"] for r in rows[:8])
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return CatalogResult(
        summary=f"{len(rows)} attention techniques match ({implemented} implemented): "
        f"{names}{more}. Table in attention/catalog.csv.",
        artifacts=[path],
        count=len(rows),
        implemented=implemented,
        rows=rows,
    )


class CompareArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modules: list[str] = Field(
        default_factory=lambda: ["se", "cbam"],
        min_length=1,
        max_length=8,
        description="Registered module names to compare against the plain ResNet-8 "
        "(attention.catalog lists them).",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=5)
    train: int = Field(
        default=2000, ge=64, le=20000, description="Training canvases per epoch (fresh each epoch)."
    )
    test: int = Field(default=300, ge=32, le=5000, description="Test canvases per seed.")
    epochs: int = Field(default=3, ge=1, le=30)


class CompareToolResult(ToolResult):
    rows: list[dict]


@tool("attention.compare")
def attention_compare(args: CompareArgs, ctx: ToolContext) -> CompareToolResult:
    """Train a ResNet-8 with and without each attention module on cluttered digits; compare."""
    from methods.attention.experiment import BASELINE, CompareConfig, compare
    from methods.attention.registry import entry
    from methods.attention.visualize import bar_chart

    for name in args.modules:
        entry(name)  # an unknown name fails here, with the known names in the message
    # Validation canvases only trace the training curve here; as many as the test ones.
    config = CompareConfig(train=args.train, val=args.test, test=args.test, epochs=args.epochs)
    result = compare(args.modules, args.seeds, config, progress=ctx.report)
    rows = result.summary()
    out = ctx.artifact_dir / "attention"
    out.mkdir(parents=True, exist_ok=True)
    table = out / "compare.json"
    table.write_text(
        json.dumps({"config": asdict(config), "seeds": args.seeds, "rows": rows}, indent=2)
    )
    chart = out / "compare_accuracy.png"
    base = next(r["accuracy"] for r in rows if r["module"] == BASELINE)
    bar_chart(
        [r["module"] for r in rows],
        [r["accuracy"] for r in rows],
        [r["accuracy_std"] for r in rows],
        title=f"cluttered digits test accuracy (%), seeds {args.seeds}; red: baseline",
        reference=base,
    ).save(chart)
    parts = [
        f"{r['module']} {100 * r['accuracy']:.1f}% ({r['delta_pp']:+.1f} pp)"
        for r in rows
        if r["module"] != BASELINE
    ]
    return CompareToolResult(
        summary=f"Cluttered digits, ResNet-8 baseline {100 * base:.1f}%: {'; '.join(parts)}. "
        "Table in attention/compare.json, chart in attention/compare_accuracy.png.",
        artifacts=[table, chart],
        rows=rows,
    )


class VisualizeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str = Field(default="cbam", description="A registered module with a spatial map.")
    images: int = Field(default=8, ge=1, le=32, description="How many test canvases to show.")
    train: int = Field(
        default=2000, ge=64, le=20000, description="Training canvases per epoch (fresh each epoch)."
    )
    epochs: int = Field(default=3, ge=1, le=30)
    seed: int = 0


class VisualizeResult(ToolResult):
    accuracy: float
    peak_in_box: float | None


@tool("attention.visualize")
def attention_visualize(args: VisualizeArgs, ctx: ToolContext) -> VisualizeResult:
    """Train a ResNet-8 with an attention module and draw its maps on test images as PNG."""
    from methods.attention.data import make_cluttered, split_sources, split_validation
    from methods.attention.experiment import (
        CompareConfig,
        build_model,
        epoch_data,
        evaluate,
        train,
    )
    from methods.attention.registry import entry
    from methods.attention.visualize import overlay_grid, spatial_maps

    entry(args.module)
    config = CompareConfig(train=args.train, epochs=args.epochs)
    train_src, test_src = split_sources(args.seed)
    ctx.report(0.05, "generating cluttered digits")
    data = epoch_data(split_validation(train_src, args.seed)[0], args.seed, config)
    test = make_cluttered(max(args.images, 200), test_src, args.seed + 1000)
    model, inserted = build_model(args.module, args.seed, config)
    steps = config.epochs * -(-config.train // config.batch)
    done = [0]

    def step() -> None:
        done[0] += 1
        if done[0] % 5 == 0:
            ctx.report(0.1 + 0.8 * done[0] / steps, f"training step {done[0]}/{steps}")

    train(model, data, config, args.seed, on_batch=step)
    accuracy, peak = evaluate(model, test, inserted)
    maps = spatial_maps(model, test.images[: args.images])
    if not maps:
        raise ValueError(
            f"module {args.module!r} has only channel weights, no spatial map to draw; "
            "choose one with a spatial map (e.g. cbam, nonlocal, criss_cross)"
        )
    out = ctx.artifact_dir / "attention"
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in inserted:
        if name in maps:
            path = out / f"maps_{args.module}_{name.replace('.', '_')}.png"
            overlay_grid(test.images[: args.images], maps[name], test.boxes[: args.images]).save(
                path
            )
            paths.append(path)
    peak_text = "" if peak is None else f"; finest map peaks inside the digit box on {peak:.0%}"
    return VisualizeResult(
        summary=f"{args.module} ResNet-8: test accuracy {accuracy:.1%}{peak_text}. "
        f"Maps of {len(paths)} modules on {args.images} images in attention/.",
        artifacts=paths,
        accuracy=accuracy,
        peak_in_box=peak,
    )
