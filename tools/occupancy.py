"""Tool adapters: train an occupancy network, reconstruct a mesh from an observation, evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool

Task = Literal["pointcloud", "voxels", "image"]
MODEL_FILE = "occupancy/model.pt"


class Metrics(BaseModel):
    iou: float
    chamfer_l1: float
    normal_consistency: float


class TrainArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Task = Field(
        default="pointcloud",
        description="What the encoder reads: 300 noisy surface points, 32^3 voxels, or a "
        "rendered 32x32 image.",
    )
    train_shapes: int = Field(
        default=100, ge=4, le=20_000, description="Training shapes (the benchmark uses 2000)."
    )
    test_shapes: int = Field(default=4, ge=1, le=1000, description="Held-out test shapes.")
    steps: int = Field(
        default=100, ge=1, le=20_000, description="Training steps (~0.4 s each on one CPU thread)."
    )
    batch_size: int = Field(default=16, ge=2, le=256)
    hidden: int = Field(default=64, ge=8, le=512, description="Decoder width.")
    c_dim: int = Field(default=64, ge=8, le=512, description="Size of the shape code.")
    eval_points: int = Field(
        default=20_000, ge=1000, le=100_000, description="IoU and surface points per test shape."
    )
    seed: int = Field(default=0, ge=0)


class TrainResult(ToolResult):
    task: str
    parameters: int
    train_seconds: float
    final_loss: float
    metrics: Metrics
    model_path: Path


class ReconstructArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(
        default=None,
        description=f"A checkpoint from occupancy.train; by default this run's {MODEL_FILE} "
        "(relative paths are looked up in this run's artifact folder first).",
    )
    input_path: str | None = Field(
        default=None,
        description="A .npy observation for the model's task: (N, 3) points, (32, 32, 32) "
        "voxels or a (32, 32) image. By default a new random shape is observed.",
    )
    shape_seed: int = Field(default=123, ge=0, description="Seed of the random shape.")
    threshold: float = Field(default=0.2, gt=0, lt=1, description="Occupancy threshold tau.")
    upsampling_steps: int = Field(default=2, ge=0, le=4, description="MISE refinements.")
    refine_steps: int = Field(
        default=0,
        ge=0,
        le=500,
        description="Steps of the paper's optional mesh refinement on the network's field "
        "(vertices onto the level set, normals along its gradient); 0 skips it.",
    )


class ReconstructResult(ToolResult):
    vertices: int
    faces: int
    points_evaluated: int
    metrics: Metrics | None = Field(description="Scores when the true shape is known.")
    mesh_path: Path
    preview_path: Path


class EvaluateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(
        default=None,
        description=f"A checkpoint from occupancy.train; by default this run's {MODEL_FILE}.",
    )
    test_shapes: int = Field(default=20, ge=1, le=1000)
    eval_points: int = Field(default=100_000, ge=1000, le=100_000)
    seed: int = Field(default=2, ge=0, description="Seed of the test shapes.")


class EvaluateResult(ToolResult):
    task: str
    test_shapes: int
    metrics: Metrics
    oracle_32_iou: float


def _metrics(values: dict[str, float]) -> Metrics:
    return Metrics(**{k: values[k] for k in Metrics.model_fields})


def _model_path(given: str | None, ctx: ToolContext) -> Path:
    """The checkpoint: this run's by default; a relative path is looked up in this run's
    artifact folder first (so a task can name `occupancy/model.pt` before the run exists)."""
    path = Path(given) if given else ctx.artifact_dir / MODEL_FILE
    if given and not path.is_absolute() and (ctx.artifact_dir / path).is_file():
        path = ctx.artifact_dir / path
    if not path.is_file():
        where = "model_path" if given else f"model_path (no {MODEL_FILE} in this run yet)"
        raise FileNotFoundError(f"{where}: no checkpoint at {path}; train one with occupancy.train")
    return path


def _threads() -> None:
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))


@tool("occupancy.train")
def train(args: TrainArgs, ctx: ToolContext) -> TrainResult:
    """Train an occupancy network on procedural shapes and score its meshes (IoU, Chamfer, NC)."""
    from methods.occupancy import (
        ModelConfig,
        OccupancyModel,
        ShapeSet,
        TrainConfig,
        count_parameters,
        evaluate_model,
        random_shapes,
        reconstruct,
        save,
        write_ply,
    )
    from methods.occupancy import preview as draw_preview
    from methods.occupancy import train as fit

    _threads()
    ctx.report(0.0, "generating shapes")
    train_set = ShapeSet(random_shapes(args.train_shapes, args.seed + 1), args.task)
    test_set = ShapeSet(random_shapes(args.test_shapes, args.seed + 2), args.task, seed=1)
    model = OccupancyModel(ModelConfig(task=args.task, hidden=args.hidden, c_dim=args.c_dim))
    history = fit(
        model,
        train_set,
        TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed),
        progress=lambda f, m: ctx.report(0.05 + 0.75 * f, m),
    )
    evaluation = evaluate_model(
        model, test_set, args.eval_points, progress=lambda f, m: ctx.report(0.8 + 0.15 * f, m)
    )
    out = ctx.artifact_dir / "occupancy"
    model_path = save(model, out / "model.pt", {"task": args.task, "steps": args.steps})
    import numpy as np

    observation = test_set.inputs(np.array([0]), np.random.default_rng(0))[0]
    rec = reconstruct(model, observation)
    artifacts = [model_path]
    if rec.mesh is not None:
        artifacts.append(write_ply(rec.mesh, out / "test_shape_0.ply"))
    artifacts.append(
        draw_preview(
            out / "preview.png",
            observation.numpy(),
            rec.mesh,
            test_set.shapes[0],
            title=f"{args.task}: test shape 0",
        )
    )
    metrics = _metrics(evaluation.mean)
    table = out / "metrics.json"
    table.write_text(
        json.dumps(
            {
                "args": args.model_dump(),
                "metrics": evaluation.mean,
                "final_loss": history.tail_loss(),
            },
            indent=2,
        )
    )
    artifacts.append(table)
    ctx.report(1.0, "done")
    return TrainResult(
        summary=(
            f"Trained a {args.task} occupancy network ({args.steps} steps, "
            f"{history.seconds:.0f} s): test IoU {metrics.iou:.3f}, "
            f"Chamfer-L1 {metrics.chamfer_l1:.4f}, normal "
            f"consistency {metrics.normal_consistency:.3f} on {args.test_shapes} shapes; "
            f"checkpoint {MODEL_FILE}; test shape 0 reconstructed from its observation"
            + (" in occupancy/test_shape_0.ply." if rec.mesh is not None else " (no surface).")
        ),
        artifacts=artifacts,
        task=args.task,
        parameters=count_parameters(model),
        train_seconds=history.seconds,
        final_loss=history.tail_loss(),
        metrics=metrics,
        model_path=model_path,
    )


@tool("occupancy.reconstruct")
def reconstruct(args: ReconstructArgs, ctx: ToolContext) -> ReconstructResult:
    """Reconstruct a mesh (MISE + marching cubes) from a point cloud, voxels or an image."""
    import numpy as np
    import torch

    from methods.occupancy import (
        RefineConfig,
        evaluate,
        load,
        load_observation,
        point_cloud,
        random_shape,
        render,
        voxelize,
        write_obj,
        write_ply,
    )
    from methods.occupancy import preview as draw_preview
    from methods.occupancy import reconstruct as extract

    _threads()
    model = load(_model_path(args.model_path, ctx))
    task = model.config.task
    truth = None
    if args.input_path:
        size = model.config.image_size if task == "image" else model.config.voxel_resolution
        observation = load_observation(args.input_path, task, size)
    else:
        rng = np.random.default_rng(args.shape_seed)
        truth = random_shape(rng)
        if task == "pointcloud":
            observation = point_cloud(truth, 300, rng)
        elif task == "voxels":
            observation = voxelize(truth, model.config.voxel_resolution).astype(np.float32)
        else:
            observation = render(truth, model.config.image_size)
    ctx.report(0.2, "extracting the surface")
    refine = RefineConfig(steps=args.refine_steps) if args.refine_steps else None
    rec = extract(
        model, torch.from_numpy(observation), args.threshold, 32, args.upsampling_steps, refine
    )
    if rec.mesh is None:
        raise ValueError(
            f"threshold: the predicted occupancy never crosses {args.threshold}; no surface"
        )
    out = ctx.artifact_dir / "occupancy"
    stem = Path(args.input_path).stem if args.input_path else f"shape_{args.shape_seed}"
    mesh_path = write_ply(rec.mesh, out / f"{stem}.ply")
    obj_path = write_obj(rec.mesh, out / f"{stem}.obj")
    preview_path = draw_preview(out / f"{stem}.png", observation, rec.mesh, truth, title=stem)
    metrics = _metrics(evaluate(rec, truth, n_points=20_000).as_dict()) if truth else None
    scored = (
        f" IoU {metrics.iou:.3f}, Chamfer-L1 {metrics.chamfer_l1:.4f} against the true shape."
        if metrics
        else ""
    )
    refined = f", {args.refine_steps} refinement steps" if refine else ""
    ctx.report(1.0, "done")
    return ReconstructResult(
        summary=(
            f"Reconstructed {stem} from its {task} with MISE ({rec.grid.evaluated} points "
            f"evaluated{refined}): "
            f"{len(rec.mesh.vertices)} vertices, {len(rec.mesh.faces)} faces "
            f"in occupancy/{mesh_path.name}.{scored}"
        ),
        artifacts=[mesh_path, obj_path, preview_path],
        vertices=len(rec.mesh.vertices),
        faces=len(rec.mesh.faces),
        points_evaluated=rec.grid.evaluated,
        metrics=metrics,
        mesh_path=mesh_path,
        preview_path=preview_path,
    )


@tool("occupancy.evaluate")
def evaluate(args: EvaluateArgs, ctx: ToolContext) -> EvaluateResult:
    """Score a trained occupancy network on new procedural test shapes, with the 32^3 oracle."""
    from methods.occupancy import ShapeSet, evaluate_model, load, oracle_iou, random_shapes

    _threads()
    model = load(_model_path(args.model_path, ctx))
    shapes = random_shapes(args.test_shapes, args.seed)
    data = ShapeSet(shapes, model.config.task, seed=args.seed)
    evaluation = evaluate_model(
        model, data, args.eval_points, progress=lambda f, m: ctx.report(0.9 * f, m)
    )
    oracle = oracle_iou(shapes, 32, args.eval_points)
    metrics = _metrics(evaluation.mean)
    path = ctx.artifact_dir / "occupancy" / "evaluation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": evaluation.mean, "oracle_32_iou": oracle}, indent=2))
    ctx.report(1.0, "done")
    return EvaluateResult(
        summary=(
            f"On {args.test_shapes} new shapes the {model.config.task} occupancy network scores "
            f"IoU {metrics.iou:.3f}, Chamfer-L1 {metrics.chamfer_l1:.4f}, NC "
            f"{metrics.normal_consistency:.3f} (exact 32^3 voxels: IoU {oracle:.3f})."
        ),
        artifacts=[path],
        task=model.config.task,
        test_shapes=args.test_shapes,
        metrics=metrics,
        oracle_32_iou=oracle,
    )
