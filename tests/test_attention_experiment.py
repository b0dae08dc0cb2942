"""Cluttered digits, insert_attention, the head-to-head, costs, pictures, tools and benchmark."""

from __future__ import annotations

import json

import pytest
import torch

from methods.attention.cnn import block_outputs, insert_attention, resnet8
from methods.attention.costs import measure
from methods.attention.data import make_cluttered, split_sources, split_validation
from methods.attention.experiment import (
    BASELINE,
    CompareConfig,
    build_model,
    compare,
    epoch_data,
    peak_inside,
    starts_as_identity,
    train,
)
from methods.attention.visualize import bar_chart, overlay_grid, spatial_maps
from tools import call
from tools.registry import ToolError

TINY = CompareConfig(train=96, val=32, test=64, epochs=1, batch=32)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_cluttered_digit_sits_inside_its_box_and_is_deterministic():
    train_src, test_src = split_sources(0)
    assert not set(train_src) & set(test_src)
    a = make_cluttered(20, train_src, seed=3)
    b = make_cluttered(20, train_src, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (20, 1, 40, 40) and a.images.max() <= 1
    for img, (y0, x0, y1, x1) in zip(a.images, a.boxes, strict=True):
        assert (y1 - y0, x1 - x0) == (12, 12)
        assert img[0, y0:y1, x0:x1].sum() > 3  # the digit's ink is there


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"count": 0}, "count"), ({"sources": [1]}, "sources"), ({"digit_size": 50}, "canvas")],
)
def test_cluttered_digits_reject_bad_sizes(kwargs, match):
    args = {"count": 4, "sources": split_sources(0)[0], "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_cluttered(**args)


def test_validation_digits_are_disjoint_from_fit_and_test_digits():
    train_src, test_src = split_sources(0)
    fit, val = split_validation(train_src, 0)
    assert not set(fit) & set(val) and not (set(fit) | set(val)) & set(test_src)
    assert sorted([*fit, *val]) == sorted(train_src)
    with pytest.raises(ValueError, match="share"):
        split_validation(train_src, 0, share=1.0)
    with pytest.raises(ValueError, match="too few"):
        split_validation(train_src[:3], 0, share=0.5)


def test_fresh_epochs_draw_new_canvases_reproducibly():
    fit = split_sources(0)[0]
    draw = epoch_data(fit, 0, CompareConfig(train=16))
    assert not torch.equal(draw(0).images, draw(1).images)
    assert torch.equal(draw(1).images, epoch_data(fit, 0, CompareConfig(train=16))(1).images)
    fixed = epoch_data(fit, 0, CompareConfig(train=16, fresh=False))
    assert fixed(0) is fixed(5)


def test_train_reports_every_epoch_and_learns_from_fresh_canvases():
    config = CompareConfig(train=64, epochs=2, batch=32)
    model, _ = build_model(BASELINE, 0, config)
    before = [p.detach().clone() for p in model.parameters()]
    epochs: list[int] = []
    train(model, epoch_data(split_sources(0)[0], 0, config), config, 0, on_epoch=epochs.append)
    assert epochs == [0, 1]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_evaluate_scores_any_inserted_map_and_rejects_unknown_layers():
    from methods.attention.experiment import evaluate, evaluate_layers

    model, inserted = build_model("cbam", 0, TINY)
    data = make_cluttered(16, split_sources(0)[1], seed=1)
    accuracy, peaks = evaluate_layers(model, data, inserted)
    assert list(peaks) == inserted  # finest (20x20) first
    assert evaluate(model, data, inserted, layer="3.bn2.1") == (accuracy, peaks["3.bn2.1"])
    assert evaluate(model, data, inserted)[1] == peaks["1.bn2.1"]
    with pytest.raises(ValueError, match="layer must be an inserted module"):
        evaluate(model, data, inserted, layer="0")


def test_train_rejects_an_unknown_optimizer():
    config = CompareConfig(train=32, epochs=1, optimizer="adam")
    model, _ = build_model(BASELINE, 0, config)
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'sgd'"):
        train(model, make_cluttered(32, split_sources(0)[0], seed=0), config, 0)


def test_gates_go_inside_every_block_and_residual_modules_after_the_middle_stage():
    assert starts_as_identity("nonlocal") and starts_as_identity("criss_cross")
    assert starts_as_identity("danet") and not starts_as_identity("cbam")
    assert not starts_as_identity("se")
    _, gates = build_model("cbam", 0, CompareConfig())
    assert gates == ["1.bn2.1", "2.bn2.1", "3.bn2.1"]
    model, residual = build_model("nonlocal", 0, CompareConfig())
    assert residual == ["2.1"]
    assert model(torch.rand(2, 1, 40, 40)).shape == (2, 10)
    # Same seed, same CNN weights with or without the module: the module is the only difference.
    base, _ = build_model(BASELINE, 0, CompareConfig())
    assert torch.equal(base[0][0].weight, model[0][0].weight)


def test_insert_attention_adds_a_module_to_every_torchvision_block():
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=3)
    names = insert_attention(model, "eca")
    assert len(names) == 8 and names[0] == "layer1.0.bn2.1"
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_insert_attention_works_in_a_timm_resnet():
    import timm

    model = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    names = insert_attention(model, "cbam")
    assert len(names) == len(block_outputs(timm.create_model("resnet10t", pretrained=False)))
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_insert_attention_rejects_unknown_places():
    with pytest.raises(ValueError, match="'nowhere' is not a submodule"):
        insert_attention(resnet8(), "se", where=["nowhere"])
    with pytest.raises(ValueError, match="where must be 'blocks'"):
        insert_attention(resnet8(), "se", where="stages")
    with pytest.raises(ValueError, match="found no residual blocks"):
        insert_attention(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)), "se")


