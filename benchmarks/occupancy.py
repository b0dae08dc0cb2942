"""Occupancy Networks against a 32^3 voxel decoder on procedural shapes; MISE; metric exactness.

    python -m benchmarks.occupancy [--quick] [--steps N | --minutes M] [--tasks pointcloud ...]

Point-cloud completion (300 noisy points -> shape) is the thesis: the occupancy network and
a baseline with the same encoder and a 3D up-convolution decoder emitting 32^3 logits, at
(nearly) equal parameters and exactly equal steps, batches and sampled points. Also: the
oracle 32^3 ceiling, MISE against dense extraction on the trained network, the pipeline on
an exact sphere, and (with --tasks) voxel super-resolution and single-image reconstruction.
With --minutes the occupancy network trains for that long and the baseline for as many steps;
--onet-only skips the baseline (the absolute bars alone). Fixed seeds; PONDER_THREADS torch
threads (default one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.occupancy.data import ShapeSet
from methods.occupancy.experiment import (
    evaluate_model,
    input_voxel_iou,
    mise_check,
    oracle_iou,
)
from methods.occupancy.export import preview
from methods.occupancy.metrics import mean_scores, scores
from methods.occupancy.models import (
    ModelConfig,
    OccupancyModel,
    count_parameters,
    matched_grid_config,
)
from methods.occupancy.reconstruct import field_scores, reconstruct
from methods.occupancy.refine import RefineConfig
from methods.occupancy.shapes import random_shapes, sphere_shape, uniform_points
from methods.occupancy.train import TrainConfig, load, save, train

SEED = 0
TRAIN_SEED, TEST_SEED = 1, 2


def _progress(label: str):
    def report(fraction: float, message: str) -> None:
        end = "\n" if fraction >= 1 else ""
        print(f"\r  {label}: {message:<50}", end=end, file=sys.stderr, flush=True)

    return report


def run_pair(
    task: str, train_set: ShapeSet, test_set: ShapeSet, args: argparse.Namespace
) -> dict[str, Any]:
    """Train the occupancy network and the matched grid baseline; score both on the test set."""
    onet_config = ModelConfig(task=task, hidden=args.hidden, c_dim=args.c_dim)
    configs = {"onet": onet_config}
    if task == "pointcloud" and not args.onet_only:
        configs["grid32"] = matched_grid_config(onet_config)
    timed = task == "pointcloud" and args.minutes is not None
    schedule = TrainConfig(
        steps=10**9 if timed else args.steps if task == "pointcloud" else args.extra_steps,
        batch_size=args.batch,
        points_per_shape=1024,
        lr=args.lr,
        seed=SEED,
        max_seconds=60 * args.minutes if timed else None,
    )
    out: dict[str, Any] = {"task": task, "models": {}}
    trained = {}
    for name, config in configs.items():
        torch.manual_seed(SEED)
        model = OccupancyModel(config)
        history = train(model, train_set, schedule, _progress(f"{task} {name} train"))
        # Every later model gets exactly the steps the first one took, without a clock.
        schedule = replace(schedule, steps=history.steps, max_seconds=None)
        out["steps"] = history.steps
        if args.checkpoints is not None:
            save(model, args.checkpoints / f"{task}_{name}.pt", {"steps": history.steps})
        evaluation = evaluate_model(
            model, test_set, args.points, seed=SEED, progress=_progress(f"{task} {name} eval")
        )
        trained[name] = model
        out["models"][name] = {
            "parameters": count_parameters(model),
            "steps": history.steps,
            "train_s": history.seconds,
            "final_loss": history.tail_loss(),
            "eval_s_per_shape": evaluation.seconds_per_shape,
            **evaluation.mean,
        }
    out["trained"] = trained
    return out


def previews(models: dict[str, OccupancyModel], data: ShapeSet, out: Path) -> None:
    """input | prediction | truth for the first test shape, one PNG per model."""
    rng = np.random.default_rng(SEED)
    for name, model in models.items():
        for i in range(min(1, len(data))):
            observation = data.inputs(np.array([i]), rng)[0]
            rec = reconstruct(model, observation)
            preview(
                out / f"occupancy_{name}_shape{i}.png",
                observation.numpy(),
                rec.mesh,
                data.shapes[i],
                title=f"{name}, test shape {i}",
            )


def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The run's arguments as JSON values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def refinement_check(
    model: OccupancyModel, test_set: ShapeSet, args: argparse.Namespace
) -> dict[str, Any]:
    """The first --refine-shapes test shapes with and without the paper's mesh refinement
    (default RefineConfig); IoU is the network's own occupancy, so only the surface moves."""
    out: dict[str, Any] = {"shapes": args.refine_shapes, "config": vars(RefineConfig())}
    for name, refine in (("marching_cubes", None), ("refined", RefineConfig())):
        evaluation = evaluate_model(
            model,
            test_set,
            args.points,
            seed=SEED,
            progress=_progress(f"refinement check ({name})"),
            refine=refine,
            count=args.refine_shapes,
        )
        out[name] = {"eval_s_per_shape": evaluation.seconds_per_shape, **evaluation.mean}
    return out


