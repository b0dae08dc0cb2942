"""The circuits.* tools on the tiny agreement transformer, and the example task run by the
embedded model."""

from __future__ import annotations

import json

import pytest

from tools import ToolArgumentsError, ToolError, call

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(module_home_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("circuits")
    return call("circuits.train_sae", {"steps": 200}, artifact_dir=out), module_home_dir


@pytest.fixture
def home(trained, module_home):
    return module_home


def test_train_sae_reports_quality_per_layer(trained):
    result, _ = trained
    assert [q.name for q in result.quality] == ["resid_0", "resid_1"]
    assert all(q.fraction_variance_explained > 0.5 and q.l0 <= 8 for q in result.quality)
    assert "FVE" in result.summary and (result.saes_dir / "resid_0" / "ae.pt").is_file()


def test_discover_returns_a_faithful_circuit_with_graph_artifacts(home, tmp_path):
    result = call("circuits.discover", {"family": "simple", "max_nodes": 30}, artifact_dir=tmp_path)
    assert result.n_nodes == 30 and result.faithfulness > 0.6
    assert result.random_faithfulness < result.faithfulness - 0.3
    names = {p.name for p in result.artifacts}
    assert names == {"circuit_simple.json", "circuit_simple.svg", "circuit_simple.png"}
    g = json.loads(result.circuit_json.read_text())
    assert len(g["nodes"]) == 30 and g["edges"] and "faithfulness" in result.summary
    assert (tmp_path / "circuits" / "circuit_simple.svg").read_text().startswith("<svg")


def test_features_and_evaluate(home, tmp_path):
    found = call(
        "circuits.features", {"features": ["resid_1/3", "resid_0/5"], "k": 3}, artifact_dir=tmp_path
    )
    assert set(found.contexts) == {"resid_1/3", "resid_0/5"}
    assert all("[" in c for cs in found.contexts.values() for c in cs)
    ev = call("circuits.evaluate", {"sizes": [5, 40]}, artifact_dir=tmp_path)
    assert ev.faithfulness[40] > ev.random[40] + 0.3


def test_bad_arguments_are_named(home, tmp_path):
    with pytest.raises(ToolArgumentsError):
        call("circuits.discover", {"family": "passive"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="resid_7/1"):
        call("circuits.features", {"features": ["resid_7/1"]}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="no SAEs"):
        call("circuits.discover", {"saes_dir": str(tmp_path / "none")}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="outside"):
        call("circuits.train_sae", {"layers": [5]}, artifact_dir=tmp_path)


def test_example_task_finds_the_agreement_circuit(run_example_task):
    result, _ = run_example_task("circuits")
    assert "circuits.discover" in result.tools_called
