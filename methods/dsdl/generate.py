"""Synthetic datasets drawn with Pillow, with known shapes: COCO, VOC, ImageFolder, masks.

Every generator is seeded and writes only under the folder it is given, so tests, the
benchmark and the example task have real files in each format to convert, offline.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

# Category ids out of order and names with spaces and punctuation, as in real COCO files.
COCO_CATEGORIES = [
    {"id": 7, "name": "red box", "supercategory": "box"},
    {"id": 2, "name": "blue ellipse", "supercategory": "ellipse"},
    {"id": 11, "name": "green box", "supercategory": "box"},
    {"id": 5, "name": "hair-drier", "supercategory": "thing"},
]
COCO_KINDS = ["rect", "ellipse", "rect", "ellipse"]
VOC_CLASSES = ["car", "dog", "person", "pottedplant"]
FOLDER_CLASSES = ["circle", "square", "triangle"]
SEG_CLASSES = ["sky", "road", "tree"]
COLORS = [(220, 40, 40), (40, 80, 220), (40, 170, 60), (200, 160, 30), (150, 60, 170)]


@dataclass(frozen=True)
class Shape:
    kind: str  # "rect" or "ellipse"
    box: tuple[int, int, int, int]  # x, y, w, h in whole pixels
    cls: int  # index into the class list


def _shapes(
    rng: np.random.Generator, w: int, h: int, n_classes: int, most: int, kinds: list[str] | None
) -> list[Shape]:
    """Random boxes; `kinds` fixes each class's shape, else a coin decides per object."""
    shapes = []
    for _ in range(int(rng.integers(1, most + 1))):
        bw, bh = int(rng.integers(6, w // 2)), int(rng.integers(6, h // 2))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        cls = int(rng.integers(n_classes))
        kind = kinds[cls] if kinds else ("rect" if rng.random() < 0.5 else "ellipse")
        shapes.append(Shape(kind, (x, y, bw, bh), cls))
    return shapes


def _draw(shapes: list[Shape], w: int, h: int, rng: np.random.Generator) -> Image.Image:
    noise = rng.integers(0, 30, size=(h, w, 3), dtype=np.uint8)
    img = Image.fromarray(noise + 200, "RGB")
    draw = ImageDraw.Draw(img)
    for s in shapes:
        x, y, bw, bh = s.box
        xy = (x, y, x + bw - 1, y + bh - 1)
        color = COLORS[s.cls % len(COLORS)]
        (draw.rectangle if s.kind == "rect" else draw.ellipse)(xy, fill=color)
    return img


def _ellipse_ring(box: tuple[int, int, int, int], points: int = 12) -> list[float]:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    ring = []
    for k in range(points):
        t = 2 * np.pi * k / points
        ring += [round(cx + w / 2 * np.cos(t), 2), round(cy + h / 2 * np.sin(t), 2)]
    return ring


def _rle(box: tuple[int, int, int, int], w: int, h: int) -> dict[str, Any]:
    """Uncompressed COCO RLE of a filled box: run lengths over the column-major mask."""
    mask = np.zeros((h, w), dtype=np.uint8)
    x, y, bw, bh = box
    mask[y : y + bh, x : x + bw] = 1
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"counts": counts, "size": [h, w]}


def generate_coco(
    root: str | Path,
    *,
    images: int = 8,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
    size: tuple[int, int] = (64, 48),
) -> Path:
    """COCO files under `root`: annotations/instances_<split>.json and <split>/ images.

    Boxes and polygons of drawn rectangles and ellipses, some crowd regions with RLE, category
    ids out of order; annotation ids run across splits like COCO's.
    """
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = size
    image_id, ann_id = 1, 1
    for split in splits:
        (root / split).mkdir(parents=True, exist_ok=True)
        coco: dict[str, Any] = {"images": [], "annotations": [], "categories": COCO_CATEGORIES}
        for i in range(images):
            shapes = _shapes(rng, w, h, len(COCO_CATEGORIES), 4, COCO_KINDS)
            name = f"{split}_{i:05d}.png"
            _draw(shapes, w, h, rng).save(root / split / name)
            coco["images"].append({"id": image_id, "file_name": name, "width": w, "height": h})
            for s in shapes:
                crowd = s.kind == "rect" and rng.random() < 0.2
                x, y, bw, bh = s.box
                if crowd:
                    seg: Any = _rle(s.box, w, h)
                elif s.kind == "rect":
                    seg = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
                else:
                    seg = [_ellipse_ring(s.box)]
                area = float(bw * bh) if s.kind == "rect" else round(np.pi * bw * bh / 4, 3)
                coco["annotations"].append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": COCO_CATEGORIES[s.cls]["id"],
                        "bbox": [x, y, bw, bh] if s.kind == "rect" else [x + 0.5, y + 0.25, bw, bh],
                        "area": area,
                        "iscrowd": int(crowd),
                        "segmentation": seg,
                    }
                )
                ann_id += 1
            image_id += 1
        ann_dir = root / "annotations"
        ann_dir.mkdir(parents=True, exist_ok=True)
        (ann_dir / f"instances_{split}.json").write_text(json.dumps(coco), encoding="utf-8")
    return root


