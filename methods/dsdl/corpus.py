"""Test corpora: valid descriptions that must pass, malformed ones with their expected finding.

`valid_corpus(folder)` writes every library template (YAML with imports and an external
samples JSON, and JSON with inline samples), the language docs' constructs (hierarchical
domains, `{$type: ...}` sample types, global info inline and in a file, import chains with
overrides, one struct using every field type). `malformed_corpus(folder)` writes one file per
mistake, each with the error class and JSON pointer a validator must report.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from methods.dsdl.templates import TEMPLATES, VERSION


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    code: str = ""  # expected error (or warning) class; "" for a valid file
    pointer: str = ""
    file: str = ""  # name of the file the finding is in; "" = the description itself


def _media(folder: Path) -> None:
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), "RGB").save(
        media / "img.png"
    )
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[:, 16:] = 1
    mask[12:, :8] = 2
    Image.fromarray(mask, "L").save(media / "mask.png")
    Image.fromarray(np.stack([mask * 40] * 3, -1), "RGB").save(media / "rgb_mask.png")
    Image.fromarray((mask > 0).astype(np.uint8), "L").save(media / "binary.png")
    Image.fromarray(mask.astype(np.uint16) * 7).save(media / "instances.png")
    for name in ("clip.mp4", "cloud.bin", "sound.wav"):
        (media / name).write_bytes(b"\x00" * 16)


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return path


# ---- samples for each template ---------------------------------------------------------------

IMG, MASK, INST = "media/img.png", "media/mask.png", "media/instances.png"
CLASSES = ["cat", "dog", "bird"]
KEYPOINTS = {"classes": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3]]}
RING = [[1, 1], [10, 1], [10, 8], [1, 8]]


def _template_samples(key: str) -> list[Any]:
    if key == "classification":
        return [{"image": IMG, "label": "cat"}, {"image": IMG, "label": 2}, {"image": IMG}]
    if key == "detection":
        objs = [{"bbox": [1, 2, 10, 5], "label": "dog"}, {"bbox": [0, 0, 3.5, 2], "label": 3}]
        return [{"image": IMG, "objects": objs}, {"image": IMG, "objects": []}]
    if key == "semantic-seg":
        return [{"image": IMG, "semantic_map": MASK}]
    if key == "instance-seg-polygon":
        inst = {"label": "bird", "bbox": [1, 1, 9, 7], "polygon": [RING]}
        return [{"image": IMG, "instances": [inst, {**inst, "label": "ClassDom::cat"}]}]
    if key in ("instance-seg-segmap", "panoptic-seg"):
        return [{"image": IMG, "instance_map": INST, "semantic_map": MASK}]
    if key == "keypoint":
        kp = [[3, 4, 2], [5, 4, 1], [6, 4, 0]]
        return [{"image": IMG, "annotations": [{"keypoint": kp, "label": "cat"}, {"keypoint": kp}]}]
    if key == "rotated-detection":
        return [{"image": IMG, "objects": [{"rbbox": [1, 1, 9, 1, 9, 7, 1, 7], "label": "cat"}]}]
    if key == "tracking":
        frame = {
            "frame_id": "000001",
            "media_path": IMG,
            "objects": [{"instance_id": "7", "bbox": [1, 1, 4, 4], "category": "dog"}],
        }
        return [{"video_name": "clip-01", "videoframes": [frame, {**frame, "frame_id": "2"}]}]
    if key == "ocr-detection":
        return [{"image": IMG, "instances": [[1, 1, 20, 6], [2, 9, 12, 5]]}]
    if key == "ocr-recognition":
        return [{"word_image": IMG, "text": "DSDL"}]
    if key == "ocr-segmap":
        return [{"image": IMG, "word_segmap": "media/binary.png", "chr_segmap": "media/binary.png"}]
    if key == "ocr-end2end":
        return [{"image": IMG, "instances": [{"location": [RING], "text": "hello"}]}]
    raise KeyError(key)


def _domains_for(key: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Class-domain definitions a template's samples need, and the domain names to bind."""
    t = TEMPLATES[key]
    if key == "keypoint":
        defs = {
            "ObjDom": {"$def": "class_domain", "classes": CLASSES},
            "KptDom": {"$def": "class_domain", **KEYPOINTS},
        }
        return defs, ("ObjDom", "KptDom")
    if key == "ocr-segmap":
        return {}, ("SegClassDom",)  # the template defines its own domain
    if not t.params:
        return {}, ()
    return {"ClassDom": {"$def": "class_domain", "classes": CLASSES}}, ("ClassDom",)


