"""DSDL field types: parameters, a JSON schema for values, extra rules, and typed loading.

Each field type is a class registered by name. Its JSON schema (Draft 2020-12) is compiled once
per parameterisation; rules a schema cannot say (an interval's order, membership in a class
domain, a date format) live in `extra`. Add a type with `register_field_type`:

    @register_field_type
    class Angle(FieldType):
        name = "Angle"
        value_schema = {"type": "number", "minimum": -180, "maximum": 180}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import jsonschema
import numpy as np
from jsonschema import Draft202012Validator

from methods.dsdl.classdom import ClassDomain
from methods.dsdl.fastschema import acceptor
from methods.dsdl.geometry import Box, ImageShape, Keypoints, Media, RotatedBox
from methods.dsdl.geometry import Polygon as PolygonValue


def _judge(schema: dict[str, Any], validator: Draft202012Validator) -> Callable[[Any], bool]:
    """is_valid, with a fast acceptor in front: jsonschema only sees what it rejects."""
    fast, slow = acceptor(schema), validator.is_valid
    if fast is None:
        return slow
    return lambda value: fast(value) or slow(value)


def first_error(validator: Draft202012Validator, value: Any) -> jsonschema.ValidationError:
    """The error at the first place in document order (best_match breaks ties there), so a
    message points at the first bad item of a list, not at an arbitrary one."""
    errors = list(validator.iter_errors(value))
    if not errors:
        raise ValueError("first_error: the value is valid")
    key = min(_order(e.absolute_path) for e in errors)
    error = jsonschema.exceptions.best_match(e for e in errors if _order(e.absolute_path) == key)
    assert error is not None
    return error


def _order(path: Any) -> tuple[tuple[int, Any], ...]:
    # ints before strings, so mixed paths compare
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in path)


# (error class, path inside the value, message)
Issue = tuple[str, tuple[Any, ...], str]

_NUM = {"type": "number"}
_NONNEG = {"type": "number", "minimum": 0}


def _array(items: list[dict[str, Any]] | dict[str, Any], n: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    if isinstance(items, list):
        schema["prefixItems"] = items
        schema["items"] = False
        schema["minItems"] = len(items)
    else:
        schema["items"] = items
        if n is not None:
            schema["minItems"] = schema["maxItems"] = n
    return schema


class FieldType:
    """A leaf field type. Subclasses set `name`, `value_schema` (or `schema()`), `params`."""

    name: ClassVar[str] = ""
    #: Parameter name -> JSON schema of its value; `defaults` fills the ones not given.
    params: ClassVar[dict[str, dict[str, Any]]] = {}
    defaults: ClassVar[dict[str, Any]] = {}
    #: Parameters that name class domains (resolved by the compiler, not schema-checked).
    domain_params: ClassVar[tuple[str, ...]] = ()
    value_schema: ClassVar[dict[str, Any]] = {}
    #: What a value looks like, for messages.
    shape: ClassVar[str] = ""
    is_media: ClassVar[bool] = False

    def __init__(self, args: dict[str, Any], domains: dict[str, ClassDomain] | None = None):
        self.args = {**self.defaults, **args}
        self.domains = domains or {}
        self._validator = Draft202012Validator(self.schema())
        self._is_valid = _judge(self.schema(), self._validator)

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> list[str]:
        """Problems with the parameters (unknown, wrong value); empty when they are fine."""
        problems = []
        for key, value in args.items():
            if key in cls.domain_params:
                continue
            if key not in cls.params:
                known = ", ".join([*cls.params, *cls.domain_params]) or "none"
                problems.append(f"{cls.name} has no parameter {key!r} (parameters: {known})")
                continue
            errors = list(Draft202012Validator(cls.params[key]).iter_errors(value))
            if errors:
                problems.append(f"{cls.name} parameter {key}={value!r}: {errors[0].message}")
        return problems

    def schema(self) -> dict[str, Any]:
        return self.value_schema

    @property
    def domain(self) -> ClassDomain | None:
        """The single class domain of a domain-bearing field, if it has one."""
        return next(iter(self.domains.values()), None)

    def definition_issues(self) -> list[tuple[str, str]]:
        """(error class, message) problems visible before any value, e.g. a missing skeleton."""
        return []

    def check(self, value: Any) -> list[Issue] | None:
        """Problems with one value; None when it is valid (the fast, common path)."""
        if self._is_valid(value):
            return self.extra(value)
        return [self._schema_issue(value)]

    def _schema_issue(self, value: Any) -> Issue:
        error = first_error(self._validator, value)
        expected = f" (expected {self.shape})" if self.shape else ""
        return ("FieldValueError", tuple(error.absolute_path), f"{self}: {error.message}{expected}")

    def extra(self, value: Any) -> list[Issue] | None:
        """Rules beyond the schema; runs only on values the schema accepted."""
        return None

    def load(self, value: Any, ctx: LoadContext) -> Any:
        """The typed Python value of a valid value."""
        return value

    def __str__(self) -> str:
        shown = [f"{k}={v}" for k, v in self.args.items() if self.params.get(k) is not None]
        shown += [f"{k}={d.name}" for k, d in self.domains.items()]
        return f"{self.name}[{', '.join(shown)}]" if shown else self.name


class LoadContext:
    """What loading needs besides the value: the box mode and how locators become paths."""

    def __init__(self, box_mode: str = "xyxy", resolve: Callable[[str], Any] | None = None):
        self.box_mode = box_mode
        self.resolve = resolve or (lambda locator: None)


FIELD_TYPES: dict[str, type[FieldType]] = {}


def register_field_type(cls: type[FieldType]) -> type[FieldType]:
    """Register a field type under `cls.name` (a class decorator); a clash is an error."""
    if not cls.name or not cls.name.isidentifier():
        raise ValueError(f"field type {cls.__qualname__} needs an identifier `name`")
    known = FIELD_TYPES.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"field type {cls.name} is already registered ({known.__qualname__})")
    FIELD_TYPES[cls.name] = cls
    return cls


# The container types the compiler builds itself; names that no definition may take.
CONTAINER_TYPES = ("List",)


def builtin_names() -> set[str]:
    return set(FIELD_TYPES) | set(CONTAINER_TYPES)


# ---- generic ---------------------------------------------------------------------------------


@register_field_type
class Bool(FieldType):
    name = "Bool"
    value_schema = {"oneOf": [{"type": "boolean"}, {"enum": [0, 1], "type": "integer"}]}
    shape = "true, false, 0 or 1"

    def load(self, value: Any, ctx: LoadContext) -> bool:
        return bool(value)


@register_field_type
class Int(FieldType):
    name = "Int"
    value_schema = {"type": "integer"}
    shape = "an integer"

    def load(self, value: Any, ctx: LoadContext) -> int:
        return int(value)


@register_field_type
class Num(FieldType):
    name = "Num"
    value_schema = {"type": "number"}
    shape = "a number"

    def load(self, value: Any, ctx: LoadContext) -> float:
        return float(value)


@register_field_type
class Str(FieldType):
    name = "Str"
    value_schema = {"type": "string"}
    shape = "a string"


@register_field_type
class Dict(FieldType):
    name = "Dict"
    value_schema = {"type": "object"}
    shape = "a mapping"


# ---- geometry --------------------------------------------------------------------------------


@register_field_type
class Coord(FieldType):
    name = "Coord"
    value_schema = _array(_NUM, 2)
    shape = "[x, y]"

    def load(self, value: Any, ctx: LoadContext) -> tuple[float, ...]:
        return tuple(float(v) for v in value)


@register_field_type
class Coord3D(Coord):
    name = "Coord3D"
    value_schema = _array(_NUM, 3)
    shape = "[x, y, z]"


@register_field_type
class Interval(Coord):
    name = "Interval"
    value_schema = _array(_NUM, 2)
    shape = "[begin, end] with begin <= end"

    def extra(self, value: Any) -> list[Issue] | None:
        if value[0] > value[1]:
            return [("FieldValueError", (), f"Interval {value}: begin {value[0]} > end {value[1]}")]
        return None


@register_field_type
class BBox(FieldType):
    name = "BBox"
    params = {"mode": {"enum": ["xywh", "xyxy"]}}
    defaults = {"mode": "xywh"}

    @property
    def shape(self) -> str:  # type: ignore[override]
        if self.args["mode"] == "xywh":
            return "[x, y, w, h] with w, h >= 0"
        return "[x1, y1, x2, y2] with x1 <= x2, y1 <= y2"

    def schema(self) -> dict[str, Any]:
        if self.args["mode"] == "xywh":
            return _array([_NUM, _NUM, _NONNEG, _NONNEG])
        return _array([_NUM, _NUM, _NUM, _NUM])

    def extra(self, value: Any) -> list[Issue] | None:
        # The SDK checks only the count in xyxy mode; a reversed box is nonsense either way.
        if self.args["mode"] == "xyxy" and (value[0] > value[2] or value[1] > value[3]):
            return [("FieldValueError", (), f"BBox[mode=xyxy] {value}: x1 > x2 or y1 > y2")]
        return None

    def load(self, value: Any, ctx: LoadContext) -> Box:
        return Box(tuple(float(v) for v in value), self.args["mode"]).to(ctx.box_mode)  # type: ignore[arg-type]


@register_field_type
class RotatedBBox(FieldType):
    name = "RotatedBBox"
    params = {"mode": {"enum": ["xywht", "xyxy"]}, "measure": {"enum": ["radian", "degree"]}}
    defaults = {"mode": "xywht", "measure": "radian"}

    @property
    def shape(self) -> str:  # type: ignore[override]
        if self.args["mode"] == "xywht":
            return "[x, y, w, h, theta] with w, h >= 0"
        return "8 numbers: the corners [x1, y1, ..., x4, y4]"

    def schema(self) -> dict[str, Any]:
        if self.args["mode"] == "xywht":
            return _array([_NUM, _NUM, _NONNEG, _NONNEG, _NUM])
        return _array(_NUM, 8)

    def load(self, value: Any, ctx: LoadContext) -> RotatedBox:
        return RotatedBox(tuple(float(v) for v in value), self.args["mode"], self.args["measure"])


_POINT = _array(_NUM, 2)
_RING = {"type": "array", "items": _POINT, "minItems": 3}


@register_field_type
class Polygon(FieldType):
    """A list of rings of [x, y] points; a single ring (as the docs show it) is accepted too."""

    name = "Polygon"
    value_schema = {"type": "array", "items": _RING, "minItems": 1}
    shape = "a list of rings, each at least 3 [x, y] points"

    def __init__(self, args: dict[str, Any], domains: dict[str, ClassDomain] | None = None):
        super().__init__(args, domains)
        ring = Draft202012Validator(_RING)
        self._ring_validator, self._ring_valid = ring, _judge(_RING, ring)

    @staticmethod
    def _single_ring(value: Any) -> bool:
        return (
            isinstance(value, list)
            and bool(value)
            and isinstance(value[0], list)
            and bool(value[0])
            and isinstance(value[0][0], int | float)
            and not isinstance(value[0][0], bool)
        )

    def check(self, value: Any) -> list[Issue] | None:
        if not self._single_ring(value):
            return super().check(value)
        if self._ring_valid(value):
            return None
        error = first_error(self._ring_validator, value)
        return [
            (
                "FieldValueError",
                tuple(error.absolute_path),
                f"Polygon (one ring): {error.message} (expected {self.shape})",
            )
        ]

    def load(self, value: Any, ctx: LoadContext) -> PolygonValue:
        rings = [value] if self._single_ring(value) else value
        return PolygonValue(tuple(tuple((float(x), float(y)) for x, y in ring) for ring in rings))


@register_field_type
class BBox3D(FieldType):
    name = "BBox3D"
    params = {"mode": {"enum": ["auto-drive", "indoor"]}}
    defaults = {"mode": "auto-drive"}

    @property
    def shape(self) -> str:  # type: ignore[override]
        if self.args["mode"] == "auto-drive":
            return "[x, y, z, l, w, h, yaw] with l, w, h >= 0"
        return "[x, y, z, l, w, h, yaw, pitch, roll] with l, w, h >= 0"

    def schema(self) -> dict[str, Any]:
        head = [_NUM, _NUM, _NUM, _NONNEG, _NONNEG, _NONNEG, _NUM]
        return _array(head if self.args["mode"] == "auto-drive" else [*head, _NUM, _NUM])

    def load(self, value: Any, ctx: LoadContext) -> tuple[float, ...]:
        return tuple(float(v) for v in value)


# ---- labels and text -------------------------------------------------------------------------


@register_field_type
class Label(FieldType):
    """A class of the field's domain: its name, its 1-based index, or 'Dom::name'."""

    name = "Label"
    domain_params = ("dom",)
    value_schema = {"type": ["string", "integer"]}
    shape = "a class name, a 1-based index or 'Dom::name'"

    #: Every domain of the description, for a Label without `dom` ('Dom::name' labels only).
    known: dict[str, ClassDomain] = {}

    def _domain_for(self, value: Any) -> tuple[ClassDomain | None, str]:
        if self.domain is not None:
            return self.domain, ""
        if not (isinstance(value, str) and "::" in value):
            return None, f"Label without dom takes only 'Dom::name' labels, got {value!r}"
        name = value.partition("::")[0]
        if name not in self.known:
            return None, f"label {value!r}: there is no class domain {name!r}"
        return self.known[name], ""

    def extra(self, value: Any) -> list[Issue] | None:
        dom, why = self._domain_for(value)
        if dom is None:
            return [("LabelError", (), why)]
        if dom.index_of(value) is None:
            return [("LabelError", (), dom.why_not(value))]
        return None

    def load(self, value: Any, ctx: LoadContext) -> Any:
        dom, why = self._domain_for(value)
        if dom is None:
            raise KeyError(why)
        return dom.resolve(value)


