"""DSDL language: type expressions, class domains, field types, parsing, imports, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from methods.dsdl import (
    FIELD_TYPES,
    ClassDomain,
    DSDLDefinitionError,
    FieldType,
    load_description,
    parse,
    parse_type,
    register_field_type,
    validate,
)
from methods.dsdl.corpus import (
    EVERY_FIELD,
    EVERY_VALUE,
    every_field_description,
    malformed_corpus,
    valid_corpus,
)
from methods.dsdl.errors import DefineSyntaxError
from methods.dsdl.fastschema import acceptor
from methods.dsdl.typeexpr import ParamRef, TypeExpr, from_yaml


def write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# ---- type expressions ------------------------------------------------------------------------


def test_type_expression_parses_nested_parameters_and_literals():
    expr = parse_type("List[etype=Entry[cdom=$cdom], ordered=true]")
    assert expr.name == "List"
    assert expr.arg("ordered") is True
    assert expr.arg("etype") == TypeExpr("Entry", (("cdom", ParamRef("cdom")),))
    assert parse_type('RotatedBBox[mode="xyxy"]').arg("mode") == "xyxy"
    assert parse_type("List[Int]").positional == (TypeExpr("Int"),)
    assert str(parse_type("BBox3D[mode=auto-drive]")) == "BBox3D[mode=auto-drive]"


@pytest.mark.parametrize(
    "text", ["Polygon/Bbox", "Label[dom=]", "List[Int", "BBox[mode=a, mode=b]", ""]
)
def test_malformed_type_expression_raises_define_syntax_error(text):
    with pytest.raises(DefineSyntaxError):
        parse_type(text)


def test_object_form_of_a_type_reads_like_the_string_form():
    assert from_yaml({"$type": "Sample", "cdom": "MyDom"}) == parse_type("Sample[cdom=MyDom]")
    with pytest.raises(DefineSyntaxError, match=r"\$type"):
        from_yaml({"cdom": "MyDom"})


# ---- class domains ---------------------------------------------------------------------------


def test_labels_resolve_by_name_one_based_index_leaf_and_qualified_name():
    dom = ClassDomain("Dom", ["vehicle.car", "animal.dog", "animal.cat"])
    assert dom.resolve("animal.dog").index == 2
    assert dom.resolve(1).name == "vehicle.car"
    assert dom.resolve("cat").index == 3
    assert dom.resolve("Dom::dog").parents == ("animal",)
    assert dom.index_of(0) is None and dom.index_of(4) is None and dom.index_of(True) is None
    assert "1-based" in dom.why_not(0)
    assert "names domain 'Other'" in dom.why_not("Other::dog")
    assert dom.hierarchy()["animal"] == ["animal.dog", "animal.cat"]


def test_a_leaf_shared_by_two_classes_needs_the_full_name():
    dom = ClassDomain("Dom", ["a.x", "b.x"])
    assert dom.index_of("x") is None
    assert "ambiguous" in dom.why_not("x")
    assert dom.index_of("b.x") == 2


# ---- field types -----------------------------------------------------------------------------

GOOD_BAD = [
    ("Bool", {}, [True, 0, 1], [2, "true", None]),
    ("Int", {}, [3, -1, 2.0], ["1", 1.5, True]),
    ("Num", {}, [1, 2.5], ["1", False]),
    ("Str", {}, ["a"], [1]),
    ("Coord3D", {}, [[1, 2, 3]], [[1, 2]]),
    ("Interval", {}, [[1, 1], [0, 5]], [[5, 0], [1]]),
    ("BBox", {}, [[0, 0, 0, 0], [1.5, 2, 3, 4]], [[1, 1, 3], [1, 1, -1, 2], [1, 1, "a", 2]]),
    ("BBox", {"mode": "xyxy"}, [[1, 1, 5, 5]], [[5, 5, 1, 1]]),
    ("RotatedBBox", {}, [[1, 1, 2, 2, 0.3]], [[1, 1, 2, 2], [1, 2, 3, 4, 5, 6]]),
    ("RotatedBBox", {"mode": "xyxy"}, [[0, 0, 1, 0, 1, 1, 0, 1]], [[1, 1, 2, 2, 0.3]]),
    (
        "Polygon",
        {},
        [[[[0, 0], [1, 0], [1, 1]]], [[0, 0], [1, 0], [1, 1]]],
        [[[[0, 0], [1, 1]]], []],
    ),
    ("BBox3D", {}, [[0, 0, 0, 1, 1, 1, 0]], [[0, 0, 0, 1, 1, 1, 0, 0, 0]]),
    ("BBox3D", {"mode": "indoor"}, [[0, 0, 0, 1, 1, 1, 0, 0, 0]], [[0, 0, 0, -1, 1, 1, 0, 0, 0]]),
    ("ImageShape", {}, [[480, 640]], [[480], [480.5, 640], [-1, 3]]),
    ("UniqueID", {}, ["000012"], [12]),
    ("Date", {}, ["2024-05-29"], ["29/05/2024", 20240529]),
    ("Date", {"fmt": "%d/%m/%Y"}, ["29/05/2024"], ["2024-05-29"]),
    ("Time", {}, ["12:30:00"], ["noon"]),
    ("Image", {}, ["a/b.png", {"$loc": "a.png", "$descr": "x"}], ["", 3, {"$descr": "x"}]),
]


@pytest.mark.parametrize(("name", "args", "good", "bad"), GOOD_BAD)
def test_field_types_accept_good_values_and_reject_bad_ones(name, args, good, bad):
    ft = FIELD_TYPES[name](args)
    for value in good:
        assert ft.check(value) is None, (name, value)
    for value in bad:
        issues = ft.check(value)
        assert issues and issues[0][0] == "FieldValueError", (name, value)


def test_domain_fields_check_membership_and_keypoint_count():
    dom = ClassDomain("Kp", ["nose", "eye"], skeleton=[(1, 2)])
    label = FIELD_TYPES["Label"]({}, {"dom": dom})
    assert label.check("eye") is None and label.check(2) is None
    assert label.check(3)[0][0] == "LabelError"
    kp = FIELD_TYPES["Keypoint"]({}, {"dom": dom})
    assert kp.definition_issues() == []
    assert kp.check([[1, 1, 2], [2, 2, 1]]) is None
    assert kp.check([[1, 1, 2]])[0][0] == "KeypointError"
    bare = FIELD_TYPES["Keypoint"]({}, {"dom": ClassDomain("NoSk", ["a"])})
    assert bare.definition_issues()[0][0] == "KeypointError"


def test_unknown_or_wrong_field_parameters_are_listed():
    assert FIELD_TYPES["BBox"].check_args({"mode": "xyzw"})
    assert "no parameter 'size'" in FIELD_TYPES["BBox"].check_args({"size": 3})[0]
    assert FIELD_TYPES["BBox"].check_args({"mode": "xyxy"}) == []


def test_fast_acceptor_never_accepts_what_jsonschema_rejects():
    """The speed path may only say yes where jsonschema says yes (it decides every no)."""
    rng = np.random.default_rng(0)
    atoms = [0, 1, 2, -1, 1.5, -0.5, True, False, None, "", "a", "1", [], {}, {"$loc": "x"}]

    def random_value(depth: int = 0):
        r = rng.random()
        if depth < 3 and r < 0.4:
            return [random_value(depth + 1) for _ in range(int(rng.integers(0, 10)))]
        return atoms[int(rng.integers(len(atoms)))]

    domains = {"dom": ClassDomain("D", ["a", "b", "c"], skeleton=[(1, 2)])}
    checked = 0
    for name, cls in FIELD_TYPES.items():
        ft = cls({}, domains if cls.domain_params else None)
        schema = ft.schema()
        fast, slow = acceptor(schema), Draft202012Validator(schema).is_valid
        assert fast is not None, name  # every built-in schema is in the fast subset
        for _ in range(300):
            value = random_value()
            if fast(value):
                assert slow(value), (name, value)
                checked += 1
    assert checked > 100


def test_fast_acceptor_takes_the_common_valid_values(tmp_path):
    """So that valid data does not pay for jsonschema's full machinery."""
    from methods.dsdl.compiler import Compiler

    desc = parse(write(tmp_path / "every.yaml", every_field_description()))
    node = Compiler(desc).compile(desc.data.sample_type)
    for path, ft in node.leaves():
        value = EVERY_VALUE[path[0]]
        values = value if path[1:] == ("*",) else [value]  # list fields: each element
        if path[0] == "outline":
            values = [[value]]  # the fast path is for the list-of-rings form
        assert all(acceptor(ft.schema())(v) for v in values), path


