"""Tool adapters: Taylor filter pruning of a face-recognition CNN, and importance scores alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool

Criterion = Literal["taylor", "taylor2017", "l1", "random"]
Backbone = Literal["mini_mobilenetv2", "mini_resnet", "squeezenet", "mobilenetv2", "resnet50"]


class PruneArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="mini_mobilenetv2",
        description="A backbone name (mini_mobilenetv2, mini_resnet, squeezenet, mobilenetv2, "
        "resnet50), trained here first, or a path to a file saved by pruning.prune.",
    )
    data: str = Field(
        default="digits",
        description="'digits' (scikit-learn digits 0-6 as identities, 7-9 for verification) or a "
        "folder of identity sub-folders of face images.",
    )
    criterion: Criterion = Field(default="taylor", description="Importance criterion.")
    target: float = Field(default=0.5, gt=0, lt=1, description="Fraction of `unit` to remove.")
    unit: Literal["channels", "filters", "params", "macs"] = Field(default="filters")
    steps: int = Field(default=5, ge=1, le=50, description="Pruning steps.")
    batches_per_step: int = Field(default=10, ge=1, le=1000)
    finetune_batches: int = Field(default=20, ge=0, le=10000)
    final_epochs: int = Field(default=3, ge=0, le=100)
    train_epochs: int = Field(default=20, ge=1, le=200, description="Epochs for a new model.")
    size: int = Field(default=32, ge=12, le=224, description="Image size in px.")
    seed: int = Field(default=0, ge=0)


class CurvePoint(BaseModel):
    step: int
    stage: str
    filters_removed: float
    accuracy: float
    eer: float | None


class PruneToolResult(ToolResult):
    curve: list[CurvePoint]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    latency_ms_before: float
    latency_ms_after: float
    filters_removed: float
    width_correlation: float | None
    model_path: Path


class ScoreArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="A file saved by pruning.prune (pruned_model.pt).")
    data: str = Field(default="digits", description="'digits' or an identity image folder.")
    criterion: Criterion = Field(default="taylor")
    batches: int = Field(default=10, ge=1, le=1000, description="Minibatches to accumulate.")
    size: int = Field(default=32, ge=12, le=224)
    seed: int = Field(default=0, ge=0)


class LayerScores(BaseModel):
    layer: str
    width: int
    mean: float
    min: float


class ScoreResult(ToolResult):
    layers: list[LayerScores]


def _load_data(data: str, size: int, seed: int, channels: int | None = None):
    from methods.pruning import digits_identities, load_image_folder

    if data == "digits":
        known, unseen = digits_identities(size=size), digits_identities((7, 8, 9), size=size)
    else:
        if not Path(data).is_dir():
            raise ValueError(f"data must be 'digits' or a folder of identity folders, got {data!r}")
        full = load_image_folder(data, size=size)
        cut = max(2, int(0.7 * full.n_classes))  # the last 30% of identities are unseen
        known = full.subset((full.labels < cut).nonzero().flatten())
        unseen = full.subset((full.labels >= cut).nonzero().flatten())
        unseen.labels = unseen.labels - cut
    if channels is not None and known.images.shape[1] != channels:
        if known.images.shape[1] == 1:
            known.images = known.images.expand(-1, channels, -1, -1).contiguous()
            unseen.images = unseen.images.expand(-1, channels, -1, -1).contiguous()
        else:
            raise ValueError(
                f"data has {known.images.shape[1]} channels but the model takes {channels}"
            )
    train_set, test_set = known.split(0.3, seed=seed)
    return train_set, test_set, unseen


def _load_model(path: str):
    import torch

    if not Path(path).is_file():
        raise ValueError(f"model {path!r} is neither a backbone name nor a saved model file")
    saved = torch.load(path, weights_only=False)
    if not isinstance(saved, dict) or "model" not in saved or "head" not in saved:
        raise ValueError(f"model {path!r} is not a file saved by pruning.prune")
    return saved["model"], saved["head"]


def _plot(path: Path, title: str, layers) -> Path:
    """Bars of each conv layer's width before (grey) and after (blue) pruning, with Pillow."""
    from PIL import Image, ImageDraw

    n = len(layers)
    bar = max(3, min(16, 900 // max(n, 1)))
    width, height, left, bottom, top = 80 + bar * n, 320, 50, 30, 40
    img = Image.new("RGB", (max(width, 400), height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 10), title, fill="black")
    widest = max(c.width_before for c in layers)
    span = height - top - bottom
    for i, c in enumerate(layers):
        x = left + i * bar
        y_before = height - bottom - span * c.width_before / widest
        y_after = height - bottom - span * c.width_after / widest
        draw.rectangle([x, y_before, x + bar - 2, height - bottom], fill=(200, 200, 200))
        draw.rectangle([x, y_after, x + bar - 2, height - bottom], fill=(31, 119, 180))
    draw.text((5, top), str(widest), fill="black")
    draw.text((left, height - bottom + 8), "conv layers, input to output", fill="black")
    img.save(path)
    return path


@tool("pruning.prune")
def prune_tool(args: PruneArgs, ctx: ToolContext) -> PruneToolResult:
    """Prune a face-recognition CNN's filters by Taylor (or L1/random) importance, with curves."""
    import torch

    from methods.pruning import (
        BACKBONES,
        MarginHead,
        Schedule,
        TrainConfig,
        build_backbone,
        make_importance,
        prune,
        train,
    )

    torch.manual_seed(args.seed)
    if args.model in BACKBONES:
        channels = 1 if args.model.startswith("mini") else 3
        train_set, test_set, unseen = _load_data(args.data, args.size, args.seed, channels)
        channels = train_set.images.shape[1]
        model = build_backbone(args.model, channels)
        head = MarginHead(64, train_set.n_classes)
        ctx.report(0.0, f"training {args.model}")
        train(
            model,
            head,
            train_set,
            TrainConfig(epochs=args.train_epochs, seed=args.seed),
            lambda f, m: ctx.report(0.4 * f, m),
        )
    else:
        model, head = _load_model(args.model)
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        train_set, test_set, unseen = _load_data(args.data, args.size, args.seed, first.in_channels)
        if head.weight.shape[0] != train_set.n_classes:
            raise ValueError(
                f"model {args.model!r} was trained on {head.weight.shape[0]} "
                f"identities but data {args.data!r} has {train_set.n_classes}"
            )
    schedule = Schedule(
        args.target,
        args.unit,
        args.steps,
        args.batches_per_step,
        args.finetune_batches,
        args.final_epochs,
    )
    result = prune(
        model,
        head,
        train_set,
        test_set,
        make_importance(args.criterion),
        schedule,
        verify_data=unseen,
        seed=args.seed,
        progress=lambda f, m: ctx.report(0.4 + 0.6 * f, m),
    )
    out = ctx.artifact_dir / "pruning"
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "pruned_model.pt"
    torch.save({"model": model, "head": head}, model_path)
    plot = _plot(
        out / "layer_widths.png",
        f"{args.criterion}: conv widths before (grey) and after (blue)",
        result.layers,
    )
    curve = [
        CurvePoint(
            step=m.step,
            stage=m.stage,
            filters_removed=m.filters_removed,
            accuracy=m.accuracy,
            eer=m.eer,
        )
        for m in result.curve
    ]
    report = out / "pruning_result.json"
    report.write_text(
        json.dumps(
            {
                "args": args.model_dump(),
                "curve": [c.model_dump() for c in curve],
                "before": vars(result.before),
                "after": vars(result.after),
                "layers": [
                    {"name": c.name, "width_before": c.width_before, "width_after": c.width_after}
                    for c in result.layers
                ],
                "width_correlation": result.width_correlation,
                "mask_max_diff": result.mask_max_diff,
                "seconds": result.seconds,
            },
            indent=2,
        )
    )
    start, final = result.curve[0], result.curve[-1]
    eer = (
        f", EER {100 * start.eer:.1f}% -> {100 * final.eer:.1f}% on unseen identities"
        if final.eer is not None
        else ""
    )
    return PruneToolResult(
        summary=f"{args.criterion} pruning removed {100 * result.filters_removed:.0f}% of conv "
        f"filters ({result.before.params} -> {result.after.params} params); accuracy "
        f"{100 * start.accuracy:.1f}% -> {100 * final.accuracy:.1f}%{eer}.",
        artifacts=[plot, report, model_path],
        curve=curve,
        params_before=result.before.params,
        params_after=result.after.params,
        macs_before=result.before.macs,
        macs_after=result.after.macs,
        latency_ms_before=result.before.latency_ms,
        latency_ms_after=result.after.latency_ms,
        filters_removed=result.filters_removed,
        width_correlation=result.width_correlation,
        model_path=model_path,
    )


@tool("pruning.score")
def score_tool(args: ScoreArgs, ctx: ToolContext) -> ScoreResult:
    """Importance scores of every prunable channel of a saved model, without pruning."""
    import torch
    import torch_pruning as tp

    from methods.pruning import make_importance
    from methods.pruning.train import batches

    model, head = _load_model(args.model)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    train_set, _, _ = _load_data(args.data, args.size, args.seed, first.in_channels)
    importance = make_importance(args.criterion)
    if hasattr(importance, "attach"):
        importance.attach(model)
        generator = torch.Generator().manual_seed(args.seed)
        model.train()
        seen = 0
        while seen < args.batches:
            for x, y in batches(train_set, 64, generator, shift=0):
                model.zero_grad()
                head(model(x), y).backward()
                importance.accumulate()
                seen += 1
                if seen == args.batches:
                    break
        model.eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=train_set.images[:2])
    layers = []
    ignored = [model.head] if hasattr(model, "head") else []
    groups = list(graph.get_all_groups(ignored_layers=ignored, root_module_types=[torch.nn.Conv2d]))
    names = {id(m): n for n, m in model.named_modules()}
    for i, group in enumerate(groups):
        ctx.report(i / len(groups), "scoring")
        s = importance(group)
        if s is None:
            continue
        layers.append(
            LayerScores(
                layer=names[id(group[0].dep.target.module)],
                width=len(s),
                mean=float(s.mean()),
                min=float(s.min()),
            )
        )
    out = ctx.artifact_dir / "pruning"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scores_{args.criterion}.json"
    path.write_text(json.dumps([layer.model_dump() for layer in layers], indent=2))
    lowest = min(layers, key=lambda layer: layer.min)
    return ScoreResult(
        summary=f"{args.criterion} scores for {len(layers)} channel groups; the least important "
        f"channel is in {lowest.layer} (score {lowest.min:.3g}).",
        artifacts=[path],
        layers=layers,
    )