def valid_corpus(folder: str | Path) -> list[Case]:
    """Write the valid corpus under `folder`; every case must validate without errors."""
    folder = Path(folder)
    _media(folder)
    cases: list[Case] = []
    for key, t in TEMPLATES.items():
        domains, bound = _domains_for(key)
        samples = _template_samples(key)
        sample_type = t.sample_type_for(*bound)
        # (a) the SDK layout: defs/ files imported by the split file, samples in a JSON file
        root = folder / f"tpl-{key}"
        (root / "defs").mkdir(parents=True, exist_ok=True)
        (root / "defs" / "template.yaml").write_text(t.text, encoding="utf-8")
        _write(root / "defs" / "class-dom.yaml", {"$dsdl-version": VERSION, **domains})
        # Media resolve through the SDK's config.py: a relative working_dir from its folder.
        (root / "config.py").write_text(
            'local = dict(type="LocalFileReader", working_dir="..")\n', encoding="utf-8"
        )
        _write(root / "set-train" / "train_samples.json", {"samples": samples})
        split = {
            "$dsdl-version": VERSION,
            "$import": ["../defs/class-dom", "../defs/template"],
            "meta": {"Dataset Name": key, "Subset Name": "train"},
            "data": {"sample-type": sample_type, "sample-path": "train_samples.json"},
        }
        cases.append(
            Case(
                f"{key} (yaml, imports, external)", _write(root / "set-train" / "train.yaml", split)
            )
        )
        # (b) one self-contained JSON file, inline samples
        defs = {**yaml.safe_load(t.text), **domains}
        defs.pop("$dsdl-version")
        inline = {
            "$dsdl-version": VERSION,
            "meta": {"name": key},
            "defs": defs,
            "data": {"sample-type": sample_type, "sample-path": "$local", "samples": samples},
        }
        cases.append(Case(f"{key} (json, inline)", _write(folder / f"{key}.json", inline)))
    for name, builder in _DOC_CASES.items():
        cases.append(Case(name, builder(folder)))
    return cases


def _get_started(folder: Path) -> Path:
    return _write(
        folder / "get_started.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "get started"},
            "defs": {
                "MyClassDom": {"$def": "class_domain", "classes": ["dog", "cat", "fish", "tiger"]},
                "ImageClassificationSample": {
                    "$def": "struct",
                    "$fields": {"image": "Image", "label": "Label[dom=MyClassDom]"},
                    "$optional": ["label"],
                },
            },
            "data": {
                "sample-type": "ImageClassificationSample",
                "sample-path": "$local",
                "samples": [{"image": IMG, "label": "cat"}, {"image": IMG}],
            },
        },
    )


def _hierarchy(folder: Path) -> Path:
    classes = ["vehicle.airplane", "food.apple", "vehicle.boat", "sports.baseball_bat"]
    return _write(
        folder / "hierarchy.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "hierarchy"},
            "defs": {
                "HDom": {"$def": "class_domain", "classes": classes},
                "S": {
                    "$def": "struct",
                    "$fields": {"image": "Image", "labels": "List[Label[dom=HDom]]"},
                },
            },
            "data": {
                "sample-type": "S",
                "samples": [{"image": IMG, "labels": ["airplane", "food.apple", "HDom::boat", 4]}],
            },
        },
    )


def _object_form(folder: Path) -> Path:
    t = yaml.safe_load(TEMPLATES["detection"].text)
    t.pop("$dsdl-version")
    return _write(
        folder / "object_form.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "object form"},
            "defs": {**t, "MyClassDom": {"$def": "class_domain", "classes": CLASSES}},
            "data": {
                "sample-type": {"$type": "ObjectDetectionSample", "cdom": "MyClassDom"},
                "samples": [{"image": IMG, "objects": [{"bbox": [1, 2, 3, 4], "label": 1}]}],
            },
        },
    )