@register_field_type
class Keypoint(FieldType):
    """One [x, y, visibility] per class of the keypoint domain, which needs a skeleton."""

    name = "Keypoint"
    domain_params = ("dom",)
    value_schema = {"type": "array", "items": _array(_NUM, 3)}
    shape = "a list of [x, y, v], one per class of the domain"

    def definition_issues(self) -> list[tuple[str, str]]:
        dom = self.domain
        if dom is None:
            return [("ParameterError", "Keypoint needs a class domain: Keypoint[dom=...]")]
        if not dom.skeleton:
            return [("KeypointError", f"Keypoint domain {dom.name} has no skeleton")]
        return []

    def extra(self, value: Any) -> list[Issue] | None:
        dom = self.domain
        if dom is not None and len(value) != len(dom):
            return [
                (
                    "KeypointError",
                    (),
                    f"{len(value)} keypoints, but domain {dom.name} has {len(dom)} classes",
                )
            ]
        return None

    def load(self, value: Any, ctx: LoadContext) -> Keypoints:
        dom = self.domain
        assert dom is not None
        return Keypoints(
            np.asarray(value, dtype=float).reshape(-1, 3),
            tuple(dom.classes),
            tuple(tuple(pair) for pair in dom.skeleton or ()),  # type: ignore[misc]
        )