def test_a_registered_field_type_is_usable_in_a_struct(tmp_path):
    @register_field_type
    class Angle(FieldType):
        name = "TestAngle"
        value_schema = {"type": "number", "minimum": -180, "maximum": 180}
        shape = "degrees in [-180, 180]"

    try:
        doc = {
            "$dsdl-version": "0.5.0",
            "meta": {},
            "defs": {"S": {"$def": "struct", "$fields": {"turn": "TestAngle"}}},
            "data": {"sample-type": "S", "samples": [{"turn": 90}, {"turn": 270}]},
        }
        report = validate(write(tmp_path / "a.yaml", doc))
        assert [(p.code, p.pointer) for p in report.problems] == [
            ("FieldValueError", "/data/samples/1/turn")
        ]
        assert "[-180, 180]" in report.problems[0].message
        with pytest.raises(ValueError, match="already registered"):
            register_field_type(type("Other", (FieldType,), {"name": "TestAngle"}))
    finally:
        FIELD_TYPES.pop("TestAngle")


# ---- parsing and imports ---------------------------------------------------------------------


def test_every_field_type_parses_validates_and_loads(tmp_path):
    from methods.dsdl.corpus import _media
    from methods.dsdl.loader import load_split

    _media(tmp_path)
    path = write(tmp_path / "every.yaml", every_field_description())
    report = validate(path, open_media=True)
    assert report.ok, report.problems
    sample = load_split(path, box_mode="xywh")[0]
    assert sample.box.values == (1.0, 2.0, 4.0, 4.0)  # xyxy [1, 2, 5, 6] in xywh
    assert sample.label.name == "bird" and sample.label.index == 3
    assert sample.outline.rings[0][2] == (10.0, 8.0)  # a single ring became one ring
    assert sample.pose.points.shape == (3, 3) and sample.pose.skeleton == ((1, 2), (1, 3))
    assert sample.shape.width == 32 and sample.shape.height == 24  # mode=wh
    assert str(sample.day) == "2024-05-29" and sample.flag is True
    assert sample.image.description == "the image" and sample.image.path.is_file()
    assert sample.mask.array().max() == 2
    assert set(EVERY_FIELD) == {f for f in sample.__dataclass_fields__}


