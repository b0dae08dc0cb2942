"""COCO <-> DSDL: boxes, polygon and RLE segmentations, iscrowd, category ids in any order.

COCO layout (as COCO 2017 ships it): `<root>/annotations/instances_<split>.json` and the
images of each split under `<root>/<split>/`. The class domain lists the categories in id
order, so DSDL's 1-based index k is the k-th smallest category id; the ids themselves, the
original names and the supercategories are kept in global info (`class_info`).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from methods.dsdl.convert.layout import (
    DatasetSpec,
    MediaMode,
    domain_from_names,
    fresh_output_folder,
    num,
    write_dataset,
)
from methods.dsdl.convert.typed import box_of, image_of, image_size, label_of, objects_of, values
from methods.dsdl.geometry import Polygon
from methods.dsdl.loader import load_dataset

TASK = "Object Detection"
SAMPLE_TYPE = "COCOSample[cdom=ClassDom]"
INFO_TYPE = "COCOGlobalInfo[cdom=ClassDom]"
TEMPLATE = """$dsdl-version: "0.5.3"

COCOObject:
    $def: struct
    $params: ["cdom"]
    $fields:
        ann_id: Int
        bbox: BBox
        label: Label[dom=$cdom]
        iscrowd: Bool
        area: Num
        polygon: Polygon
        rle: Dict
    $optional: ["polygon", "rle"]

COCOSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        image_id: Int
        image_shape: ImageShape
        objects: List[etype=COCOObject[cdom=$cdom]]

COCOClassInfo:
    $def: struct
    $params: ["cdom"]
    $fields:
        label: Label[dom=$cdom]
        category_id: Int
        name: Str
        supercategory: Str

COCOGlobalInfo:
    $def: struct
    $params: ["cdom"]
    $fields:
        class_info: List[etype=COCOClassInfo[cdom=$cdom]]
"""


def coco_splits(root: Path) -> list[str]:
    """Split names from `annotations/instances_<split>.json`."""
    return sorted(
        p.stem[len("instances_") :] for p in (root / "annotations").glob("instances_*.json")
    )


def read_coco(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotations {path} do not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path.name}: a COCO file needs a list '{key}'")
    return data


def coco_to_dsdl(
    root: str | Path,
    out: str | Path,
    *,
    splits: list[str] | None = None,
    name: str = "COCO",
    media: MediaMode = "copy",
) -> Path:
    """Convert a COCO folder to a DSDL dataset under `out`; returns `out`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root: COCO folder {root} does not exist")
    splits = splits or coco_splits(root)
    if not splits:
        raise FileNotFoundError(f"root: no annotations/instances_<split>.json under {root}")
    data = {s: read_coco(root / "annotations" / f"instances_{s}.json") for s in splits}
    categories = _categories(data)
    domain, _ = domain_from_names([c["name"] for c in categories])
    label_of_id = {c["id"]: domain.classes[i] for i, c in enumerate(categories)}
    class_info = [
        {
            "label": domain.classes[i],
            "category_id": c["id"],
            "name": c["name"],
            "supercategory": c.get("supercategory", ""),
        }
        for i, c in enumerate(categories)
    ]
    samples: dict[str, list[dict[str, Any]]] = {}
    locators: list[str] = []
    for split, coco in data.items():
        samples[split] = _split_samples(split, coco, label_of_id, locators)
    spec = DatasetSpec(
        name=name,
        task=TASK,
        template_text=TEMPLATE,
        sample_type=SAMPLE_TYPE,
        domain=domain,
        splits=samples,
        media_root=root,
        locators=locators,
        global_info_type=INFO_TYPE,
        global_info={"class_info": class_info},
    )
    return write_dataset(spec, out, media=media)


