"""A fast acceptor for the JSON-schema subset the field types use; jsonschema stays the judge.

`acceptor(schema)` compiles a schema into a plain predicate that returns True only for values
the schema accepts. A False (or a schema with keywords it does not know, for which it returns
None) sends the value to jsonschema, which decides and explains. Validating 50k boxes through
jsonschema's descend/evolve machinery costs seconds; these closures cost milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Predicate = Callable[[Any], bool]
_KNOWN = {
    "type",
    "minimum",
    "maximum",
    "enum",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minLength",
    "oneOf",
    "anyOf",
    "properties",
    "required",
    "additionalProperties",
    "$id",
    "title",
    "description",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "number":
        return type(value) in (int, float)
    if name == "integer":
        return type(value) is int or (type(value) is float and value.is_integer())
    if name == "string":
        return type(value) is str
    if name == "boolean":
        return type(value) is bool
    if name == "array":
        return type(value) is list
    if name == "object":
        return type(value) is dict
    if name == "null":
        return value is None
    raise ValueError(name)


def _equal(a: Any, b: Any) -> bool:
    # jsonschema keeps true apart from 1 and false apart from 0 in `enum`
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return type(a) in (int, float, str) and type(b) in (int, float, str) and a == b


def acceptor(schema: Any) -> Predicate | None:
    """A predicate that accepts only what `schema` accepts, or None if the schema is unknown."""
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        return None
    checks: list[Predicate] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if len(kinds) == 1:
            k = kinds[0]
            checks.append(lambda v, k=k: _is_type(v, k))
        else:
            checks.append(lambda v, ks=tuple(kinds): any(_is_type(v, k) for k in ks))
    numeric = (int, float)
    if "minimum" in schema:
        lo = schema["minimum"]
        checks.append(lambda v, lo=lo: type(v) not in numeric or v >= lo)
    if "maximum" in schema:
        hi = schema["maximum"]
        checks.append(lambda v, hi=hi: type(v) not in numeric or v <= hi)
    if "minLength" in schema:
        n = schema["minLength"]
        checks.append(lambda v, n=n: type(v) is not str or len(v) >= n)
    if "enum" in schema:
        options = tuple(schema["enum"])
        checks.append(lambda v, o=options: any(_equal(v, e) for e in o))
    if not _arrays(schema, checks) or not _objects(schema, checks):
        return None
    for key, need in (("oneOf", 1), ("anyOf", 0)):
        if key in schema:
            subs = [acceptor(s) for s in schema[key]]
            if any(s is None for s in subs):
                return None
            if need == 1:
                checks.append(lambda v, ss=tuple(subs): sum(1 for s in ss if s(v)) == 1)  # type: ignore[misc]
            else:
                checks.append(lambda v, ss=tuple(subs): any(s(v) for s in ss))  # type: ignore[misc]
    if len(checks) == 1:
        return checks[0]
    return lambda v, cs=tuple(checks): all(c(v) for c in cs)


def _arrays(schema: dict[str, Any], checks: list[Predicate]) -> bool:
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    if lo is not None or hi is not None:
        lo, hi = lo or 0, hi if hi is not None else float("inf")
        checks.append(lambda v, lo=lo, hi=hi: type(v) is not list or lo <= len(v) <= hi)
    prefix = [acceptor(s) for s in schema.get("prefixItems", [])]
    if any(p is None for p in prefix):
        return False
    items = acceptor(schema["items"]) if "items" in schema else (lambda v: True)
    if items is None:
        return False
    if prefix:
        n = len(prefix)

        def check_prefixed(v: Any, ps: tuple = tuple(prefix), n: int = n, rest=items) -> bool:
            if type(v) is not list:
                return True
            for p, x in zip(ps, v, strict=False):
                if not p(x):
                    return False
            return all(rest(x) for x in v[n:])

        checks.append(check_prefixed)
    elif "items" in schema:
        checks.append(lambda v, it=items: type(v) is not list or all(it(x) for x in v))
    return True


def _objects(schema: dict[str, Any], checks: list[Predicate]) -> bool:
    props = {k: acceptor(s) for k, s in schema.get("properties", {}).items()}
    if any(p is None for p in props.values()):
        return False
    required = tuple(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        return False

    def check_object(v: Any) -> bool:
        if type(v) is not dict:
            return True
        if any(r not in v for r in required):
            return False
        for key, value in v.items():
            p = props.get(key)
            if p is None:
                if extra is False:
                    return False
            elif not p(value):
                return False
        return True

    if props or required or extra is False:
        checks.append(check_object)
    return True
