"""DSDL conversion, loading, statistics, drawing and the command line on generated datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from methods.dsdl import (
    Box,
    ClassLabel,
    DSDLValidationError,
    Media,
    convert,
    describe,
    histogram_png,
    load_dataset,
    load_split,
    validate,
    view,
)
from methods.dsdl import generate as gen
from methods.dsdl.cli import dsdl
from methods.dsdl.convert import FROM_DSDL, TO_DSDL, detect_format
from methods.dsdl.convert.coco import coco_equal, coco_to_dsdl
from methods.dsdl.convert.imagefolder import read_imagefolder
from methods.dsdl.convert.layout import num
from methods.dsdl.convert.segmentation import read_segmentation
from methods.dsdl.convert.voc import read_voc
from methods.dsdl.geometry import convert_box


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def same_source(fmt: str, a: Path, b: Path) -> bool:
    if fmt == "coco":
        return all(
            coco_equal(
                json.loads((a / "annotations" / f"instances_{s}.json").read_text()),
                json.loads((b / "annotations" / f"instances_{s}.json").read_text()),
            )[0]
            for s in ("train", "val")
        )
    read = {"voc": read_voc, "imagefolder": read_imagefolder, "segmentation": read_segmentation}
    return read[fmt](a) == read[fmt](b)


@pytest.mark.parametrize("fmt", ["coco", "voc", "imagefolder", "segmentation"])
def test_round_trips_are_exact_both_ways(fmt, tmp_path):
    getattr(gen, f"generate_{fmt}")(tmp_path / "x", images=2, seed=3)
    TO_DSDL[fmt](tmp_path / "x", tmp_path / "d1")
    assert detect_format(tmp_path / "x") == fmt and detect_format(tmp_path / "d1") == "dsdl"
    report = validate(tmp_path / "d1", open_media=True)
    assert report.ok and report.samples == 4, report.problems
    FROM_DSDL[fmt](tmp_path / "d1", tmp_path / "x2")
    assert same_source(fmt, tmp_path / "x", tmp_path / "x2")
    TO_DSDL[fmt](tmp_path / "x2", tmp_path / "d2")
    assert tree(tmp_path / "d1") == tree(tmp_path / "d2")


def test_converted_dataset_has_the_sdk_layout(tmp_path):
    gen.generate_coco(tmp_path / "coco", images=2)
    coco_to_dsdl(tmp_path / "coco", tmp_path / "d", name="Shapes")
    names = set(tree(tmp_path / "d"))
    assert {
        "config.py",
        "README.md",
        "dsdl/defs/template.yaml",
        "dsdl/defs/class-dom.yaml",
        "dsdl/defs/global-info.json",
        "dsdl/set-train/train.yaml",
        "dsdl/set-train/train_samples.json",
        "media/train/train_00000.png",
    } <= names
    split_yaml = (tmp_path / "d" / "dsdl" / "set-train" / "train.yaml").read_text()
    assert "- ../defs/class-dom" in split_yaml and 'Dataset Name: "Shapes"' in split_yaml
    assert "sample-type: COCOSample[cdom=ClassDom]" in split_yaml


def test_coco_category_ids_out_of_order_map_through_the_one_based_domain(tmp_path):
    gen.generate_coco(tmp_path / "coco", images=3, splits=("train",))
    coco_to_dsdl(tmp_path / "coco", tmp_path / "d")
    split = load_dataset(tmp_path / "d")["train"]
    # categories sorted by id: 2 blue ellipse, 5 hair-drier, 7 red box, 11 green box
    assert split.domains["ClassDom"].classes == [
        "blue ellipse",
        "hair_drier",
        "red box",
        "green box",
    ]
    info = split.global_info()
    assert [(c.label.index, c.category_id, c.name) for c in info.class_info][:2] == [
        (1, 2, "blue ellipse"),
        (2, 5, "hair-drier"),
    ]
    crowd = [o for s in split for o in s.objects if o.iscrowd]
    assert all(o.rle is not None and o.polygon is None for o in crowd)


def test_coco_goes_to_voc_through_dsdl_keeping_boxes(tmp_path):
    gen.generate_coco(tmp_path / "coco", images=2, splits=("val",))
    convert(tmp_path / "coco", tmp_path / "voc", src="coco", dst="voc")
    ann = read_voc(tmp_path / "voc")
    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_val.json").read_text())
    first = coco["annotations"][0]
    x, y, w, h = first["bbox"]
    objects = ann["annotations"]["val_00000"]["objects"]
    assert objects[0]["bbox"] == [num(x), num(y), num(x + w), num(y + h)]
    assert ann["splits"] == {"val": ["val_00000", "val_00001"]}


def test_loader_gives_typed_samples_with_boxes_in_the_chosen_mode(tmp_path):
    gen.generate_voc(tmp_path / "voc", images=2, splits=("train",))
    TO_DSDL["voc"](tmp_path / "voc", tmp_path / "d")
    path = tmp_path / "d" / "dsdl" / "set-train" / "train.yaml"
    xywh = load_split(path, box_mode="xywh")[0]
    xyxy = load_split(path, box_mode="xyxy")[0]
    obj = xyxy.objects[0]
    assert type(xyxy).__name__ == "VOCSample" and isinstance(obj.label, ClassLabel)
    assert isinstance(obj.bbox, Box) and obj.bbox.mode == "xyxy"
    assert obj.bbox.to("xywh").values == xywh.objects[0].bbox.values
    assert isinstance(xyxy.image, Media) and xyxy.image.path.is_file()
    assert xyxy.image.open().size == (64, 48)
    assert convert_box((1, 2, 3, 4), "xywh", "cxcywh") == (2.5, 4.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="box_mode"):
        load_split(path, box_mode="yxhw")


def test_loader_raises_on_invalid_samples_or_skips_them(tmp_path):
    gen.generate_imagefolder(tmp_path / "if", images=3, splits=("train",))
    TO_DSDL["imagefolder"](tmp_path / "if", tmp_path / "d")
    samples_file = tmp_path / "d" / "dsdl" / "set-train" / "train_samples.json"
    data = json.loads(samples_file.read_text())
    data["samples"][1]["label"] = 99
    samples_file.write_text(json.dumps(data))
    with pytest.raises(DSDLValidationError, match="LabelError"):
        load_dataset(tmp_path / "d")
    split = load_dataset(tmp_path / "d", on_error="skip")["train"]
    assert len(split) == 2 and split.skipped[0].pointer == "/samples/1/label"


def test_torch_dataset_indexes_and_batches_through_a_transform(tmp_path):
    from torch.utils.data import DataLoader

    from methods.dsdl import DSDLDataset

    gen.generate_imagefolder(tmp_path / "if", images=4, splits=("train",))
    TO_DSDL["imagefolder"](tmp_path / "if", tmp_path / "d")
    path = tmp_path / "d" / "dsdl" / "set-train" / "train.yaml"

    def to_tensors(sample):
        pixels = torch.from_numpy(sample.image.array().copy()).float()
        return pixels.permute(2, 0, 1) / 255, sample.label.index - 1

    ds = DSDLDataset(path, transform=to_tensors)
    assert len(ds) == 4
    images, labels = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [
        ds.split[i].label.index - 1 for i in range(4)
    ]
    assert type(DSDLDataset(path)[0]).__name__ == "ClassificationSample"
    with pytest.raises(IndexError):
        ds[4]


def test_describe_counts_classes_and_box_sizes(tmp_path):
    gen.generate_voc(tmp_path / "voc", images=3)
    TO_DSDL["voc"](tmp_path / "voc", tmp_path / "d")
    stats = describe(tmp_path / "d")
    xml_objects = sum(len(a["objects"]) for a in read_voc(tmp_path / "voc")["annotations"].values())
    assert stats.splits == {"train": 3, "val": 3} and stats.objects == xml_objects
    assert sum(stats.histogram.values()) == xml_objects
    assert stats.box_summary()["width"]["min"] >= 6
    png = histogram_png(stats, tmp_path / "h.png")
    from PIL import Image

    with Image.open(png) as img:
        assert img.format == "PNG" and img.height > 40


def test_view_draws_samples_as_png(tmp_path):
    gen.generate_segmentation(tmp_path / "seg", images=2, splits=("val",))
    TO_DSDL["segmentation"](tmp_path / "seg", tmp_path / "d")
    written = view(tmp_path / "d", tmp_path / "v", n=5, scale=2)
    assert [p.name for p in written] == ["val_000.png", "val_001.png"]
    with pytest.raises(KeyError, match="split"):
        view(tmp_path / "d", tmp_path / "v", split="test")
    with pytest.raises(ValueError, match="n must be"):
        view(tmp_path / "d", tmp_path / "v", n=0)


def test_converters_refuse_bad_inputs_with_the_argument_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="root"):
        TO_DSDL["coco"](tmp_path / "nothing", tmp_path / "out")
    gen.generate_coco(tmp_path / "coco", images=1, splits=("train",))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="out"):
        TO_DSDL["coco"](tmp_path / "coco", tmp_path / "full")
    with pytest.raises(ValueError, match="src must be"):
        convert(tmp_path / "coco", tmp_path / "o", src="yolo")
    bad = json.loads((tmp_path / "coco" / "annotations" / "instances_train.json").read_text())
    bad["annotations"][0]["category_id"] = 999
    (tmp_path / "coco" / "annotations" / "instances_train.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="unknown category 999"):
        TO_DSDL["coco"](tmp_path / "coco", tmp_path / "o2")
    with pytest.raises(ValueError, match="finite"):
        num(float("nan"))


def test_command_line_validates_converts_and_lists_templates(tmp_path):
    runner = CliRunner()
    gen.generate_voc(tmp_path / "voc", images=1, splits=("train",))
    result = runner.invoke(
        dsdl, ["convert", str(tmp_path / "voc"), str(tmp_path / "d"), "--from", "voc"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        dsdl, ["validate", str(tmp_path / "d"), "--report", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 0 and result.output.startswith("valid: 1 samples")
    assert (tmp_path / "r.md").read_text().startswith("# DSDL validation report")
    (tmp_path / "d" / "media" / "JPEGImages" / "2024_train_0000.jpg").unlink()
    result = runner.invoke(dsdl, ["validate", str(tmp_path / "d"), "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["counts"] == {
        "MediaNotFoundError": 1
    }
    result = runner.invoke(dsdl, ["template"])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 13
    result = runner.invoke(dsdl, ["template", "Object Detection"])
    assert "ObjectDetectionSample:" in result.output
    result = runner.invoke(
        dsdl, ["convert", str(tmp_path / "voc"), str(tmp_path / "d"), "--from", "voc"]
    )
    assert result.exit_code == 1 and "not empty" in result.output
    result = runner.invoke(dsdl, ["info", str(tmp_path / "voc")])
    assert result.exit_code == 1 and "no DSDL description" in result.output


def test_readme_example_runs(capsys):
    readme = Path(__file__).resolve().parent.parent / "methods" / "dsdl" / "README.md"
    code = readme.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, str(readme), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("valid: 8 samples in 2 file(s)") and "samples (train: 4, val: 4)" in out