def _global_info_defs() -> dict[str, Any]:
    return {
        "MyClassDom": {"$def": "class_domain", "classes": CLASSES},
        "ClassDescr": {
            "$def": "struct",
            "$fields": {
                "label": "Label[dom=MyClassDom]",
                "definition": "Str",
                "synonyms": "List[Str]",
            },
        },
        "GlobalInfo": {"$def": "struct", "$fields": {"class_info": "List[ClassDescr]"}},
        "S": {"$def": "struct", "$fields": {"image": "Image", "label": "Label[dom=MyClassDom]"}},
    }


INFO = {"class_info": [{"label": "dog", "definition": "a dog", "synonyms": ["puppy", "hound"]}]}


def _global_inline(folder: Path) -> Path:
    return _write(
        folder / "global_inline.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "global info"},
            "defs": _global_info_defs(),
            "data": {
                "global-info-type": "GlobalInfo",
                "global-info-path": "$local",
                "global-info": INFO,
                "sample-type": "S",
                "sample-path": "$local",
                "samples": [{"image": IMG, "label": "dog"}],
            },
        },
    )


def _global_file(folder: Path) -> Path:
    _write(folder / "global_info.json", {"global-info": INFO})
    _write(folder / "global_samples.json", {"samples": [{"image": IMG, "label": "fish"}]})
    defs = _global_info_defs()
    defs["MyClassDom"]["classes"] = [*CLASSES, "fish"]
    return _write(
        folder / "global_file.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "global info in a file"},
            "defs": defs,
            "data": {
                "global-info-type": "GlobalInfo",
                "global-info-path": "global_info.json",
                "sample-type": "S",
                "sample-path": "global_samples.json",
            },
        },
    )


def _import_chain(folder: Path) -> Path:
    """top imports mid and a domain file; mid imports base. A later import overrides an
    earlier one (Dom below), and the file's own defs override both (Entry)."""
    chain = folder / "chain"
    _write(
        chain / "lib" / "base.yaml",
        {
            "$dsdl-version": VERSION,
            "Entry": {"$def": "struct", "$fields": {"bbox": "BBox"}},
            "Dom": {"$def": "class_domain", "classes": ["a"]},
        },
    )
    _write(
        chain / "lib" / "mid.yaml",
        {
            "$dsdl-version": VERSION,
            "$import": ["base"],
            "Sample": {"$def": "struct", "$fields": {"image": "Image", "objects": "List[Entry]"}},
        },
    )
    _write(
        chain / "defs" / "dom.yaml",
        {"$dsdl-version": VERSION, "Dom": {"$def": "class_domain", "classes": ["a", "b", "c"]}},
    )
    (chain / "set-x" / "media").parent.mkdir(parents=True, exist_ok=True)
    (chain / "set-x" / "media").symlink_to(folder / "media", target_is_directory=True)
    return _write(
        chain / "set-x" / "x.yaml",
        {
            "$dsdl-version": VERSION,
            "$import": ["../lib/mid", "dom"],  # "dom" is found in ../defs/
            "meta": {"name": "chain"},
            "defs": {
                "Entry": {"$def": "struct", "$fields": {"bbox": "BBox", "label": "Label[dom=Dom]"}}
            },
            "data": {
                "sample-type": "Sample",
                "samples": [{"image": IMG, "objects": [{"bbox": [1, 1, 2, 2], "label": "c"}]}],
            },
        },
    )


EVERY_FIELD = {
    "flag": "Bool",
    "count": "Int",
    "score": "Num",
    "note": "Str",
    "extra": "Dict",
    "ranks": "List[etype=Int, ordered=true]",
    "point": "Coord",
    "point3": "Coord3D",
    "span": "Interval",
    "box": "BBox[mode=xyxy]",
    "rbox": "RotatedBBox[mode=xywht, measure=degree]",
    "outline": "Polygon",
    "cube": "BBox3D[mode=indoor]",
    "label": "Label[dom=ClassDom]",
    "pose": "Keypoint[dom=KptDom]",
    "caption": "Text",
    "shape": "ImageShape[mode=wh]",
    "uid": 'UniqueID[id_type="image"]',
    "iid": "InstanceID",
    "day": 'Date[fmt="%Y/%m/%d"]',
    "at": "Time",
    "image": "Image",
    "mask": "LabelMap[dom=ClassDom]",
    "instances": "InstanceMap",
    "cloud": "PointCloud[load_dim=4]",
    "clip": "Video",
    "sound": "Audio",
}
EVERY_VALUE = {
    "flag": 1,
    "count": 3,
    "score": 0.5,
    "note": "n",
    "extra": {"any": [1, 2]},
    "ranks": [3, 1, 2],
    "point": [1, 2],
    "point3": [1, 2, 3],
    "span": [2, 2],
    "box": [1, 2, 5, 6],
    "rbox": [5, 5, 4, 2, 30],
    "outline": RING,  # one ring, as the docs write it
    "cube": [0, 0, 0, 1, 2, 3, 0.1, 0, 0],
    "label": "bird",
    "pose": [[1, 1, 2], [2, 2, 2], [3, 3, 1]],
    "caption": "a caption",
    "shape": [32, 24],
    "uid": "000123",
    "iid": "4",
    "day": "2024/05/29",
    "at": "12:30:00",
    "image": {"$loc": IMG, "$descr": "the image"},
    "mask": MASK,
    "instances": INST,
    "cloud": "media/cloud.bin",
    "clip": "media/clip.mp4",
    "sound": "media/sound.wav",
}


