"""Compile a concrete type into a checker/loader tree, once, for streaming over samples.

A struct made concrete (`ObjectDetectionSample[cdom=VOCClassDom]`) becomes a `StructNode`,
`List[...]` a `ListNode`, and each leaf a `LeafNode` holding a `FieldType` whose JSON schema
is compiled once and shared by every leaf with the same type and parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from methods.dsdl.classdom import ClassDomain
from methods.dsdl.fields import FIELD_TYPES, FieldType, Issue, LoadContext
from methods.dsdl.parser import Description, plain_value
from methods.dsdl.typeexpr import ParamRef, TypeExpr

# (error class, path from the sample root, message, severity)
Finding = tuple[str, tuple[Any, ...], str, str]
Where = tuple[Path | None, str]
MediaHook = Callable[[FieldType, Any, tuple[Any, ...], list[Finding]], None]


class Node:
    """A compiled type: `check` appends findings for one value, `load` returns typed data."""

    def check(
        self, value: Any, path: list[Any], out: list[Finding], media: MediaHook | None
    ) -> None:
        raise NotImplementedError

    def load(self, value: Any, ctx: LoadContext) -> Any:
        raise NotImplementedError

    def leaves(self) -> list[tuple[tuple[str, ...], FieldType]]:
        """(field path, field type) of every leaf, list levels marked '*'."""
        raise NotImplementedError


class LeafNode(Node):
    def __init__(self, ft: FieldType) -> None:
        self.ft = ft
        self._check = ft.check
        self.is_media = ft.is_media

    def check(
        self, value: Any, path: list[Any], out: list[Finding], media: MediaHook | None
    ) -> None:
        issues: list[Issue] | None = self._check(value)
        if issues:
            for code, sub, message in issues:
                out.append((code, (*path, *sub), message, "error"))
            return
        if self.is_media and media is not None:
            media(self.ft, value, tuple(path), out)

    def load(self, value: Any, ctx: LoadContext) -> Any:
        return self.ft.load(value, ctx)

    def leaves(self) -> list[tuple[tuple[str, ...], FieldType]]:
        return [((), self.ft)]


class ListNode(Node):
    def __init__(self, element: Node, ordered: bool) -> None:
        self.element, self.ordered = element, ordered

    def check(
        self, value: Any, path: list[Any], out: list[Finding], media: MediaHook | None
    ) -> None:
        if type(value) is not list:
            out.append(
                (
                    "FieldValueError",
                    tuple(path),
                    f"expected a list, got {type(value).__name__}",
                    "error",
                )
            )
            return
        element = self.element
        for i, item in enumerate(value):
            path.append(i)
            element.check(item, path, out, media)
            path.pop()

    def load(self, value: Any, ctx: LoadContext) -> list[Any]:
        return [self.element.load(v, ctx) for v in value]

    def leaves(self) -> list[tuple[tuple[str, ...], FieldType]]:
        return [(("*", *p), ft) for p, ft in self.element.leaves()]


class StructNode(Node):
    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, Node] = {}
        self.required: frozenset[str] = frozenset()
        self.cls: type | None = None

    def finish(self, fields: dict[str, Node], optional: frozenset[str]) -> None:
        self.fields = fields
        self.items = list(fields.items())
        self.names = frozenset(fields)
        self.required = frozenset(fields) - optional
        # A dataclass per concrete struct: typed samples with every declared field.
        self.cls = dataclasses.make_dataclass(
            self.name,
            [(n, Any, dataclasses.field(default=None)) for n in fields],
            repr=True,
            eq=True,
        )

    def check(
        self, value: Any, path: list[Any], out: list[Finding], media: MediaHook | None
    ) -> None:
        if type(value) is not dict:
            out.append(
                (
                    "FieldValueError",
                    tuple(path),
                    f"{self.name} must be a mapping of its fields, got {type(value).__name__}",
                    "error",
                )
            )
            return
        for name, node in self.items:
            if name in value:
                path.append(name)
                node.check(value[name], path, out, media)
                path.pop()
            elif name in self.required:
                out.append(
                    (
                        "MissingFieldError",
                        (*path, name),
                        f"{self.name} requires field {name!r} (it is not in $optional)",
                        "error",
                    )
                )
        if not self.names.issuperset(value):
            for key in value:
                if key not in self.names:
                    out.append(
                        (
                            "UnknownFieldWarning",
                            (*path, key),
                            f"{self.name} declares no field {key!r}; it is kept but unchecked",
                            "warning",
                        )
                    )

    def load(self, value: Any, ctx: LoadContext) -> Any:
        assert self.cls is not None
        kwargs = {n: node.load(value[n], ctx) for n, node in self.items if n in value}
        return self.cls(**kwargs)

    def leaves(self) -> list[tuple[tuple[str, ...], FieldType]]:
        return [((n, *p), ft) for n, node in self.items for p, ft in node.leaves()]


class Compiler:
    """Compiles type expressions of one parsed description; results are cached."""

    def __init__(self, desc: Description) -> None:
        if not desc.ok:
            raise ValueError("desc: compile only a description without definition errors")
        self.desc = desc
        self._structs: dict[tuple[str, tuple[tuple[str, str], ...]], StructNode] = {}
        self._leaves: dict[tuple[Any, ...], FieldType] = {}
        #: (error class, file, pointer, message) found while compiling, e.g. a domain without
        #: a skeleton under a Keypoint field.
        self.definition_issues: list[tuple[str, Path | None, str, str]] = []

    def compile(
        self, expr: TypeExpr, bindings: dict[str, str] | None = None, where: Where = (None, "")
    ) -> Node:
        """The node for `expr`; `where` (file, pointer) locates problems found on the way."""
        return self._compile(expr, bindings or {}, where)

    def _compile(self, expr: TypeExpr, bindings: dict[str, str], where: Where) -> Node:
        if expr.name == "List":
            kwargs = expr.kwarg_dict
            etype = kwargs.get("etype", expr.positional[0] if expr.positional else None)
            assert isinstance(etype, TypeExpr)  # the parser checked it
            return ListNode(self._compile(etype, bindings, where), bool(kwargs.get("ordered")))
        if expr.name in self.desc.structs:
            return self._struct(expr, bindings)
        return LeafNode(self._leaf(expr, bindings, where))

    def _domain(self, value: Any, bindings: dict[str, str]) -> str:
        if isinstance(value, ParamRef):
            return bindings[value.name]
        return value.name if isinstance(value, TypeExpr) else str(value)

    def _struct(self, expr: TypeExpr, bindings: dict[str, str]) -> StructNode:
        struct = self.desc.structs[expr.name]
        bound = {k: self._domain(v, bindings) for k, v in expr.kwargs}
        key = (struct.name, tuple(sorted(bound.items())))
        if key in self._structs:
            return self._structs[key]
        node = StructNode(struct.name)
        self._structs[key] = node  # before the fields: the parser ruled out cycles
        fields = {
            name: self._compile(sub, bound, (struct.file, f"{struct.pointer}/$fields/{name}"))
            for name, sub in struct.fields.items()
        }
        node.finish(fields, struct.optional)
        return node

    def _leaf(self, expr: TypeExpr, bindings: dict[str, str], where: Where) -> FieldType:
        cls = FIELD_TYPES[expr.name]
        args: dict[str, Any] = {}
        domains: dict[str, ClassDomain] = {}
        for key, value in expr.kwargs:
            if key in cls.domain_params:
                domains[key] = self.desc.domain(self._domain(value, bindings))
            else:
                args[key] = plain_value(value)
        cache_key = (cls.name, tuple(sorted(args.items())), tuple(sorted(domains)), *domains)
        cache_key += tuple(d.name for d in domains.values())
        ft = self._leaves.get(cache_key)
        if ft is None:
            ft = cls(args, domains)
            if isinstance(ft, FIELD_TYPES["Label"]) and not domains:
                ft.known = {name: d.domain for name, d in self.desc.domains.items()}  # type: ignore[attr-defined]
            for code, message in ft.definition_issues():
                self.definition_issues.append((code, where[0], where[1], message))
            self._leaves[cache_key] = ft
        return ft