def test_imports_resolve_beside_the_file_then_in_defs_and_later_ones_override(tmp_path):
    write(
        tmp_path / "defs" / "dom.yaml",
        {"$dsdl-version": "0.5", "D": {"$def": "class_domain", "classes": ["x", "y"]}},
    )
    write(
        tmp_path / "set" / "dom2.yaml",
        {"$dsdl-version": "0.5", "D": {"$def": "class_domain", "classes": ["z"]}},
    )
    doc = {
        "$dsdl-version": "0.5",
        "$import": ["dom2", "dom"],  # dom2 beside the file; dom only in ../defs
        "meta": {},
        "data": {"sample-type": "Label[dom=D]", "samples": ["y"]},
    }
    desc = parse(write(tmp_path / "set" / "s.yaml", doc))
    assert desc.ok and desc.domain("D").classes == ["x", "y"]  # the later import wins
    assert [p.name for p in desc.imports] == ["dom2.yaml", "dom.yaml"]
    doc["defs"] = {"D": {"$def": "class_domain", "classes": ["local"]}}
    assert parse(write(tmp_path / "set" / "s.yaml", doc)).domain("D").classes == ["local"]


def test_library_path_replaces_the_default_import_folders(tmp_path):
    lib = tmp_path / "lib"
    write(
        lib / "dom.yaml", {"$dsdl-version": "0.5", "D": {"$def": "class_domain", "classes": ["a"]}}
    )
    doc = {
        "$dsdl-version": "0.5",
        "$import": ["dom"],
        "meta": {},
        "data": {"sample-type": "Label[dom=D]", "samples": [1]},
    }
    path = write(tmp_path / "s.yaml", doc)
    assert [p.code for p in parse(path).problems] == ["DSDLImportError", "UndefinedDomainError"]
    assert parse(path, library_path=lib).ok
    with pytest.raises(FileNotFoundError, match="library_path"):
        parse(path, library_path=tmp_path / "nope")


def test_circular_imports_are_reported_not_followed(tmp_path):
    write(tmp_path / "a.yaml", {"$dsdl-version": "0.5", "$import": ["b"]})
    write(tmp_path / "b.yaml", {"$dsdl-version": "0.5", "$import": ["a"]})
    doc = {
        "$dsdl-version": "0.5",
        "$import": ["a"],
        "meta": {},
        "data": {"sample-type": "Int", "samples": [1]},
    }
    desc = parse(write(tmp_path / "s.yaml", doc))
    assert [(p.code, p.file.name, p.pointer) for p in desc.problems] == [
        ("DSDLImportError", "b.yaml", "/$import/0")
    ]


def test_a_json_description_parses_like_yaml(tmp_path):
    doc = every_field_description()
    path = tmp_path / "every.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    desc = parse(path)
    assert (
        desc.ok
        and set(desc.structs) == {"Everything"}
        and set(desc.domains) == {"ClassDom", "KptDom"}
    )