def _categories(data: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    first_split = next(iter(data))
    categories = sorted(data[first_split]["categories"], key=lambda c: c["id"])
    for split, coco in data.items():
        if sorted(coco["categories"], key=lambda c: c["id"]) != categories:
            raise ValueError(
                f"splits {first_split} and {split} have different categories; "
                "convert them separately"
            )
    ids = [c["id"] for c in categories]
    if len(set(ids)) != len(ids):
        raise ValueError("categories: category ids repeat")
    return categories


def _split_samples(
    split: str, coco: dict[str, Any], label_of_id: dict[int, str], locators: list[str]
) -> list[dict[str, Any]]:
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    image_ids = {img["id"] for img in coco["images"]}
    for ann in coco["annotations"]:
        if ann["image_id"] not in image_ids:
            raise ValueError(f"{split}: annotation {ann.get('id')} names unknown image")
        if ann["category_id"] not in label_of_id:
            raise ValueError(
                f"{split}: annotation {ann.get('id')} has unknown category {ann['category_id']}"
            )
        by_image[ann["image_id"]].append(ann)
    samples = []
    for img in coco["images"]:
        locator = f"{split}/{img['file_name']}"
        locators.append(locator)
        samples.append(
            {
                "image": locator,
                "image_id": img["id"],
                "image_shape": [img["height"], img["width"]],
                "objects": [_object(a, label_of_id) for a in by_image[img["id"]]],
            }
        )
    return samples


def _object(ann: dict[str, Any], label_of_id: dict[int, str]) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "ann_id": ann["id"],
        "bbox": [num(v) for v in ann["bbox"]],
        "label": label_of_id[ann["category_id"]],
        "iscrowd": bool(ann.get("iscrowd", 0)),
        "area": num(ann.get("area", 0)),
    }
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        obj["rle"] = seg  # RLE (compressed or not) has no DSDL geometry type: kept as a Dict
    elif isinstance(seg, list) and seg:
        rings = []
        for flat in seg:
            if len(flat) < 6 or len(flat) % 2:
                raise ValueError(
                    f"annotation {ann['id']}: a polygon needs an even count >= 6 of numbers, "
                    f"got {len(flat)}"
                )
            rings.append([[num(flat[i]), num(flat[i + 1])] for i in range(0, len(flat), 2)])
        obj["polygon"] = rings
    return obj


def dsdl_to_coco(dataset: str | Path, out: str | Path, *, copy_images: bool = True) -> Path:
    """Write every split of a DSDL detection dataset as COCO under `out`; returns `out`.

    Works on any struct with an Image, and a list of objects with a BBox and a Label; the
    COCO-specific fields (ann_id, iscrowd, area, polygon, rle, image_id) are used when there.
    """
    out = fresh_output_folder(out)
    splits = load_dataset(dataset, box_mode="xywh")
    for split_name, split in splits.items():
        categories, cat_id = _export_categories(split)
        images, annotations = [], []
        next_ann = 1
        for index, sample in enumerate(split, start=1):
            image = image_of(sample)
            fields = values(sample)
            image_id = fields["image_id"] if fields.get("image_id") is not None else index
            file_name = _strip_split(image.locator, split_name)
            width, height = image_size(sample)
            images.append(
                {"id": image_id, "file_name": file_name, "width": width, "height": height}
            )
            if copy_images:
                if image.path is None or not image.path.is_file():
                    raise FileNotFoundError(f"image {image.locator!r} is missing")
                target = out / split_name / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image.path, target)
            for obj in objects_of(sample):
                ann = _export_object(obj, image_id, cat_id, next_ann)
                next_ann = max(next_ann, ann["id"]) + 1
                annotations.append(ann)
        path = out / "annotations" / f"instances_{split_name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"images": images, "annotations": annotations, "categories": categories},
            ensure_ascii=False,
        )
        path.write_text(text + "\n", encoding="utf-8")
    return out


def _strip_split(locator: str, split: str) -> str:
    prefix = f"{split}/"
    return locator[len(prefix) :] if locator.startswith(prefix) else locator