@register_field_type
class Text(Str):
    name = "Text"


# ---- identifiers and metadata ----------------------------------------------------------------


@register_field_type
class ImageShapeField(FieldType):
    name = "ImageShape"
    params = {"mode": {"enum": ["hw", "wh"]}}
    defaults = {"mode": "hw"}
    value_schema = _array({"type": "integer", "minimum": 0}, 2)

    @property
    def shape(self) -> str:  # type: ignore[override]
        return "[height, width]" if self.args["mode"] == "hw" else "[width, height]"

    def load(self, value: Any, ctx: LoadContext) -> ImageShape:
        a, b = (int(v) for v in value)
        return ImageShape(a, b) if self.args["mode"] == "hw" else ImageShape(b, a)


@register_field_type
class UniqueID(Str):
    name = "UniqueID"
    params = {"id_type": {"type": ["string", "null"]}}
    defaults = {"id_type": None}


@register_field_type
class InstanceID(UniqueID):
    name = "InstanceID"
    defaults = {"id_type": "InstanceID"}


class _Temporal(FieldType):
    params = {"fmt": {"type": "string"}}
    defaults = {"fmt": ""}
    value_schema = {"type": "string"}

    def parse(self, value: str) -> Any:
        raise NotImplementedError

    def extra(self, value: Any) -> list[Issue] | None:
        try:
            self.parse(value)
        except ValueError:
            fmt = self.args["fmt"] or "ISO 8601"
            return [("FieldValueError", (), f"{self.name} {value!r} does not match {fmt!r}")]
        return None

    def load(self, value: Any, ctx: LoadContext) -> Any:
        return self.parse(value)


