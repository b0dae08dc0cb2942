"""The circuits.cluster_behaviours tool on the tiny biography LM, its argument errors, and the
example task run by the embedded model."""

from __future__ import annotations

import json
import re

import pytest

from tools import ToolArgumentsError, ToolError, call

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"model": "tiny", "n_tokens": 80, "k": 3, "dims": 128, "n_circuits": 2, "max_nodes": 30}


@pytest.mark.usefixtures("module_home")
def test_tool_clusters_the_tiny_model_and_writes_the_report(tmp_path):
    progress = []
    result = call(
        "circuits.cluster_behaviours",
        SMALL,
        artifact_dir=tmp_path,
        progress=lambda f, m: progress.append(f),
    )
    assert result.n_tokens == 80 and len(result.clusters) == 3
    assert sum(c.size for c in result.clusters) == 80
    explained = [c for c in result.clusters if c.faithfulness is not None]
    assert len(explained) == 2 and all(c.circuit_nodes == 30 for c in explained)
    assert result.intra_cosine > result.inter_cosine
    assert "Clustered 80 well-predicted tokens" in result.summary
    index = (result.report_dir / "index.html").read_text()
    assert len(re.findall(r'href="cluster_\d+\.html"', index)) == 3
    data = json.loads((result.report_dir / "clusters.json").read_text())
    assert [c["size"] for c in data["clusters"]] == [c.size for c in result.clusters]
    assert {p.name for p in result.artifacts} == {"index.html", "clusters.json"}
    assert progress and progress == sorted(progress) and progress[-1] > 0.9


@pytest.mark.usefixtures("module_home")
def test_tool_arguments_that_cannot_work_are_named(tmp_path):
    with pytest.raises(ToolError, match=r"k \(9\) must not exceed n_tokens \(5\)"):
        call("circuits.cluster_behaviours", {**SMALL, "n_tokens": 5, "k": 9}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="dims"):
        call("circuits.cluster_behaviours", {**SMALL, "dims": 0}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="parameters 'nothing_here'"):
        call(
            "circuits.cluster_behaviours",
            {**SMALL, "parameters": "nothing_here"},
            artifact_dir=tmp_path,
        )
    with pytest.raises(ToolError, match="corpus"):
        call(
            "circuits.cluster_behaviours",
            {**SMALL, "corpus": str(tmp_path / "missing.txt")},
            artifact_dir=tmp_path,
        )
    with pytest.raises(ToolError, match="max_loss"):
        call("circuits.cluster_behaviours", {**SMALL, "max_loss": 1e-12}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="local model"):
        call("circuits.cluster_behaviours", {**SMALL, "model": "chat"}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="only used with backend 'ray'"):
        call("circuits.cluster_behaviours", {**SMALL, "ray_address": "auto"})


@pytest.mark.usefixtures("module_home")
def test_tool_runs_the_cluster_circuits_as_ray_tasks(tmp_path):
    pytest.importorskip("ray")
    progress = []
    args = {**SMALL, "backend": "ray", "workers": 2}
    result = call(
        "circuits.cluster_behaviours",
        args,
        artifact_dir=tmp_path,
        progress=lambda f, m: progress.append(m),
    )
    explained = [c for c in result.clusters if c.faithfulness is not None]
    assert len(explained) == 2 and all(c.circuit_nodes == 30 for c in explained)
    assert sum("(Ray)" in m for m in progress) == 2


def test_example_task_clusters_behaviours_through_the_agent(run_example_task):
    result, _ = run_example_task("clusters")
    assert "circuits.cluster_behaviours" in result.tools_called