def generate_voc(
    root: str | Path,
    *,
    images: int = 8,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
    size: tuple[int, int] = (64, 48),
) -> Path:
    """A Pascal VOC folder: Annotations/*.xml, JPEGImages/*.jpg, ImageSets/Main/<split>.txt."""
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = size
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    poses = ["Unspecified", "Left", "Right", "Frontal"]
    for split in splits:
        ids = []
        for i in range(images):
            stem = f"2024_{split}_{i:04d}"
            ids.append(stem)
            shapes = _shapes(rng, w, h, len(VOC_CLASSES), 3, None)
            _draw(shapes, w, h, rng).save(root / "JPEGImages" / f"{stem}.jpg", quality=90)
            ann = ET.Element("annotation")
            ET.SubElement(ann, "folder").text = "VOC2012"
            ET.SubElement(ann, "filename").text = f"{stem}.jpg"
            size_el = ET.SubElement(ann, "size")
            for tag, value in (("width", w), ("height", h), ("depth", 3)):
                ET.SubElement(size_el, tag).text = str(value)
            ET.SubElement(ann, "segmented").text = str(int(rng.random() < 0.3))
            for s in shapes:
                obj = ET.SubElement(ann, "object")
                ET.SubElement(obj, "name").text = VOC_CLASSES[s.cls]
                ET.SubElement(obj, "pose").text = poses[int(rng.integers(len(poses)))]
                ET.SubElement(obj, "truncated").text = str(int(rng.random() < 0.3))
                ET.SubElement(obj, "difficult").text = str(int(rng.random() < 0.2))
                bnd = ET.SubElement(obj, "bndbox")
                x, y, bw, bh = s.box
                for tag, value in (("xmin", x), ("ymin", y), ("xmax", x + bw), ("ymax", y + bh)):
                    ET.SubElement(bnd, tag).text = str(value)
            ET.ElementTree(ann).write(root / "Annotations" / f"{stem}.xml", encoding="utf-8")
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def generate_imagefolder(
    root: str | Path,
    *,
    images: int = 8,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
    size: tuple[int, int] = (32, 32),
) -> Path:
    """`<root>/<split>/<class>/<n>.png` with one drawn shape per image (its class)."""
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = size
    for split in splits:
        for i in range(images):
            cls = int(rng.integers(len(FOLDER_CLASSES)))
            name = FOLDER_CLASSES[cls]
            img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(150, 255, 3)))
            draw = ImageDraw.Draw(img)
            pad = int(rng.integers(2, 8))
            box = (pad, pad, w - pad, h - pad)
            if name == "circle":
                draw.ellipse(box, fill=COLORS[cls])
            elif name == "square":
                draw.rectangle(box, fill=COLORS[cls])
            else:
                draw.polygon([(w / 2, pad), (w - pad, h - pad), (pad, h - pad)], fill=COLORS[cls])
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{split}_{i:05d}.png")
    return root