def refine_from(args: argparse.Namespace) -> dict[str, Any]:
    """Only the refinement check, on a saved point-cloud occupancy network."""
    started = time.perf_counter()
    model = load(args.refine_from)
    if model.config.task != "pointcloud":
        raise ValueError(f"--refine-from: expected a point-cloud model, got {model.config.task}")
    test_set = ShapeSet(random_shapes(args.test_shapes, TEST_SEED), "pointcloud", seed=TEST_SEED)
    check = refinement_check(model, test_set, args)
    print_refinement(check)
    result = {
        "benchmark": "occupancy_refine",
        "seed": SEED,
        "args": _arguments(args),
        "refinement": check,
        "runtime_s": time.perf_counter() - started,
    }
    print(f"wrote {write_json(result, args.out, 'occupancy_refine')}")
    return result


def print_refinement(check: dict[str, Any]) -> None:
    print(f"\nmesh refinement on {check['shapes']} test shapes ({check['config']['steps']} steps):")
    for name in ("marching_cubes", "refined"):
        r = check[name]
        print(
            f"  {name:<15} IoU {r['iou']:.3f}  Chamfer-L1 {r['chamfer_l1']:.4f}  "
            f"NC {r['normal_consistency']:.3f}  {r['eval_s_per_shape']:.1f} s/shape"
        )


def nearest_shape_baseline(
    train_set: ShapeSet, test_set: ShapeSet, n_points: int
) -> dict[str, float]:
    """Single-image baseline: predict the training shape whose image is closest (L2)."""
    train_images = train_set.pool.reshape(len(train_set), -1)
    results = []
    for i, shape in enumerate(test_set.shapes):
        j = int(np.argmin(((train_images - test_set.pool[i].reshape(1, -1)) ** 2).sum(1)))
        rng = np.random.default_rng(SEED + i)
        points = uniform_points(n_points, rng)
        truth = shape.sample_surface(n_points, rng)
        guess = train_set.shapes[j]
        results.append(
            scores(
                guess.occupancy(points),
                shape.occupancy(points),
                guess.sample_surface(n_points, rng),
                truth,
            )
        )
    return mean_scores(results)


