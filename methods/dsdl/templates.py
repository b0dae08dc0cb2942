"""The 13 task templates of the DSDL library, with the three bugs of the SDK's copies fixed.

Fixes against dsdl-sdk's `dsdl_library/` (af1960a):
- instance segmentation (segmap) and panoptic segmentation used `InsMap`; the SDK registers
  the type as `InstanceMap`;
- OCR detection used `Bbox` (now `BBox`); OCR end-to-end used `Polygon/Bbox`, which is no type
  expression (now `Polygon`: a box is a 4-point polygon);
- keypoint detection listed `LocalObjectEntry`, which it never defines (now
  `KeyPointLocalObject`, the struct it does define).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VERSION = "0.5.3"


@dataclass(frozen=True)
class Template:
    key: str
    task: str  # the SDK's task name
    sample_type: str  # the struct a split's `sample-type` names
    params: tuple[str, ...]  # its class-domain parameters
    body: str  # the definitions, YAML

    @property
    def text(self) -> str:
        return f'$dsdl-version: "{VERSION}"\n\n{self.body.strip()}\n'

    def sample_type_for(self, *domains: str) -> str:
        """`Sample[cdom=Dom]` for the given domains, in the order of `params`."""
        if len(domains) != len(self.params):
            raise ValueError(
                f"domains: template {self.key} takes {len(self.params)} class domain(s) "
                f"({', '.join(self.params) or 'none'}), got {len(domains)}"
            )
        if not domains:
            return self.sample_type
        args = ", ".join(f"{p}={d}" for p, d in zip(self.params, domains, strict=True))
        return f"{self.sample_type}[{args}]"


_T = [
    Template(
        "classification",
        "Image Classification",
        "ClassificationSample",
        ("cdom",),
        """
ClassificationSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        label: Label[dom=$cdom]
    $optional: ["label"]
""",
    ),
    Template(
        "detection",
        "Object Detection",
        "ObjectDetectionSample",
        ("cdom",),
        """
LocalObjectEntry:
    $def: struct
    $params: ["cdom"]
    $fields:
        bbox: BBox
        label: Label[dom=$cdom]

ObjectDetectionSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        objects: List[etype=LocalObjectEntry[cdom=$cdom]]
""",
    ),
    Template(
        "semantic-seg",
        "Semantic Segmentation",
        "SemanticSegmentationSample",
        ("cdom",),
        """
SemanticSegmentationSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        semantic_map: LabelMap[dom=$cdom]
""",
    ),
    Template(
        "instance-seg-polygon",
        "Instance Segmentation-polygon",
        "InstanceSegmentationSample",
        ("cdom",),
        """
LocalInstanceEntry:
    $def: struct
    $params: ["cdom"]
    $fields:
        label: Label[dom=$cdom]
        bbox: BBox
        polygon: Polygon

InstanceSegmentationSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        instances: List[etype=LocalInstanceEntry[cdom=$cdom]]
""",
    ),
    Template(
        "instance-seg-segmap",
        "Instance Segmentation-segmap",
        "InstanceSegmentationSample",
        ("cdom",),
        """
InstanceSegmentationSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        instance_map: InstanceMap
        semantic_map: LabelMap[dom=$cdom]
""",
    ),
    Template(
        "panoptic-seg",
        "Panoptic Segmentation",
        "PanopticSegmentationSample",
        ("cdom",),
        """
PanopticSegmentationSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        instance_map: InstanceMap
        semantic_map: LabelMap[dom=$cdom]
""",
    ),
    Template(
        "keypoint",
        "Keypoint Detection",
        "KeyPointSample",
        ("cdom1", "cdom2"),
        """
KeyPointLocalObject:
    $def: struct
    $params: ["cdom1", "cdom2"]
    $fields:
        keypoint: Keypoint[dom=$cdom2]
        label: Label[dom=$cdom1]
    $optional: ["label"]

KeyPointSample:
    $def: struct
    $params: ["cdom1", "cdom2"]
    $fields:
        image: Image
        annotations: List[etype=KeyPointLocalObject[cdom1=$cdom1, cdom2=$cdom2]]
""",
    ),
    Template(
        "rotated-detection",
        "Rotated Object Detection",
        "OrientedObjectDetectionSample",
        ("cdom",),
        """
LocalObjectEntry:
    $def: struct
    $params: ["cdom"]
    $fields:
        rbbox: RotatedBBox[mode="xyxy"]
        label: Label[dom=$cdom]

OrientedObjectDetectionSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        objects: List[etype=LocalObjectEntry[cdom=$cdom]]
""",
    ),
    Template(
        "tracking",
        "Object Tracking",
        "VideoFrame",
        ("cdom",),
        """
LocalObjectEntry:
    $def: struct
    $params: ["cdom"]
    $fields:
        instance_id: InstanceID
        bbox: BBox
        category: Label[dom=$cdom]

FrameSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        frame_id: UniqueID
        media_path: Image
        objects: List[etype=LocalObjectEntry[cdom=$cdom]]

VideoFrame:
    $def: struct
    $params: ["cdom"]
    $fields:
        video_name: Str
        videoframes: List[etype=FrameSample[cdom=$cdom]]
""",
    ),
    Template(
        "ocr-detection",
        "Optical Character Recognition-detection",
        "OCRSample",
        (),
        """
OCRSample:
    $def: struct
    $fields:
        image: Image
        instances: List[etype=BBox]
""",
    ),
    Template(
        "ocr-recognition",
        "Optical Character Recognition-recognition",
        "OCRSample",
        (),
        """
OCRSample:
    $def: struct
    $fields:
        word_image: Image
        text: Text
""",
    ),
    Template(
        "ocr-segmap",
        "Optical Character Recognition-segmentation",
        "OCRSample",
        ("cdom",),
        """
SegClassDom:
    $def: class_domain
    classes:
        - text

OCRSample:
    $def: struct
    $params: ["cdom"]
    $fields:
        image: Image
        word_segmap: LabelMap[dom=$cdom]
        chr_segmap: LabelMap[dom=$cdom]
""",
    ),
    Template(
        "ocr-end2end",
        "Optical Character Recognition-end_to_end",
        "OCRSample",
        (),
        """
LocalInstanceEntry:
    $def: struct
    $fields:
        location: Polygon
        text: Text

OCRSample:
    $def: struct
    $fields:
        image: Image
        instances: List[etype=LocalInstanceEntry]
""",
    ),
]

TEMPLATES: dict[str, Template] = {t.key: t for t in _T}


def template(task: str) -> Template:
    """A template by key ('detection') or by the SDK's task name ('Object Detection')."""
    if task in TEMPLATES:
        return TEMPLATES[task]
    for t in _T:
        if t.task.lower() == task.lower():
            return t
    raise KeyError(f"task: no template {task!r}; known: {', '.join(TEMPLATES)}")


def write_template(task: str, folder: str | Path, name: str = "template.yaml") -> Path:
    """Write a template's YAML into `folder` (as the SDK's `get_dsdl_template_from_lib`)."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template(task).text, encoding="utf-8")
    return path
