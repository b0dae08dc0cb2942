"""DSDL (Data Set Description Language): parse, validate, convert and load described datasets.

    from methods.dsdl import coco_to_dsdl, validate, load_split, describe

    coco_to_dsdl("coco/", "coco-dsdl/")                 # the SDK's converted layout
    report = validate("coco-dsdl/")                     # every problem: class, JSON pointer
    split = load_split("coco-dsdl/dsdl/set-train/train.yaml", box_mode="xyxy")
    print(split[0].objects[0].bbox.values, split[0].objects[0].label.name)

Wang et al., "DSDL: Data Set Description Language for Bridging Modalities and Tasks in AI
Data", arXiv 2405.18315. See README.md for the language, the departures and the benchmark.
"""

from methods.dsdl.classdom import ClassDomain, ClassLabel, sanitize_class_name
from methods.dsdl.convert import FORMATS, convert
from methods.dsdl.convert.coco import coco_to_dsdl, dsdl_to_coco
from methods.dsdl.convert.imagefolder import dsdl_to_imagefolder, imagefolder_to_dsdl
from methods.dsdl.convert.segmentation import dsdl_to_segmentation, segmentation_to_dsdl
from methods.dsdl.convert.voc import dsdl_to_voc, voc_to_dsdl
from methods.dsdl.errors import (
    DSDLDefinitionError,
    DSDLError,
    DSDLValidationError,
    DSDLWarning,
    Problem,
)
from methods.dsdl.fields import FIELD_TYPES, FieldType, register_field_type
from methods.dsdl.geometry import Box, ImageShape, Keypoints, Media, Polygon, RotatedBox
from methods.dsdl.loader import Split, load_dataset, load_split
from methods.dsdl.parser import Description, load_description, parse
from methods.dsdl.stats import DatasetStats, describe, histogram_png
from methods.dsdl.templates import TEMPLATES, Template, template, write_template
from methods.dsdl.typeexpr import TypeExpr, parse_type
from methods.dsdl.validate import Report, find_descriptions, validate
from methods.dsdl.view import draw_sample, view

__all__ = [
    "FIELD_TYPES",
    "FORMATS",
    "TEMPLATES",
    "Box",
    "ClassDomain",
    "ClassLabel",
    "DSDLDefinitionError",
    "DSDLError",
    "DSDLValidationError",
    "DSDLWarning",
    "DatasetStats",
    "Description",
    "FieldType",
    "ImageShape",
    "Keypoints",
    "Media",
    "Polygon",
    "Problem",
    "Report",
    "RotatedBox",
    "Split",
    "Template",
    "TypeExpr",
    "coco_to_dsdl",
    "convert",
    "describe",
    "draw_sample",
    "dsdl_to_coco",
    "dsdl_to_imagefolder",
    "dsdl_to_segmentation",
    "dsdl_to_voc",
    "find_descriptions",
    "histogram_png",
    "imagefolder_to_dsdl",
    "load_dataset",
    "load_description",
    "load_split",
    "parse",
    "parse_type",
    "register_field_type",
    "sanitize_class_name",
    "segmentation_to_dsdl",
    "template",
    "validate",
    "view",
    "voc_to_dsdl",
    "write_template",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # The torch Dataset loads torch only when asked for.
    if name == "DSDLDataset":
        from methods.dsdl.torch_dataset import DSDLDataset

        return DSDLDataset
    raise AttributeError(f"module 'methods.dsdl' has no attribute {name!r}")