def print_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    header = f"{'model':<28} {'params':>8} {'IoU':>7} {'Chamfer-L1':>11} {'NC':>7} {'train s':>8}"
    print(header)
    print("-" * len(header))
    for name, r in rows:
        params = f"{r['parameters']:>8d}" if "parameters" in r else f"{'-':>8}"
        train_s = f"{r['train_s']:>8.0f}" if "train_s" in r else f"{'-':>8}"
        chamfer = f"{r['chamfer_l1']:>11.4f}" if "chamfer_l1" in r else f"{'-':>11}"
        nc = f"{r['normal_consistency']:>7.3f}" if "normal_consistency" in r else f"{'-':>7}"
        print(f"{name:<28} {params} {r['iou']:>7.3f} {chamfer} {nc} {train_s}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["pointcloud"], choices=["pointcloud", "voxels", "image"]
    )
    parser.add_argument("--train-shapes", type=int, default=2000)
    parser.add_argument(
        "--test-shapes", type=int, default=100, help="the issue says 200; 100 fit 10 minutes"
    )
    parser.add_argument("--steps", type=int, default=1200, help="point-cloud training steps")
    parser.add_argument(
        "--minutes",
        type=float,
        help="train the point-cloud occupancy network for this long instead of --steps "
        "(the issue's absolute bars allow 60); the baseline then trains for as many steps",
    )
    parser.add_argument(
        "--checkpoints", type=Path, help="save each trained model here as <task>_<model>.pt"
    )
    parser.add_argument(
        "--refine-shapes",
        type=int,
        default=20,
        help="test shapes scored with and without mesh refinement (0 skips the check)",
    )
    parser.add_argument(
        "--refine-from",
        type=Path,
        help="only run the refinement check, on this saved point-cloud model",
    )
    parser.add_argument(
        "--onet-only",
        action="store_true",
        help="train no 32^3 baseline: only the occupancy network's absolute bars are checked",
    )
    parser.add_argument("--extra-steps", type=int, default=300, help="voxel/image steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="Adam's first rate (cosine down to 1e-4)"
    )
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--c-dim", type=int, default=64)
    parser.add_argument(
        "--points", type=int, default=30_000, help="IoU and surface points (the paper: 100k)"
    )
    parser.add_argument("--mise-shapes", type=int, default=2)
    parser.add_argument("--mise-resolution", type=int, default=32, help="MISE's first grid")
    parser.add_argument("--quick", action="store_true", help="a smoke run in well under a minute")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_shapes, args.test_shapes = min(args.train_shapes, 64), min(args.test_shapes, 4)
        args.steps, args.extra_steps = min(args.steps, 20), min(args.extra_steps, 10)
        args.minutes = None if args.minutes is None else min(args.minutes, 0.1)
        args.points, args.mise_shapes = min(args.points, 5000), min(args.mise_shapes, 1)
        args.mise_resolution = 16  # dense 64^3 instead of 128^3
        args.refine_shapes = min(args.refine_shapes, 1)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    if args.refine_from is not None:
        return refine_from(args)
    started = time.perf_counter()
    train_shapes = random_shapes(args.train_shapes, TRAIN_SEED)
    test_shapes = random_shapes(args.test_shapes, TEST_SEED)
    result: dict[str, Any] = {
        "benchmark": "occupancy",
        "seed": SEED,
        "args": _arguments(args),
        "threads": torch.get_num_threads(),
    }
    rows: list[tuple[str, dict[str, float]]] = []
    checks: list[Target] = []

    # Metric exactness: the pipeline (MISE, marching cubes, metrics) on an exact sphere.
    sphere = sphere_shape(0.35)
    _, exact = field_scores(
        lambda p: -sphere.sdf(p), sphere, 0.0, SEED, 100_000 if not args.quick else args.points
    )
    result["sphere"] = exact.as_dict()
    checks += [
        at_least("sphere pipeline IoU", exact.iou, 0.99),
        at_most("sphere pipeline Chamfer-L1", exact.chamfer_l1, 0.005),
        at_least("sphere pipeline normal consistency", exact.normal_consistency, 0.99),
    ]

    oracle = oracle_iou(test_shapes, 32, args.points)
    result["oracle_32_iou"] = oracle
    rows.append(("oracle 32^3 (exact cells)", {"iou": oracle}))

    if "pointcloud" in args.tasks:
        train_set = ShapeSet(train_shapes, "pointcloud", seed=TRAIN_SEED)
        test_set = ShapeSet(test_shapes, "pointcloud", seed=TEST_SEED)
        pair = run_pair("pointcloud", train_set, test_set, args)
        onet = pair["models"]["onet"]
        rows.append(("points: ONet (CBN decoder)", onet))
        previews(pair["trained"], test_set, args.out)
        onet_model = pair.pop("trained")["onet"]
        check = mise_check(onet_model, test_set, args.mise_shapes, SEED, args.mise_resolution)
        if args.refine_shapes:
            result["refinement"] = refinement_check(onet_model, test_set, args)
        result["pointcloud"] = pair
        result["mise"] = vars(check)
        if "grid32" in pair["models"]:
            grid = pair["models"]["grid32"]
            rows.append(("points: 32^3 up-conv decoder", grid))
            ratio = onet["parameters"] / grid["parameters"]
            checks += [
                at_least("ONet IoU - grid IoU", onet["iou"] - grid["iou"], 0.03),
                at_least(
                    "ONet NC - grid NC",
                    onet["normal_consistency"] - grid["normal_consistency"],
                    0.02,
                ),
                at_most("parameter ratio |ONet/grid - 1|", abs(ratio - 1), 0.2),
            ]
        checks += [
            at_least("ONet IoU (absolute)", onet["iou"], 0.75),
            at_most("ONet Chamfer-L1 (absolute)", onet["chamfer_l1"], 0.02),
            at_most("MISE share of 129^3 points evaluated", check.evaluated_fraction, 0.15),
            at_least("MISE IoU vs dense 128^3", check.iou_vs_dense, 0.99),
        ]

    if "voxels" in args.tasks:
        train_set = ShapeSet(train_shapes, "voxels")
        test_set = ShapeSet(test_shapes, "voxels")
        pair = run_pair("voxels", train_set, test_set, args)
        pair.pop("trained")
        voxel_input = input_voxel_iou(test_shapes, 32, args.points)
        pair["input_voxels_iou"] = voxel_input
        result["voxels"] = pair
        checks.append(
            at_least(
                "voxels: ONet IoU - input voxels IoU",
                pair["models"]["onet"]["iou"] - voxel_input,
                0.0,
            )
        )
        rows += [
            ("voxels: ONet", pair["models"]["onet"]),
            ("voxels: input 32^3", {"iou": voxel_input}),
        ]

    if "image" in args.tasks:
        train_set = ShapeSet(train_shapes, "image")
        test_set = ShapeSet(test_shapes, "image")
        pair = run_pair("image", train_set, test_set, args)
        pair.pop("trained")
        nearest = nearest_shape_baseline(train_set, test_set, args.points)
        pair["nearest_shape"] = nearest
        result["image"] = pair
        checks.append(
            at_least(
                "image: ONet IoU - nearest shape IoU",
                pair["models"]["onet"]["iou"] - nearest["iou"],
                0.0,
            )
        )
        rows += [
            ("image: ONet (ResNet-18)", pair["models"]["onet"]),
            ("image: nearest train shape", nearest),
        ]

    print()
    print_table(rows)
    print(
        f"\nsphere pipeline: IoU {exact.iou:.4f}  Chamfer-L1 {exact.chamfer_l1:.5f}  "
        f"NC {exact.normal_consistency:.4f}"
    )
    if "mise" in result:
        m = result["mise"]
        print(
            f"MISE: {100 * m['evaluated_fraction']:.1f}% of 129^3 points, IoU vs dense "
            f"{m['iou_vs_dense']:.4f}, {m['mise_seconds']:.2f} s vs dense "
            f"{m['dense_seconds']:.2f} s per shape"
        )
    if "refinement" in result:
        print_refinement(result["refinement"])
    print_targets(checks)
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")
    result["targets"] = checks
    result["runtime_s"] = runtime
    # The thesis run and the optional voxel/image runs keep separate result files.
    name = "occupancy" if args.tasks == ["pointcloud"] else "occupancy_" + "_".join(args.tasks)
    if args.minutes is not None and args.tasks == ["pointcloud"]:
        name = f"occupancy_{args.minutes:g}min"
    if args.onet_only and "pointcloud" in args.tasks:
        name += "_onet"
    path = write_json(result, args.out, name)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