def generate_segmentation(
    root: str | Path,
    *,
    images: int = 8,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
    size: tuple[int, int] = (48, 32),
) -> Path:
    """`<root>/classes.txt` and `<root>/<split>/{images,masks}/`: masks hold 1-based class
    indices (0 unlabelled, 255 ignored) in single-channel PNGs."""
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = size
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(SEG_CLASSES) + "\n", encoding="utf-8")
    for split in splits:
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(images):
            mask = np.zeros((h, w), dtype=np.uint8)
            horizon = int(rng.integers(h // 4, h // 2))
            mask[:horizon] = 1  # sky
            mask[horizon:] = 2  # road
            tx, tw = int(rng.integers(0, w - 8)), int(rng.integers(4, 8))
            mask[horizon - 6 : h - 4, tx : tx + tw] = 3  # tree
            mask[-1, :] = 255  # an ignored border row
            palette = np.array([(0, 0, 0), (120, 180, 250), (90, 90, 90), (30, 130, 40)])
            rgb = palette[np.minimum(mask, 3)].astype(np.uint8)
            stem = f"{split}_{i:05d}"
            Image.fromarray(rgb, "RGB").save(root / split / "images" / f"{stem}.png")
            Image.fromarray(mask, "L").save(root / split / "masks" / f"{stem}.png")
    return root


def generate_detection_dsdl(
    out: str | Path,
    *,
    samples: int = 10_000,
    boxes: int = 5,
    seed: int = 0,
    classes: int = 20,
    touch_media: bool = True,
) -> Path:
    """A large DSDL detection split (external samples JSON) for timing the validator.

    Each sample has `boxes` boxes on average (Poisson); media files are created empty, since
    validation checks that they exist, not their pixels.
    """
    from methods.dsdl.convert.layout import samples_text
    from methods.dsdl.templates import template

    out = Path(out)
    rng = np.random.default_rng(seed)
    t = template("detection")
    (out / "defs").mkdir(parents=True, exist_ok=True)
    (out / "defs" / "template.yaml").write_text(t.text, encoding="utf-8")
    names = [f"class_{i:02d}" for i in range(classes)]
    dom = '$dsdl-version: "0.5.3"\n\nClassDom:\n    $def: class_domain\n    classes:\n'
    dom += "".join(f"        - {n}\n" for n in names)
    (out / "defs" / "class-dom.yaml").write_text(dom, encoding="utf-8")
    split = out / "set-train"
    (split / "media").mkdir(parents=True, exist_ok=True)
    rows = []
    counts = rng.poisson(boxes, size=samples)
    for i in range(samples):
        n = int(counts[i])
        xy = rng.uniform(0, 500, size=(n, 2)).round(2)
        wh = rng.uniform(1, 200, size=(n, 2)).round(2)
        labels = rng.integers(1, classes + 1, size=n)
        objects = [
            {
                "bbox": [float(xy[k, 0]), float(xy[k, 1]), float(wh[k, 0]), float(wh[k, 1])],
                "label": names[labels[k] - 1] if k % 2 else int(labels[k]),
            }
            for k in range(n)
        ]
        locator = f"media/{i:06d}.jpg"
        rows.append({"image": locator, "objects": objects})
        if touch_media:
            (split / locator).touch()
    (split / "train_samples.json").write_text(samples_text(rows), encoding="utf-8")
    (split / "train.yaml").write_text(
        '$dsdl-version: "0.5.3"\n$import:\n    - ../defs/class-dom\n    - ../defs/template\n'
        'meta:\n    Dataset Name: "speed"\n    Subset Name: "train"\n'
        "data:\n    sample-type: ObjectDetectionSample[cdom=ClassDom]\n"
        "    sample-path: train_samples.json\n",
        encoding="utf-8",
    )
    return split / "train.yaml"
