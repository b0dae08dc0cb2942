"""Occupancy tools through the registry, the benchmark's quick run, and the example task file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools import ToolArgumentsError, ToolError, call, default_registry

TASK = Path(__file__).resolve().parent.parent / "examples" / "tasks" / "occupancy.yaml"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("occupancy-run")
    seen: list[float] = []
    result = call(
        "occupancy.train",
        {
            "train_shapes": 16,
            "test_shapes": 2,
            "steps": 15,
            "batch_size": 8,
            "hidden": 16,
            "c_dim": 16,
            "eval_points": 2000,
        },
        artifact_dir=run,
        progress=lambda f, m: seen.append(f),
    )
    return run, result, seen


def test_train_writes_a_checkpoint_preview_and_metrics(trained_run):
    run, result, seen = trained_run
    assert result.model_path == run / "occupancy" / "model.pt" and result.model_path.is_file()
    assert (run / "occupancy" / "preview.png").read_bytes()[:4] == b"\x89PNG"
    assert 0 <= result.metrics.iou <= 1 and result.metrics.chamfer_l1 > 0
    assert "IoU" in result.summary and seen[-1] == 1.0
    assert json.loads((run / "occupancy" / "metrics.json").read_text())["metrics"]["iou"] >= 0


def test_reconstruct_uses_the_runs_checkpoint_by_default(trained_run):
    run, _, _ = trained_run
    result = call("occupancy.reconstruct", {"shape_seed": 7, "threshold": 0.5}, artifact_dir=run)
    assert result.mesh_path.read_bytes().startswith(b"ply\n")
    assert result.faces > 0 and result.metrics is not None
    assert result.preview_path.is_file()


def test_reconstruct_can_refine_the_mesh_on_the_network(trained_run):
    run, _, _ = trained_run
    args = {"shape_seed": 7, "threshold": 0.5}
    plain = call("occupancy.reconstruct", args, artifact_dir=run)
    refined = call("occupancy.reconstruct", {**args, "refine_steps": 5}, artifact_dir=run)
    assert "5 refinement steps" in refined.summary and refined.faces == plain.faces
    assert refined.metrics.chamfer_l1 != plain.metrics.chamfer_l1  # the vertices moved


def test_reconstruct_reads_a_point_cloud_file(trained_run, tmp_path):
    run, _, _ = trained_run
    from methods.occupancy import point_cloud, sphere_shape

    cloud = tmp_path / "cloud.npy"
    np.save(cloud, point_cloud(sphere_shape(0.35), 300, np.random.default_rng(0)))
    try:
        result = call(
            "occupancy.reconstruct",
            {"input_path": str(cloud), "threshold": 0.5},
            artifact_dir=run,
        )
    except ToolError as exc:  # a barely trained net may predict no surface: said plainly
        assert "threshold" in str(exc)
    else:
        assert result.metrics is None and result.mesh_path.name == "cloud.ply"


def test_evaluate_reports_the_oracle(trained_run):
    run, _, _ = trained_run
    result = call("occupancy.evaluate", {"test_shapes": 1, "eval_points": 2000}, artifact_dir=run)
    assert 0.5 < result.oracle_32_iou <= 1 and result.task == "pointcloud"


def test_bad_tool_inputs_are_named(trained_run, tmp_path):
    run, _, _ = trained_run
    with pytest.raises(ToolError, match="model_path"):
        call("occupancy.reconstruct", {}, artifact_dir=tmp_path)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((4, 4)))
    with pytest.raises(ToolError, match="observation"):
        call("occupancy.reconstruct", {"input_path": str(wrong)}, artifact_dir=run)
    with pytest.raises(ToolError, match="input_path"):
        call("occupancy.reconstruct", {"input_path": str(tmp_path / "no.npy")}, artifact_dir=run)
    with pytest.raises(ToolArgumentsError, match="task"):
        call("occupancy.train", {"task": "audio"}, artifact_dir=tmp_path)


def test_tools_are_registered_and_the_task_file_uses_them():
    from agents.tasks import load_task

    assert {"occupancy.train", "occupancy.reconstruct", "occupancy.evaluate"} <= set(
        default_registry().names()
    )
    spec = load_task(str(TASK))
    assert spec.tools == ["occupancy.train"]


def test_benchmark_quick_run_writes_json(tmp_path):
    from benchmarks import occupancy

    occupancy.main(
        [
            "--quick",
            "--train-shapes",
            "16",
            "--test-shapes",
            "2",
            "--steps",
            "5",
            "--points",
            "2000",
            "--out",
            str(tmp_path),
        ]
    )
    result = json.loads((tmp_path / "occupancy.json").read_text())
    assert result["benchmark"] == "occupancy"
    assert set(result["pointcloud"]["models"]) == {"onet", "grid32"}
    assert result["sphere"]["iou"] > 0.99
    assert 0 < result["mise"]["evaluated_fraction"] < 1
    assert all(isinstance(t["passed"], bool) for t in result["targets"])


def test_benchmark_onet_only_trains_no_baseline_and_checks_only_absolute_bars(tmp_path):
    from benchmarks import occupancy

    argv = ["--quick", "--onet-only", "--train-shapes", "16", "--test-shapes", "2"]
    occupancy.main([*argv, "--steps", "5", "--points", "2000", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "occupancy_onet.json").read_text())
    assert set(result["pointcloud"]["models"]) == {"onet"}
    names = {target["name"] for target in result["targets"]}
    assert "ONet IoU (absolute)" in names
    assert not any("grid" in name for name in names)


@pytest.mark.model
def test_occupancy_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("occupancy")
    assert (result.run_dir / "artifacts" / "occupancy" / "model.pt").is_file()


def test_readme_example_runs():
    readme = Path(__file__).resolve().parent.parent / "methods" / "occupancy" / "README.md"
    code = readme.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "methods/occupancy/README.md", "exec"), {})