def test_peak_inside_reads_the_upsampled_peak_in_canvas_pixels():
    maps = torch.zeros(3, 5, 5)
    maps[0, 1, 1] = 1  # cell centre (12, 12) on a 40 canvas
    maps[1, 4, 4] = 1  # centre (36, 36)
    maps[2, 1, 1], maps[2, 1, 2] = 0.9, 1  # the larger cell wins: centre (12, 20)
    boxes = torch.tensor([[6, 6, 18, 18], [6, 6, 18, 18], [6, 6, 18, 18]])
    assert peak_inside(maps, boxes, 40).tolist() == [True, False, False]
    assert peak_inside(maps, boxes + torch.tensor([0, 8, 0, 8]), 40).tolist()[2]


def test_compare_trains_baseline_and_modules_on_the_same_data():
    result = compare(["se", "cbam", "gain"], seeds=[0], config=TINY)
    rows = {r["module"]: r for r in result.summary()}
    assert list(rows) == [BASELINE, "se", "cbam", "gain"]
    assert rows[BASELINE]["delta_pp"] == 0.0
    assert rows["se"]["peak_in_box"] is None  # channel attention has no map to place
    assert 0 <= rows["cbam"]["peak_in_box"] <= 1
    assert rows["cbam"]["params"] > rows[BASELINE]["params"]
    assert all(0 <= r["accuracy"] <= 1 for r in rows.values())
    cbam = next(r for r in result.runs if r.module == "cbam")
    # the scored map is one of the three inserted CBAMs, picked by its validation peak score
    assert set(cbam.val_peak_by_layer) == {"1.bn2.1", "2.bn2.1", "3.bn2.1"}
    assert cbam.val_peak_by_layer[cbam.map_layer] == max(cbam.val_peak_by_layer.values())
    assert len(cbam.val_curve) == TINY.epochs and cbam.placement == "in block branch"


def test_compare_rejects_unknown_modules_before_training():
    with pytest.raises(KeyError, match="nonlocl"):
        compare(["nonlocl"], seeds=[0], config=TINY)
    with pytest.raises(ValueError, match="seeds"):
        compare(["se"], seeds=[], config=TINY)
    with pytest.raises(ValueError, match="blocks must index"):
        compare(["se"], seeds=[0], config=CompareConfig(train=32, test=32, blocks=(5,)))


def test_costs_count_parameters_and_flops():
    se = measure("se", channels=64, size=8, repeats=1)
    nl = measure("nonlocal", channels=64, size=8, repeats=1)
    assert se.params == 64 * 8 + 8 + 8 * 64 + 64  # timm's SE: 64 -> 8 -> 64 with biases
    assert nl.flops > se.flops > 0 and nl.latency_ms > 0
    with pytest.raises(ValueError, match="repeats"):
        measure("se", repeats=0)


def test_pictures_have_the_expected_layout():
    model = resnet8()
    insert_attention(model, "cbam")
    images = torch.rand(3, 1, 40, 40)
    maps = spatial_maps(model, images)
    assert set(maps) == {"1.bn2.1", "2.bn2.1", "3.bn2.1"}
    assert maps["3.bn2.1"].shape == (3, 40, 40)
    grid = overlay_grid(images, maps["3.bn2.1"], torch.tensor([[0, 0, 12, 12]] * 3))
    assert grid.size == (3 * (2 * 160 + 8), 168)
    assert bar_chart(["a", "b"], [0.5, 0.7], reference=0.5).size[0] == 560
    with pytest.raises(ValueError, match="equal length"):
        bar_chart(["a"], [0.1, 0.2])
    with pytest.raises(ValueError, match="no attention modules"):
        spatial_maps(resnet8(), images)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="images contain NaN"):
        spatial_maps(model, images)


def test_catalog_tool_writes_the_table(tmp_path):
    result = call("attention.catalog", {"category": "clustering"}, artifact_dir=tmp_path)
    assert result.count == 2 and result.implemented == 1
    assert "ema" in result.summary
    assert (tmp_path / "attention" / "catalog.csv").read_text().count("\n") == 3