def every_field_description() -> dict[str, Any]:
    """One struct with every built-in field type, and a sample that fits it."""
    return {
        "$dsdl-version": VERSION,
        "meta": {"name": "every field type"},
        "defs": {
            "ClassDom": {"$def": "class_domain", "classes": CLASSES},
            "KptDom": {"$def": "class_domain", **KEYPOINTS},
            "Everything": {"$def": "struct", "$fields": dict(EVERY_FIELD)},
        },
        "data": {"sample-type": "Everything", "samples": [dict(EVERY_VALUE)]},
    }


def _every_field(folder: Path) -> Path:
    return _write(folder / "every_field.yaml", every_field_description())


def _plain_type(folder: Path) -> Path:
    return _write(
        folder / "plain_type.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "labels only"},
            "defs": {"ClassDom": {"$def": "class_domain", "classes": CLASSES}},
            "data": {"sample-type": "Label[dom=ClassDom]", "samples": ["cat", 2, "ClassDom::bird"]},
        },
    )


def _sdk_demo(folder: Path) -> Path:
    """As the SDK's COCO demo writes it: index labels and an undeclared field (a warning)."""
    t = yaml.safe_load(TEMPLATES["detection"].text)
    t.pop("$dsdl-version")
    objs = [{"bbox": [0.0, 421.09, 154.53, 208.61], "label": 3, "is_crowd": False}]
    return _write(
        folder / "sdk_demo.yaml",
        {
            "$dsdl-version": "0.5.0",
            "meta": {"name": "COCO2017 Object Detection", "creator": "MSRA"},
            "defs": {**t, "COCOClassFullDom": {"$def": "class_domain", "classes": CLASSES}},
            "data": {
                "sample-type": "ObjectDetectionSample[cdom=COCOClassFullDom]",
                "samples": [{"image": IMG, "objects": objs}],
            },
        },
    )


_DOC_CASES: dict[str, Callable[[Path], Path]] = {
    "docs: get started": _get_started,
    "docs: hierarchical domain": _hierarchy,
    "docs: {$type} sample type": _object_form,
    "docs: global info inline": _global_inline,
    "docs: global info file": _global_file,
    "import chain with overrides": _import_chain,
    "every field type": _every_field,
    "plain sample type": _plain_type,
    "sdk demo style (warnings only)": _sdk_demo,
}


# ---- the malformed corpus --------------------------------------------------------------------


def _base() -> dict[str, Any]:
    """A valid detection description; each malformed case changes one thing."""
    t = yaml.safe_load(TEMPLATES["detection"].text)
    t.pop("$dsdl-version")
    return {
        "$dsdl-version": "0.5.0",
        "meta": {"name": "malformed"},
        "defs": {"MyDom": {"$def": "class_domain", "classes": CLASSES}, **t},
        "data": {
            "sample-type": "ObjectDetectionSample[cdom=MyDom]",
            "sample-path": "$local",
            "samples": [{"image": IMG, "objects": [{"bbox": [1, 2, 3, 4], "label": "cat"}]}],
        },
    }


def _every() -> dict[str, Any]:
    return copy.deepcopy(every_field_description())


def _mutate(
    make: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], Any]
) -> dict[str, Any]:
    doc = make()
    change(doc)
    return doc


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split("/")
    node: Any = doc
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _delete(doc: dict[str, Any], path: str) -> None:
    *head, last = path.split("/")
    node: Any = doc
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]