def test_load_description_raises_with_every_definition_problem(tmp_path):
    doc = {"meta": {}, "defs": {"S": {"$def": "struct", "$fields": {"class": "Int", "x": "Nope"}}}}
    with pytest.raises(DSDLDefinitionError) as info:
        load_description(write(tmp_path / "s.yaml", doc))
    codes = sorted(p.code for p in info.value.problems)
    assert codes == [
        "InvalidNameError",
        "SectionMissingError",
        "SectionMissingError",
        "UndefinedTypeError",
    ]


def test_missing_description_file_names_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        parse(tmp_path / "none.yaml")
    with pytest.raises(FileNotFoundError, match="path"):
        validate(tmp_path / "none")


# ---- validation ------------------------------------------------------------------------------


def test_the_valid_corpus_has_no_false_rejects(tmp_path):
    cases = valid_corpus(tmp_path)
    assert len(cases) >= 35
    rejected = {c.name: validate(c.path, open_media=True).problems for c in cases}
    assert {n: p for n, p in rejected.items() if any(x.severity == "error" for x in p)} == {}


def test_every_malformed_file_is_caught_with_its_class_and_pointer(tmp_path):
    cases = malformed_corpus(tmp_path)
    assert len(cases) >= 30
    missed = []
    for case in cases:
        report = validate(case.path, open_media=True)
        found = {(p.code, p.pointer, p.file.name if p.file else "") for p in report.problems}
        wanted = (case.code, case.pointer, case.file or case.path.name)
        if wanted not in found:
            missed.append((case.name, wanted, sorted(found)[:3]))
    assert missed == []


def test_report_counts_everything_but_keeps_only_max_problems(tmp_path):
    samples = [{"turn": "x"} for _ in range(30)]
    doc = {
        "$dsdl-version": "0.5",
        "meta": {},
        "defs": {"S": {"$def": "struct", "$fields": {"turn": "Num"}}},
        "data": {"sample-type": "S", "samples": samples},
    }
    seen = []
    report = validate(
        write(tmp_path / "s.yaml", doc), max_problems=5, progress=lambda f, m: seen.append(f)
    )
    assert report.errors == 30 and report.failed_samples == 30 and report.samples == 30
    assert len(report.problems) == 5 and report.dropped == 25 and not report.ok
    assert seen and all(0 <= f <= 1 for f in seen)
    assert "FieldValueError x30" in report.summary()
    assert "| FieldValueError | 30 |" in report.to_markdown()
    with pytest.raises(ValueError, match="max_problems"):
        validate(tmp_path / "s.yaml", max_problems=-1)


def test_optional_fields_may_be_absent_but_required_ones_may_not(tmp_path):
    doc = {
        "$dsdl-version": "0.5",
        "meta": {},
        "defs": {"S": {"$def": "struct", "$fields": {"a": "Int", "b": "Int"}, "$optional": ["b"]}},
        "data": {"sample-type": "S", "samples": [{"a": 1}, {"b": 2}]},
    }
    report = validate(write(tmp_path / "s.yaml", doc))
    assert [(p.code, p.pointer) for p in report.problems] == [
        ("MissingFieldError", "/data/samples/1/a")
    ]


def test_media_resolve_through_config_py_without_running_it(tmp_path):
    (tmp_path / "store" / "imgs").mkdir(parents=True)
    (tmp_path / "store" / "imgs" / "a.png").write_bytes(b"x")
    (tmp_path / "config.py").write_text(
        'raise SystemExit("never executed")\n'
        'local = dict(type="LocalFileReader", working_dir="store")\n'
    )
    doc = {
        "$dsdl-version": "0.5",
        "meta": {},
        "defs": {"S": {"$def": "struct", "$fields": {"image": "Image"}}},
        "data": {
            "sample-type": "S",
            "samples": [{"image": "imgs/a.png"}, {"image": "$cloud/b.png"}, {"image": "::reg::7"}],
        },
    }
    path = write(tmp_path / "dsdl" / "set-a" / "a.yaml", doc)
    report = validate(path)
    assert [(p.code, p.pointer) for p in report.problems] == [
        ("MediaNotFoundError", "/data/samples/1/image"),
        ("UnresolvedLocatorWarning", "/data/samples/2/image"),
    ]
    assert (
        validate(path, aliases={"cloud": tmp_path / "store" / "imgs"}).counts["MediaNotFoundError"]
        == 1
    )
    assert validate(path, check_media=False).ok
    with pytest.raises(FileNotFoundError, match="media_root"):
        validate(path, media_root=tmp_path / "missing")