def test_compare_tool_returns_table_and_chart(tmp_path):
    args = {"modules": ["eca"], "train": 64, "test": 32, "epochs": 1}
    result = call("attention.compare", args, artifact_dir=tmp_path)
    assert [r["module"] for r in result.rows] == [BASELINE, "eca"]
    assert {p.name for p in result.artifacts} == {"compare.json", "compare_accuracy.png"}
    assert json.loads((tmp_path / "attention" / "compare.json").read_text())["rows"]


def test_compare_tool_names_an_unknown_module(tmp_path):
    with pytest.raises(ToolError, match="unknown attention module 'sea'"):
        call("attention.compare", {"modules": ["sea"]}, artifact_dir=tmp_path)


def test_visualize_tool_draws_maps_and_refuses_channel_only_modules(tmp_path):
    args = {"module": "criss_cross", "images": 2, "train": 64, "epochs": 1}
    result = call("attention.visualize", args, artifact_dir=tmp_path)
    # criss-cross is a residual module: one, after the 10x10 stage
    assert len(result.artifacts) == 1 and all(p.suffix == ".png" for p in result.artifacts)
    assert 0 <= result.peak_in_box <= 1
    with pytest.raises(ToolError, match="no spatial map"):
        call("attention.visualize", {**args, "module": "se"}, artifact_dir=tmp_path)


def test_benchmark_quick_run_writes_json(tmp_path):
    from benchmarks import attention

    attention.main(["--quick", "--modules", "se", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "attention.json").read_text())
    assert result["benchmark"] == "attention"
    assert [r["module"] for r in result["compare"]] == [BASELINE, "se"]
    assert result["unit"][0]["passed"] is True
    assert all(isinstance(t["passed"], bool) for t in result["targets"])


def _panel_result(path, modules: list[str], baseline: float = 0.9, lr: float = 3e-3):
    """A minimal result file of the benchmark: every module run on seeds 0 and 1."""
    from dataclasses import asdict

    from methods.attention.experiment import CompareConfig, RunResult

    runs = [
        asdict(
            RunResult(
                m,
                seed,
                baseline if m == BASELINE else 0.95,
                None,
                10,
                1.0,
                val_accuracy=0.9,
                train_accuracy=0.95,
            )
        )
        for m in [BASELINE, *modules]
        for seed in (0, 1)
    ]
    result = {
        "benchmark": "attention",
        "seeds": [0, 1],
        "config": asdict(CompareConfig(lr=lr)),
        "unit": [{"module": m, "passed": True} for m in modules],
        "costs": [],
        "runs": runs,
        "runtime_s": 5.0,
        "threads": 1,
        "jobs": 2,
    }
    path.write_text(json.dumps(result))
    return path


def test_benchmark_merges_panels_and_applies_the_bars_by_category(tmp_path):
    from benchmarks import attention

    first = _panel_result(tmp_path / "a.json", ["se", "cbam"])
    second = _panel_result(tmp_path / "b.json", ["eca", "gc"])
    out = tmp_path / "out"
    merged = attention.main(["--merge", str(first), str(second), "--out", str(out)])
    assert [r["module"] for r in merged["compare"]] == [BASELINE, "se", "cbam", "eca", "gc"]
    assert all(r["delta_pp"] == pytest.approx(5.0) for r in merged["compare"][1:])
    names = [t.name for t in merged["targets"]]
    # gc is a self-attention module in the catalog: the +2 pp bar applies; eca is a channel gate
    assert "gc gain over baseline (pp)" in names and "eca gain over baseline (pp)" not in names
    assert json.loads((out / "attention.json").read_text())["merged_from"] == [
        str(first),
        str(second),
    ]
    # Joining a later panel onto that merge lists every original panel, not the merge's file.
    third = _panel_result(tmp_path / "c.json", ["sasa"])
    again = attention.main(["--merge", str(out / "attention.json"), str(third), "--out", str(out)])
    assert again["merged_from"] == [str(first), str(second), str(third)]
    assert [r["module"] for r in again["compare"]][-1] == "sasa"
    with pytest.raises(SystemExit):  # merging trains nothing, so it takes no panel
        attention.main(["--merge", str(first), "--modules", "se", "--out", str(out)])


def test_benchmark_refuses_to_merge_runs_that_are_not_comparable(tmp_path):
    from benchmarks.attention import merge_results

    first = _panel_result(tmp_path / "a.json", ["se"])
    with pytest.raises(ValueError, match="baseline runs .* differ"):
        merge_results([first, _panel_result(tmp_path / "b.json", ["eca"], baseline=0.8)])
    with pytest.raises(ValueError, match="another config or seeds"):
        merge_results([first, _panel_result(tmp_path / "c.json", ["eca"], lr=1e-2)])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read benchmark result"):
        merge_results([first, broken])


def test_benchmark_rejects_zero_jobs():
    from benchmarks.attention import run_seeds

    with pytest.raises(ValueError, match="jobs must be at least 1"):
        run_seeds(["se"], [0], TINY, jobs=0)


def test_readme_example_runs():
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "methods" / "attention" / "README.md"
    (block,) = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    exec(compile(block, str(readme), "exec"), {"__name__": "attention_readme"})
