"""The dsdl.* tools through the registry, and the example task run by the embedded model."""

from __future__ import annotations

import json

import pytest

from tools import ToolArgumentsError, ToolError, call


def test_tools_chain_through_the_run_folder_with_empty_arguments(tmp_path):
    progress: list[float] = []
    gen = call("dsdl.generate", {"format": "voc", "images": 2}, artifact_dir=tmp_path)
    assert gen.path == tmp_path / "dsdl" / "generated" / "voc"
    conv = call("dsdl.convert", {}, artifact_dir=tmp_path)
    assert conv.source_format == "voc" and conv.splits == {"train": 2, "val": 2}
    assert "dsdl/converted/voc-dsdl" in conv.summary
    val = call("dsdl.validate", {}, artifact_dir=tmp_path, progress=lambda f, m: progress.append(f))
    assert val.ok and val.samples == 4 and val.errors == 0 and val.summary.startswith("valid")
    assert progress and max(progress) <= 1
    assert {p.name for p in val.artifacts} == {"validation.md", "validation.json"}
    desc = call("dsdl.describe", {}, artifact_dir=tmp_path)
    assert desc.samples == 4 and sum(desc.class_histogram.values()) == desc.objects
    assert (tmp_path / "dsdl" / "class_histogram.png").is_file()
    shown = call("dsdl.view", {"n": 1}, artifact_dir=tmp_path)
    assert [p.name for p in shown.images] == ["train_000.png"]
    back = call(
        "dsdl.convert",
        {"source": "dsdl/converted/voc-dsdl", "target_format": "coco"},
        artifact_dir=tmp_path,
    )
    assert back.source_format == "dsdl" and back.splits == {"train": 2, "val": 2}


def test_validate_tool_lists_problems_of_a_broken_dataset(tmp_path):
    call("dsdl.generate", {"format": "imagefolder", "images": 2}, artifact_dir=tmp_path)
    conv = call("dsdl.convert", {}, artifact_dir=tmp_path)
    samples = conv.path / "dsdl" / "set-val" / "val_samples.json"
    data = json.loads(samples.read_text())
    data["samples"][0]["label"] = 0
    samples.write_text(json.dumps(data))
    val = call("dsdl.validate", {"path": str(conv.path)}, artifact_dir=tmp_path)
    assert not val.ok and val.counts == {"LabelError": 1}
    assert val.problems[0].pointer == "/samples/0/label" and "1-based" in val.problems[0].message
    assert val.summary.startswith("INVALID")


def test_ingest_converts_validates_and_describes_in_one_call(tmp_path):
    seen: list[float] = []
    out = call(
        "dsdl.ingest",
        {"source": "synthetic:segmentation", "images": 2},
        artifact_dir=tmp_path,
        progress=lambda f, m: seen.append(f),
    )
    assert out.ok and out.samples == 4 and out.classes == 3 and out.errors == 0
    assert seen == sorted(seen)  # the stages report in order
    with pytest.raises(ToolError, match="no synthetic format"):
        call("dsdl.ingest", {"source": "synthetic:yolo"}, artifact_dir=tmp_path)


def test_template_tool_writes_a_parsable_template(tmp_path):
    from methods.dsdl.parser import parse

    out = call("dsdl.template", {"task": "keypoint"}, artifact_dir=tmp_path)
    assert out.sample_type == "KeyPointSample" and out.params == ["cdom1", "cdom2"]
    desc = parse(out.artifacts[0])
    assert {"KeyPointLocalObject", "KeyPointSample"} <= set(desc.structs)


def test_bad_tool_arguments_name_the_argument(tmp_path):
    with pytest.raises(ToolArgumentsError, match="images"):
        call("dsdl.generate", {"images": 0}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="task"):
        call("dsdl.template", {"task": "yolo"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="path is empty and no earlier DSDL tool"):
        call("dsdl.validate", {}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="source: 'nowhere' does not exist"):
        call("dsdl.convert", {"source": "nowhere"}, artifact_dir=tmp_path)


@pytest.mark.model
def test_example_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("dsdl")
    report = json.loads((result.run_dir / "artifacts" / "dsdl" / "validation.json").read_text())
    assert report["ok"] and report["samples"] == 12
