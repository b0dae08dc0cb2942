"""Type expressions: `List[etype=LocalObjectEntry[cdom=$cdom], ordered=true]` as a small tree.

    expr  := NAME [ '[' arg (',' arg)* ']' ]
    arg   := NAME '=' value | value            (a value without a name is positional)
    value := expr | '$' NAME | "quoted" | 'quoted' | number | true | false

A bare word is kept as a `TypeExpr` without arguments, since `mode=xyxy` and
`etype=LocalObjectEntry` look alike; the field type that receives it decides what it is. The
YAML object form `{$type: Name, param: value}` of the DSDL docs is read by `from_yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from methods.dsdl.errors import DefineSyntaxError


@dataclass(frozen=True)
class ParamRef:
    """A struct parameter used inside its definition: `$cdom`."""

    name: str

    def __str__(self) -> str:
        return f"${self.name}"


@dataclass(frozen=True)
class TypeExpr:
    """A type name with keyword and positional arguments."""

    name: str
    kwargs: tuple[tuple[str, Value], ...] = ()
    positional: tuple[Value, ...] = field(default=())

    def arg(self, key: str, default: Any = None) -> Any:
        for k, v in self.kwargs:
            if k == key:
                return v
        return default

    @property
    def kwarg_dict(self) -> dict[str, Value]:
        return dict(self.kwargs)

    def __str__(self) -> str:
        parts = [_show(v) for v in self.positional] + [f"{k}={_show(v)}" for k, v in self.kwargs]
        return f"{self.name}[{', '.join(parts)}]" if parts else self.name


Value = TypeExpr | ParamRef | str | bool | int | float

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[A-Za-z_][\w.\-]*)
      | (?P<param>\$[A-Za-z_]\w*)
      | (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<string>"[^"]*"|'[^']*')
      | (?P<punct>[\[\],=])
    )""",
    re.VERBOSE,
)


def _show(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def parse_type(text: str) -> TypeExpr:
    """Parse a type expression; a syntax error raises DefineSyntaxError naming the position."""
    if not isinstance(text, str) or not text.strip():
        raise DefineSyntaxError(f"a type expression must be a non-empty string, got {text!r}")
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    expr = parser.expr()
    if parser.pos != len(tokens):
        kind, value, at = tokens[parser.pos]
        raise DefineSyntaxError(f"unexpected {value!r} at column {at + 1} in type {text!r}")
    return expr


def from_yaml(value: Any) -> TypeExpr:
    """A type from its YAML form: a string expression, or `{$type: Name, param: value, ...}`."""
    if isinstance(value, str):
        return parse_type(value)
    if isinstance(value, dict):
        name = value.get("$type")
        if not isinstance(name, str):
            raise DefineSyntaxError(f"a type given as an object needs a '$type' string: {value!r}")
        kwargs = []
        for key, raw in value.items():
            if key == "$type":
                continue
            kwargs.append((str(key), _yaml_value(raw)))
        return TypeExpr(parse_type(name).name, tuple(kwargs))
    raise DefineSyntaxError(f"a type must be a string or a {{$type: ...}} object, got {value!r}")


def _yaml_value(raw: Any) -> Value:
    if isinstance(raw, bool | int | float):
        return raw
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped.startswith("$"):
            return ParamRef(stripped[1:])
        return parse_type(stripped)
    if isinstance(raw, dict):
        return from_yaml(raw)
    raise DefineSyntaxError(f"unsupported type argument {raw!r}")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise DefineSyntaxError(f"unexpected {text[pos:].strip()[:1]!r} in type {text!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append((kind, value, match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]) -> None:
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            wanted = f"{value!r}" if value else "more"
            raise DefineSyntaxError(f"type {self.text!r} ends early; expected {wanted}")
        if value is not None and token[1] != value:
            raise DefineSyntaxError(
                f"expected {value!r} at column {token[2] + 1} in type {self.text!r}, "
                f"got {token[1]!r}"
            )
        self.pos += 1
        return token

    def expr(self) -> TypeExpr:
        kind, name, at = self.take()
        if kind != "name":
            raise DefineSyntaxError(
                f"expected a type name at column {at + 1} in type {self.text!r}, got {name!r}"
            )
        nxt = self.peek()
        if nxt is None or nxt[1] != "[":
            return TypeExpr(name)
        self.take("[")
        kwargs: list[tuple[str, Value]] = []
        positional: list[Value] = []
        seen: set[str] = set()
        while True:
            token = self.peek()
            if token is not None and token[1] == "]":
                break
            after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
            if token is not None and token[0] == "name" and after is not None and after[1] == "=":
                key = self.take()[1]
                self.take("=")
                if key in seen:
                    raise DefineSyntaxError(f"parameter {key!r} given twice in type {self.text!r}")
                seen.add(key)
                kwargs.append((key, self.value()))
            else:
                positional.append(self.value())
            if self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take(",")
                continue
            break
        self.take("]")
        return TypeExpr(name, tuple(kwargs), tuple(positional))

    def value(self) -> Value:
        token = self.peek()
        if token is None:
            raise DefineSyntaxError(f"type {self.text!r} ends early; expected a value")
        kind, text, _ = token
        if kind == "param":
            self.pos += 1
            return ParamRef(text[1:])
        if kind == "string":
            self.pos += 1
            return text[1:-1]
        if kind == "number":
            self.pos += 1
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name" and text in ("true", "True", "false", "False"):
            self.pos += 1
            return text in ("true", "True")
        return self.expr()