def _rename_field(doc: dict[str, Any], struct: str, old: str, new: str) -> None:
    fields = doc["defs"][struct]["$fields"]
    doc["defs"][struct]["$fields"] = {new if k == old else k: v for k, v in fields.items()}


OBJ = "/data/samples/0/objects/0"
SAMPLE = "/data/samples/0"
Doc = dict[str, Any]

# name -> (document builder, expected class, expected pointer)
MALFORMED: dict[str, tuple[Callable[[], Doc], str, str]] = {
    "missing $dsdl-version": (
        lambda: _mutate(_base, lambda d: d.pop("$dsdl-version")),
        "SectionMissingError",
        "/$dsdl-version",
    ),
    "missing meta": (
        lambda: _mutate(_base, lambda d: d.pop("meta")),
        "SectionMissingError",
        "/meta",
    ),
    "missing data": (
        lambda: _mutate(_base, lambda d: d.pop("data")),
        "SectionMissingError",
        "/data",
    ),
    "missing sample-type": (
        lambda: _mutate(_base, lambda d: _delete(d, "data/sample-type")),
        "SectionMissingError",
        "/data/sample-type",
    ),
    "$def: strukt": (
        lambda: _mutate(_base, lambda d: _set(d, "defs/LocalObjectEntry/$def", "strukt")),
        "DefineSyntaxError",
        "/defs/LocalObjectEntry/$def",
    ),
    "field named class": (
        lambda: _mutate(_base, lambda d: _rename_field(d, "LocalObjectEntry", "label", "class")),
        "InvalidNameError",
        "/defs/LocalObjectEntry/$fields/class",
    ),
    "field named 1a": (
        lambda: _mutate(_base, lambda d: _rename_field(d, "LocalObjectEntry", "label", "1a")),
        "InvalidNameError",
        "/defs/LocalObjectEntry/$fields/1a",
    ),
    "field named my-f": (
        lambda: _mutate(_base, lambda d: _rename_field(d, "LocalObjectEntry", "label", "my-f")),
        "InvalidNameError",
        "/defs/LocalObjectEntry/$fields/my-f",
    ),
    "struct named List": (
        lambda: _mutate(
            _base, lambda d: _set(d, "defs/List", {"$def": "struct", "$fields": {"a": "Int"}})
        ),
        "InvalidNameError",
        "/defs/List",
    ),
    "class listed twice": (
        lambda: _mutate(_base, lambda d: _set(d, "defs/MyDom/classes", ["cat", "dog", "cat"])),
        "DuplicateDefineError",
        "/defs/MyDom/classes/2",
    ),
    "circular structs": (
        lambda: _mutate(
            _base,
            lambda d: d["defs"].update(
                {
                    "A": {"$def": "struct", "$fields": {"b": "List[B]"}},
                    "B": {"$def": "struct", "$fields": {"a": "A"}},
                }
            ),
        ),
        "CircularDefineError",
        "/defs/A",
    ),
    "undefined type": (
        lambda: _mutate(_base, lambda d: _set(d, "defs/LocalObjectEntry/$fields/bbox", "BBx")),
        "UndefinedTypeError",
        "/defs/LocalObjectEntry/$fields/bbox",
    ),
    "undefined class domain": (
        lambda: _mutate(
            _base, lambda d: _set(d, "data/sample-type", "ObjectDetectionSample[cdom=NoSuchDom]")
        ),
        "UndefinedDomainError",
        "/data/sample-type",
    ),
    "parametric sample type without arguments": (
        lambda: _mutate(_base, lambda d: _set(d, "data/sample-type", "ObjectDetectionSample")),
        "ParameterError",
        "/data/sample-type",
    ),
    "parametric element type without arguments": (
        lambda: _mutate(
            _base,
            lambda d: _set(
                d, "defs/ObjectDetectionSample/$fields/objects", "List[etype=LocalObjectEntry]"
            ),
        ),
        "ParameterError",
        "/defs/ObjectDetectionSample/$fields/objects",
    ),
    "undeclared $param": (
        lambda: _mutate(
            _base, lambda d: _set(d, "defs/LocalObjectEntry/$fields/label", "Label[dom=$other]")
        ),
        "ParameterError",
        "/defs/LocalObjectEntry/$fields/label",
    ),
    "bad BBox mode": (
        lambda: _mutate(
            _base, lambda d: _set(d, "defs/LocalObjectEntry/$fields/bbox", "BBox[mode=xyzw]")
        ),
        "ParameterError",
        "/defs/LocalObjectEntry/$fields/bbox",
    ),
    "type expression syntax": (
        lambda: _mutate(
            _base, lambda d: _set(d, "defs/LocalObjectEntry/$fields/bbox", "Polygon/Bbox")
        ),
        "DefineSyntaxError",
        "/defs/LocalObjectEntry/$fields/bbox",
    ),
    "$optional names no field": (
        lambda: _mutate(_base, lambda d: _set(d, "defs/LocalObjectEntry/$optional", ["lable"])),
        "DefineSyntaxError",
        "/defs/LocalObjectEntry/$optional/0",
    ),
    "missing import": (
        lambda: _mutate(_base, lambda d: d.update({"$import": ["no/such/file"]})),
        "DSDLImportError",
        "/$import/0",
    ),
    "label index past the end": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/label", 7)),
        "LabelError",
        OBJ + "/label",
    ),
    "label index 0": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/label", 0)),
        "LabelError",
        OBJ + "/label",
    ),
    "label name not in domain": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/label", "zebra")),
        "LabelError",
        OBJ + "/label",
    ),
    "label of another domain": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/label", "OtherDom::cat")),
        "LabelError",
        OBJ + "/label",
    ),
    "bbox with 3 numbers": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/bbox", [1, 1, 3])),
        "FieldValueError",
        OBJ + "/bbox",
    ),
    "bbox with negative width": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/bbox", [1, 1, -3, 4])),
        "FieldValueError",
        OBJ + "/bbox/2",
    ),
    "sample is not a mapping": (
        lambda: _mutate(_base, lambda d: _set(d, "data/samples/0", ["media/img.png"])),
        "FieldValueError",
        SAMPLE,
    ),
    "required field missing": (
        lambda: _mutate(_base, lambda d: _delete(d, "data/samples/0/image")),
        "MissingFieldError",
        SAMPLE + "/image",
    ),
    "media file missing": (
        lambda: _mutate(_base, lambda d: _set(d, "data/samples/0/image", "media/none.png")),
        "MediaNotFoundError",
        SAMPLE + "/image",
    ),
    "interval begin > end": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/span", [5, 2])),
        "FieldValueError",
        SAMPLE + "/span",
    ),
    "polygon points of 3 numbers": (
        lambda: _mutate(
            _every, lambda d: _set(d, "data/samples/0/outline", [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
        ),
        "FieldValueError",
        SAMPLE + "/outline/0/0",
    ),
    "polygon ring of 2 points": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/outline", [[[1, 2], [4, 5]]])),
        "FieldValueError",
        SAMPLE + "/outline/0",
    ),
    "rotated box of 6 numbers": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/rbox", [1, 2, 3, 4, 5, 6])),
        "FieldValueError",
        SAMPLE + "/rbox",
    ),
    "xyxy box reversed": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/box", [5, 6, 1, 2])),
        "FieldValueError",
        SAMPLE + "/box",
    ),
    "keypoint count mismatch": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/pose", [[1, 1, 2]])),
        "KeypointError",
        SAMPLE + "/pose",
    ),
    "keypoint domain without skeleton": (
        lambda: _mutate(_every, lambda d: d["defs"]["KptDom"].pop("skeleton")),
        "KeypointError",
        "/defs/Everything/$fields/pose",
    ),
    "skeleton index out of range": (
        lambda: _mutate(_every, lambda d: _set(d, "defs/KptDom/skeleton", [[1, 9]])),
        "DefineSyntaxError",
        "/defs/KptDom/skeleton/0",
    ),
    "Int given as string": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/count", "1")),
        "FieldValueError",
        SAMPLE + "/count",
    ),
    "Bool given as 2": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/flag", 2)),
        "FieldValueError",
        SAMPLE + "/flag",
    ),
    "Date not matching fmt": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/day", "2024-05-29")),
        "FieldValueError",
        SAMPLE + "/day",
    ),
    "Time not ISO": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/at", "half past noon")),
        "FieldValueError",
        SAMPLE + "/at",
    ),
    "ImageShape negative": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/shape", [32, -1])),
        "FieldValueError",
        SAMPLE + "/shape/1",
    ),
    "LabelMap with 3 channels": (
        lambda: _mutate(_every, lambda d: _set(d, "data/samples/0/mask", "media/rgb_mask.png")),
        "MediaFormatError",
        SAMPLE + "/mask",
    ),
    "unknown field (warning)": (
        lambda: _mutate(_base, lambda d: _set(d, OBJ[1:] + "/is_crowd", 0)),
        "UnknownFieldWarning",
        OBJ + "/is_crowd",
    ),
}


