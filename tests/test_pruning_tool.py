"""The pruning.prune and pruning.score tools, and the example task run by the embedded model."""

from __future__ import annotations

import json

import pytest

from tools import ToolArgumentsError, ToolError, call

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {
    "model": "mini_resnet",
    "size": 16,
    "train_epochs": 2,
    "steps": 2,
    "batches_per_step": 2,
    "finetune_batches": 2,
    "final_epochs": 0,
}


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    out = tmp_path_factory.mktemp("pruning")
    return call("pruning.prune", {**SMALL, "target": 0.4}, artifact_dir=out), out


def test_prune_reports_curve_costs_and_artifacts(pruned):
    result, out = pruned
    assert result.params_after < result.params_before
    assert result.macs_after < result.macs_before
    assert result.filters_removed > 0.2
    assert [c.stage for c in result.curve][0] == "start" and result.curve[-1].stage == "final"
    assert all(c.eer is not None and 0 <= c.eer <= 1 for c in result.curve)
    names = {p.name for p in result.artifacts}
    assert names == {"layer_widths.png", "pruning_result.json", "pruned_model.pt"}
    saved = json.loads((out / "pruning" / "pruning_result.json").read_text())
    assert saved["after"]["params"] == result.params_after
    assert "filters" in result.summary and "accuracy" in result.summary


@pytest.mark.parametrize("criterion", ["taylor", "l1"])
def test_score_reads_a_pruned_model(pruned, tmp_path, criterion):
    result, _ = pruned
    scores = call(
        "pruning.score",
        {"model": str(result.model_path), "criterion": criterion, "size": 16, "batches": 2},
        artifact_dir=tmp_path,
    )
    assert scores.layers and all(layer.width >= 1 for layer in scores.layers)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ToolArgumentsError):
        call("pruning.prune", {"criterion": "oracle"}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError):
        call("pruning.prune", {"target": 1.5}, artifact_dir=tmp_path)
    with pytest.raises((ToolError, ValueError), match="model"):
        call("pruning.prune", {"model": str(tmp_path / "nope.pt")}, artifact_dir=tmp_path)
    with pytest.raises((ToolError, ValueError), match="data"):
        call("pruning.prune", {**SMALL, "data": str(tmp_path / "nope")}, artifact_dir=tmp_path)


@pytest.mark.model
def test_pruning_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("pruning")
    assert (result.run_dir / "artifacts" / "pruning" / "pruned_model.pt").is_file()