def _export_categories(split: Any) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """COCO categories and DSDL 1-based index -> category id."""
    domains = list(split.domains.values())
    if len(domains) != 1:
        raise ValueError(f"exporting to COCO needs one class domain, found {len(domains)}")
    domain = domains[0]
    info = split.global_info()
    class_info = getattr(info, "class_info", None)
    if class_info:
        categories = [
            {"id": c.category_id, "name": c.name, "supercategory": c.supercategory}
            for c in class_info
        ]
        return categories, {c.label.index: c.category_id for c in class_info}
    categories = [
        {
            "id": i,
            "name": c.rsplit(".", 1)[-1],
            "supercategory": c.rsplit(".", 1)[0] if "." in c else "",
        }
        for i, c in enumerate(domain.classes, start=1)
    ]
    return categories, {i: i for i in range(1, len(domain) + 1)}


def _export_object(obj: Any, image_id: int, cat_id: dict[int, int], next_id: int) -> dict[str, Any]:
    fields = values(obj)
    box = box_of(obj)
    polygon = next((v for v in fields.values() if isinstance(v, Polygon)), None)
    if isinstance(fields.get("rle"), dict):
        segmentation: Any = fields["rle"]
    elif polygon is not None:
        segmentation = [[num(c) for point in ring for c in point] for ring in polygon.rings]
    else:
        segmentation = []
    area = fields.get("area")
    if area is None:
        area = polygon.area() if polygon is not None else box.area
    return {
        "id": fields["ann_id"] if fields.get("ann_id") is not None else next_id,
        "image_id": image_id,
        "category_id": cat_id[label_of(obj).index],
        "bbox": [num(v) for v in box.values],
        "area": num(area),
        "iscrowd": int(bool(fields.get("iscrowd") or False)),
        "segmentation": segmentation,
    }


def canonical_coco(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a COCO file a round trip must keep, in a fixed order (ids sorted)."""
    images = sorted(
        ({k: img[k] for k in ("id", "file_name", "width", "height")} for img in data["images"]),
        key=lambda x: x["id"],
    )
    annotations = sorted(
        (
            {
                "id": a["id"],
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "bbox": [float(v) for v in a["bbox"]],
                "area": float(a.get("area", 0)),
                "iscrowd": int(a.get("iscrowd", 0)),
                "segmentation": _canonical_seg(a.get("segmentation", [])),
            }
            for a in data["annotations"]
        ),
        key=lambda x: x["id"],
    )
    categories = sorted(
        (
            {"id": c["id"], "name": c["name"], "supercategory": c.get("supercategory", "")}
            for c in data["categories"]
        ),
        key=lambda x: x["id"],
    )
    return {"images": images, "annotations": annotations, "categories": categories}


def _canonical_seg(seg: Any) -> Any:
    if isinstance(seg, list):
        return [[float(v) for v in ring] for ring in seg]
    return seg


def coco_equal(a: dict[str, Any], b: dict[str, Any], tol: float = 1e-6) -> tuple[bool, str]:
    """Whether two COCO files agree after canonicalisation (numbers within `tol`), and where not."""
    return _close(canonical_coco(a), canonical_coco(b), tol, "")


def _close(x: Any, y: Any, tol: float, where: str) -> tuple[bool, str]:
    if isinstance(x, dict) and isinstance(y, dict):
        if set(x) != set(y):
            return False, f"{where}: keys {sorted(set(x) ^ set(y))} differ"
        for k in x:
            ok, why = _close(x[k], y[k], tol, f"{where}/{k}")
            if not ok:
                return ok, why
        return True, ""
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return False, f"{where}: {len(x)} vs {len(y)} items"
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            ok, why = _close(p, q, tol, f"{where}/{i}")
            if not ok:
                return ok, why
        return True, ""
    if isinstance(x, float) or isinstance(y, float):
        if isinstance(x, int | float) and isinstance(y, int | float) and abs(x - y) <= tol:
            return True, ""
        return False, f"{where}: {x!r} vs {y!r}"
    return (x == y, "" if x == y else f"{where}: {x!r} vs {y!r}")