def malformed_corpus(folder: str | Path) -> list[Case]:
    """Write the malformed corpus under `folder`: one file per case, and the expected finding."""
    folder = Path(folder)
    _media(folder)
    cases = []
    for i, (name, (build, code, where)) in enumerate(MALFORMED.items()):
        path = _write(folder / f"bad_{i:02d}.yaml", build())
        cases.append(Case(name, path, code, where))
    cases += _raw_cases(folder)
    return cases


def _raw_cases(folder: Path) -> list[Case]:
    """Cases that need raw text or several files."""
    cases = []
    base = yaml.safe_dump(_base(), sort_keys=False)
    dup = base.replace(
        "  LocalObjectEntry:\n",
        "  LocalObjectEntry:\n    $def: struct\n    $fields: {a: Int}\n  LocalObjectEntry:\n",
        1,
    )
    (folder / "dup.yaml").write_text(dup, encoding="utf-8")
    cases.append(
        Case(
            "definition given twice",
            folder / "dup.yaml",
            "DuplicateDefineError",
            "/defs/LocalObjectEntry",
        )
    )
    (folder / "syntax.yaml").write_text(base + "  broken: [unclosed\n", encoding="utf-8")
    cases.append(Case("not YAML", folder / "syntax.yaml", "DefineSyntaxError", ""))
    doc = _base()
    doc["data"] = {"sample-type": doc["data"]["sample-type"], "sample-path": "missing_samples.json"}
    cases.append(
        Case(
            "samples file missing",
            _write(folder / "no_samples.yaml", doc),
            "SamplePathError",
            "/data/sample-path",
        )
    )
    _write(folder / "wrong_samples.json", {"items": []})
    doc["data"]["sample-path"] = "wrong_samples.json"
    cases.append(
        Case(
            "samples file without samples",
            _write(folder / "wrong_samples.yaml", doc),
            "SamplePathError",
            "/data/sample-path",
        )
    )
    samples = _base()["data"]["samples"] * 2
    samples[1] = {"image": IMG, "objects": [{"bbox": [1, 2, 3, 4, 5], "label": "cat"}]}
    _write(folder / "ext_samples.json", {"samples": samples})
    doc["data"]["sample-path"] = "ext_samples.json"
    cases.append(
        Case(
            "bad box in an external samples file",
            _write(folder / "external.yaml", doc),
            "FieldValueError",
            "/samples/1/objects/0/bbox",
            "ext_samples.json",
        )
    )
    lib = folder / "implib"
    t = yaml.safe_load(TEMPLATES["detection"].text)
    t["LocalObjectEntry"]["$fields"]["bbox"] = "BoundingBox"
    _write(lib / "template.yaml", t)
    doc = _base()
    for key in ("LocalObjectEntry", "ObjectDetectionSample"):
        doc["defs"].pop(key)
    doc["$import"] = ["implib/template"]
    cases.append(
        Case(
            "undefined type in an imported file",
            _write(folder / "imports_bad.yaml", doc),
            "UndefinedTypeError",
            "/LocalObjectEntry/$fields/bbox",
            "template.yaml",
        )
    )
    info_doc = {
        "$dsdl-version": "0.5.0",
        "meta": {"name": "bad global info"},
        "defs": _global_info_defs(),
        "data": {
            "global-info-type": "GlobalInfo",
            "global-info": {
                "class_info": [{"label": "unicorn", "definition": "?", "synonyms": []}]
            },
            "sample-type": "S",
            "samples": [{"image": IMG, "label": "dog"}],
        },
    }
    cases.append(
        Case(
            "global info label not in domain",
            _write(folder / "bad_info.yaml", info_doc),
            "LabelError",
            "/data/global-info/class_info/0/label",
        )
    )
    return cases
