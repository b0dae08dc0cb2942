"""Pascal VOC <-> DSDL: XML boxes with difficult/truncated/occluded/pose, ImageSets splits.

VOC layout: `<root>/Annotations/<id>.xml`, `<root>/JPEGImages/<file>`, and
`<root>/ImageSets/Main/<split>.txt` (one image id per line; the per-class files with a
second column are not splits and are skipped). The class domain is the sorted set of object
names. Boxes become xywh (VOC's xyxy pixel corners, minus the corner); the XML `folder`
element is not kept (it names the dataset, which the split's meta already does).
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from methods.dsdl.convert.layout import (
    NAME_MAPPING_DEFS,
    DatasetSpec,
    MediaMode,
    domain_from_names,
    fresh_output_folder,
    num,
    original_names,
    write_dataset,
)
from methods.dsdl.convert.typed import box_of, image_of, image_size, label_of, objects_of, values
from methods.dsdl.loader import load_dataset

TASK = "Object Detection"
SAMPLE_TYPE = "VOCSample[cdom=ClassDom]"
FLAGS = ("difficult", "truncated", "occluded")
TEMPLATE = (
    """$dsdl-version: "0.5.3"

VOCObject:
    $def: struct
    $params: ["cdom"]
    $fields:
        bbox: BBox
        label: Label[dom=$cdom]
        pose: Str
        difficult: Bool
        truncated: Bool
        occluded: Bool
    $optional: ["pose", "difficult", "truncated", "occluded"]

VOCSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        image_id: UniqueID[id_type="image"]
        image_shape: ImageShape
        depth: Int
        segmented: Bool
        objects: List[etype=VOCObject[cdom=$cdom]]
    $optional: ["depth", "segmented"]
"""
    + NAME_MAPPING_DEFS
)


def voc_splits(root: Path) -> list[str]:
    folder = root / "ImageSets" / "Main"
    splits = []
    for path in sorted(folder.glob("*.txt")):
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if lines and all(len(ln.split()) == 1 for ln in lines):
            splits.append(path.stem)
    return splits


def parse_voc_xml(path: Path) -> dict[str, Any]:
    """One VOC annotation as a plain dict (numbers as written, flags as ints)."""
    if not path.is_file():
        raise FileNotFoundError(f"VOC annotation {path} does not exist")
    root = ET.parse(path).getroot()

    def text(node: ET.Element | None, tag: str) -> str | None:
        found = node.find(tag) if node is not None else None
        return found.text.strip() if found is not None and found.text is not None else None

    filename = text(root, "filename")
    size = root.find("size")
    if filename is None or size is None:
        raise ValueError(f"{path.name}: a VOC annotation needs <filename> and <size>")
    out: dict[str, Any] = {
        "filename": filename,
        "width": int(float(text(size, "width") or 0)),
        "height": int(float(text(size, "height") or 0)),
    }
    depth = text(size, "depth")
    if depth is not None:
        out["depth"] = int(depth)
    segmented = text(root, "segmented")
    if segmented is not None:
        out["segmented"] = int(segmented)
    objects = []
    for obj in root.findall("object"):
        name, bnd = text(obj, "name"), obj.find("bndbox")
        if name is None or bnd is None:
            raise ValueError(f"{path.name}: every <object> needs <name> and <bndbox>")
        item: dict[str, Any] = {
            "name": name,
            "bbox": [num(text(bnd, t)) for t in ("xmin", "ymin", "xmax", "ymax")],
        }
        pose = text(obj, "pose")
        if pose is not None:
            item["pose"] = pose
        for flag in FLAGS:
            value = text(obj, flag)
            if value is not None:
                item[flag] = int(value)
        objects.append(item)
    out["objects"] = objects
    return out


def voc_to_dsdl(
    root: str | Path,
    out: str | Path,
    *,
    splits: list[str] | None = None,
    name: str = "VOC",
    media: MediaMode = "copy",
) -> Path:
    """Convert a VOC folder to a DSDL dataset under `out`; returns `out`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root: VOC folder {root} does not exist")
    splits = splits or voc_splits(root)
    if not splits:
        raise FileNotFoundError(f"root: no ImageSets/Main/<split>.txt under {root}")
    parsed: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for split in splits:
        ids_file = root / "ImageSets" / "Main" / f"{split}.txt"
        if not ids_file.is_file():
            raise FileNotFoundError(f"splits: {ids_file} does not exist")
        ids = [ln.strip() for ln in ids_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        parsed[split] = [(i, parse_voc_xml(root / "Annotations" / f"{i}.xml")) for i in ids]
    names = sorted({o["name"] for items in parsed.values() for _, a in items for o in a["objects"]})
    domain, mapping = domain_from_names(names)
    clean = dict(zip(names, domain.classes, strict=True))
    samples: dict[str, list[dict[str, Any]]] = {}
    locators: list[str] = []
    for split, items in parsed.items():
        samples[split] = []
        for image_id, ann in items:
            locator = f"JPEGImages/{ann['filename']}"
            locators.append(locator)
            samples[split].append(_sample(image_id, ann, locator, clean))
    spec = DatasetSpec(
        name=name,
        task=TASK,
        template_text=TEMPLATE,
        sample_type=SAMPLE_TYPE,
        domain=domain,
        splits=samples,
        media_root=root,
        locators=locators,
        global_info_type="NameInfo",
        global_info={"name_mapping": mapping},
    )
    return write_dataset(spec, out, media=media)


def _sample(
    image_id: str, ann: dict[str, Any], locator: str, clean: dict[str, str]
) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "image": locator,
        "image_id": image_id,
        "image_shape": [ann["height"], ann["width"]],
    }
    if "depth" in ann:
        sample["depth"] = ann["depth"]
    if "segmented" in ann:
        sample["segmented"] = bool(ann["segmented"])
    objects = []
    for o in ann["objects"]:
        x1, y1, x2, y2 = o["bbox"]
        obj: dict[str, Any] = {
            "bbox": [num(x1), num(y1), num(x2 - x1), num(y2 - y1)],
            "label": clean[o["name"]],
        }
        if "pose" in o:
            obj["pose"] = o["pose"]
        for flag in FLAGS:
            if flag in o:
                obj[flag] = bool(o[flag])
        objects.append(obj)
    sample["objects"] = objects
    return sample


