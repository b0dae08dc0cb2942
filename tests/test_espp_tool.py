"""The espp.train and espp.evaluate tools, and the example task run by the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import ToolArgumentsError, ToolError, call

SMALL = {"widths": [12, 12], "epochs": 2, "bptt_epochs": 2, "max_samples": 300}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("espp")
    return call("espp.train", {"dataset": "timing", **SMALL}, artifact_dir=out), out


def test_train_reports_every_layer_against_random_and_bptt(trained):
    result, out = trained
    assert [r.layer for r in result.layers] == [1, 2]
    for r in result.layers:
        assert 0 <= r.random <= 1 and 0 <= r.espp <= 1 and r.bptt is not None
        assert r.rate_espp >= 0
    assert result.bptt_accuracy is not None
    assert "layer 1" in result.summary and "random weights" in result.summary
    names = {p.name for p in result.artifacts}
    assert names == {"accuracy_by_layer.png", "espp_result.json", "espp_network.pt"}
    assert all(p.is_file() and p.parent.parent == out for p in result.artifacts)
    saved = json.loads((out / "espp" / "espp_result.json").read_text())
    assert saved["layers"][0]["espp"] == result.layers[0].espp


def test_plot_is_a_png(trained):
    from PIL import Image

    result, out = trained
    with Image.open(out / "espp" / "accuracy_by_layer.png") as img:
        assert img.format == "PNG" and img.width > 200


def test_evaluate_reads_out_a_saved_network(trained, tmp_path):
    result, _ = trained
    for readout in ("ridge", "few_shot"):
        ev = call(
            "espp.evaluate",
            {
                "model_path": str(result.model_path),
                "dataset": "timing",
                "readout": readout,
                "max_samples": 300,
            },
            artifact_dir=tmp_path,
        )
        assert len(ev.accuracy) == 2 and all(0 <= a <= 1 for a in ev.accuracy)
        assert (tmp_path / "espp" / f"evaluate_{readout}.json").is_file()


def test_online_variant_trains_through_the_tool(tmp_path):
    result = call(
        "espp.train", {"variant": "online", **SMALL, "bptt_epochs": 0}, artifact_dir=tmp_path
    )
    assert result.bptt_accuracy is None and result.layers[0].bptt is None


def test_bad_tool_arguments_name_the_argument(tmp_path):
    with pytest.raises(ToolArgumentsError, match="widths"):
        call("espp.train", {"widths": [0]}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="variant"):
        call("espp.train", {"variant": "hybrid"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="dataset must be one of"):
        call("espp.train", {"dataset": "mnist", **SMALL}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="does not exist"):
        call("espp.evaluate", {"model_path": str(tmp_path / "none.pt")}, artifact_dir=tmp_path)


def test_evaluate_rejects_a_network_for_other_inputs(trained, tmp_path):
    from methods.espp import SpikingNetwork

    path = SpikingNetwork(10, [4]).save(tmp_path / "net.pt")
    with pytest.raises(ToolError, match="expects 10"):
        call("espp.evaluate", {"model_path": str(path), "max_samples": 100}, artifact_dir=tmp_path)


@pytest.mark.model
def test_espp_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("espp")
    assert (result.run_dir / "artifacts" / "espp" / "accuracy_by_layer.png").is_file()


def test_readme_example_runs():
    readme = (Path(__file__).resolve().parent.parent / "methods" / "espp" / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "methods/espp/README.md", "exec"), {})


def test_train_surfaces_firing_rate_warnings_in_its_summary(monkeypatch, tmp_path):
    import functools

    import methods.espp.train as train_module
    from methods.espp.monitor import check_rates

    # Declare every rate unhealthy, so the warning path is taken whatever the network does.
    monkeypatch.setattr(train_module, "check_rates", functools.partial(check_rates, low=0.99))
    result = call("espp.train", {**SMALL, "bptt_epochs": 0}, artifact_dir=tmp_path)
    assert len(result.rate_warnings) == 2
    assert "Warning: layer 1 fires at" in result.summary