@register_field_type
class Date(_Temporal):
    name = "Date"
    shape = "a date string in fmt (ISO 8601 without fmt)"

    def parse(self, value: str) -> dt.date:
        fmt = self.args["fmt"]
        return dt.datetime.strptime(value, fmt).date() if fmt else dt.date.fromisoformat(value)


@register_field_type
class Time(_Temporal):
    name = "Time"
    shape = "a time string in fmt (ISO 8601 without fmt)"

    def parse(self, value: str) -> dt.time:
        fmt = self.args["fmt"]
        return dt.datetime.strptime(value, fmt).time() if fmt else dt.time.fromisoformat(value)


# ---- unstructured objects (given by locators) ------------------------------------------------

_LOCATOR = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {"$loc": {"type": "string", "minLength": 1}, "$descr": {}},
            "required": ["$loc"],
            "additionalProperties": False,
        },
    ]
}


class MediaField(FieldType):
    """A file referenced by a locator: a relative path, '$alias/...', or '::domain::id'."""

    is_media = True
    value_schema = _LOCATOR
    shape = "a locator string or {$loc: ..., $descr: ...}"

    @staticmethod
    def locator(value: Any) -> str:
        return value["$loc"] if isinstance(value, dict) else value

    def load(self, value: Any, ctx: LoadContext) -> Media:
        descr = value.get("$descr") if isinstance(value, dict) else None
        loc = self.locator(value)
        return Media(loc, self.name, ctx.resolve(loc), descr)


@register_field_type
class Image(MediaField):
    name = "Image"


@register_field_type
class LabelMap(MediaField):
    """A single-channel map whose pixel values are 1-based class indices (0: unlabelled)."""

    name = "LabelMap"
    domain_params = ("dom",)


@register_field_type
class InstanceMap(MediaField):
    name = "InstanceMap"


@register_field_type
class PointCloud(MediaField):
    name = "PointCloud"
    params = {"load_dim": {"type": "integer", "minimum": 1}}
    defaults = {"load_dim": 3}


@register_field_type
class Video(MediaField):
    name = "Video"


@register_field_type
class Audio(MediaField):
    name = "Audio"


def field_type_names() -> list[str]:
    return sorted(FIELD_TYPES)


def describe_field_types() -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(name, value shape, default parameters) of every registered type, for docs and tools."""
    for name in field_type_names():
        cls = FIELD_TYPES[name]
        shape = cls.shape if isinstance(cls.shape, str) else ""
        yield name, shape, dict(cls.defaults)