def dsdl_to_voc(dataset: str | Path, out: str | Path, *, copy_images: bool = True) -> Path:
    """Write a DSDL detection dataset as VOC under `out`; returns `out`.

    Any struct with an Image and a list of objects with a BBox and a Label works; VOC's own
    fields (image_id, depth, segmented, pose, difficult, truncated, occluded) are used if there.
    """
    out = fresh_output_folder(out)
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}  # image id -> file name, across splits
    for split_name, split in load_dataset(dataset, box_mode="xyxy").items():
        names = original_names(split)
        ids = []
        for sample in split:
            image = image_of(sample)
            fields = values(sample)
            filename = Path(image.locator).name
            # A UniqueID (string) names the annotation file; numeric ids (COCO's) do not.
            given = fields.get("image_id")
            image_id = given if isinstance(given, str) and given else Path(filename).stem
            if written.get(image_id, filename) != filename:
                raise ValueError(f"image id {image_id!r} stands for two different images")
            ids.append(image_id)
            if image_id in written:
                continue
            written[image_id] = filename
            width, height = image_size(sample)
            folder = split.desc.meta.get("Dataset Name", "VOC")
            xml = _xml(folder, filename, sample, width, height, names)
            ET.indent(xml)
            ET.ElementTree(xml).write(out / "Annotations" / f"{image_id}.xml", encoding="utf-8")
            if copy_images:
                if image.path is None or not image.path.is_file():
                    raise FileNotFoundError(f"image {image.locator!r} is missing")
                shutil.copyfile(image.path, out / "JPEGImages" / filename)
        (out / "ImageSets" / "Main" / f"{split_name}.txt").write_text(
            "".join(f"{i}\n" for i in ids), encoding="utf-8"
        )
    return out


def _xml(
    folder: str, filename: str, sample: Any, width: int, height: int, names: list[str]
) -> ET.Element:
    fields = values(sample)
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = str(folder)
    ET.SubElement(ann, "filename").text = filename
    size = ET.SubElement(ann, "size")
    ET.SubElement(size, "width").text = str(width)
    ET.SubElement(size, "height").text = str(height)
    if fields.get("depth") is not None:
        ET.SubElement(size, "depth").text = str(fields["depth"])
    if fields.get("segmented") is not None:
        ET.SubElement(ann, "segmented").text = str(int(fields["segmented"]))
    for obj in objects_of(sample):
        item = values(obj)
        node = ET.SubElement(ann, "object")
        ET.SubElement(node, "name").text = names[label_of(obj).index - 1]
        if item.get("pose") is not None:
            ET.SubElement(node, "pose").text = item["pose"]
        for flag in FLAGS:
            if item.get(flag) is not None:
                ET.SubElement(node, flag).text = str(int(item[flag]))
        bnd = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box_of(obj).values, strict=True):
            ET.SubElement(bnd, tag).text = str(num(value))
    return ann


def read_voc(root: str | Path) -> dict[str, Any]:
    """A VOC folder in canonical form: split -> sorted ids, id -> annotation (no `folder`)."""
    root = Path(root)
    splits = {}
    annotations = {}
    for split in voc_splits(root):
        ids = (root / "ImageSets" / "Main" / f"{split}.txt").read_text(encoding="utf-8").split()
        splits[split] = sorted(ids)
        for i in ids:
            annotations[i] = parse_voc_xml(root / "Annotations" / f"{i}.xml")
    return {"splits": splits, "annotations": annotations}
