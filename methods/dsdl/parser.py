"""Parse DSDL description files (YAML or JSON): sections, imports, definitions and their checks.

`parse(path)` never raises for a wrong description: it returns a `Description` whose
`problems` list every definition problem with its class, file and JSON pointer.
`load_description(path)` raises `DSDLDefinitionError` instead when there is any.

Imports resolve as the SDK does: in `library_path` when one is given, else beside the file,
then in `../defs/` from it. Later imports override earlier ones; a file's own definitions
override its imports. Definitions live under `defs:` or at the top level of a file.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from methods.dsdl.classdom import ClassDomain
from methods.dsdl.errors import DSDLDefinitionError, DSDLError, Problem, pointer
from methods.dsdl.fields import FIELD_TYPES, builtin_names
from methods.dsdl.typeexpr import ParamRef, TypeExpr, Value, from_yaml

RESERVED = ("$dsdl-version", "$import", "meta", "data", "defs")
DEFINITION_KINDS = ("struct", "class_domain")
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class StructDef:
    """A struct: its fields' types, the optional ones, and its parameters."""

    name: str
    fields: dict[str, TypeExpr]
    optional: frozenset[str]
    params: tuple[str, ...]
    file: Path | None = None
    pointer: str = ""


@dataclass
class DomainDef:
    domain: ClassDomain
    file: Path | None = None
    pointer: str = ""


@dataclass
class DataSection:
    """Where the samples (and global info) are and what type they have."""

    sample_type: TypeExpr | None = None
    samples: list[Any] | None = None  # inline ($local) samples
    sample_path: Path | None = None  # an external {"samples": [...]} JSON
    global_info_type: TypeExpr | None = None
    global_info: Any = None
    global_info_path: Path | None = None


@dataclass
class Description:
    """A parsed description: metadata, merged definitions, the data section and problems."""

    path: Path | None
    version: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    imports: list[Path] = field(default_factory=list)
    structs: dict[str, StructDef] = field(default_factory=dict)
    domains: dict[str, DomainDef] = field(default_factory=dict)
    data: DataSection = field(default_factory=DataSection)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def domain(self, name: str) -> ClassDomain:
        if name not in self.domains:
            raise KeyError(f"no class domain {name!r}; defined: {sorted(self.domains)}")
        return self.domains[name].domain

    def raise_for_problems(self) -> Description:
        if self.errors:
            raise DSDLDefinitionError(self.problems)
        return self


# ---- reading files ---------------------------------------------------------------------------


def read_document(path: Path) -> tuple[Any, list[str]]:
    """A YAML or JSON file's content and the JSON pointers of duplicated mapping keys."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        duplicates: list[str] = []
        data = json.loads(text, object_pairs_hook=_pairs_hook(duplicates))
        return data, duplicates
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    found: list[str] = []
    if node is not None:
        _yaml_duplicates(node, (), found)
    return data, found


def _pairs_hook(duplicates: list[str]) -> Any:
    # JSON objects are built bottom-up without their path: report the key, the caller locates.
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(pointer(key))
            out[key] = value
        return out

    return hook


def _yaml_duplicates(node: yaml.Node, path: tuple[Any, ...], found: list[str]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                found.append(pointer(*path, key))
            seen.add(key)
            _yaml_duplicates(value_node, (*path, key), found)
    elif isinstance(node, yaml.SequenceNode) and len(path) < 3:
        # Definitions sit at depth <= 3; sample lists below that can be huge: skip them.
        for i, item in enumerate(node.value):
            _yaml_duplicates(item, (*path, i), found)


# ---- the parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, library_path: Path | None) -> None:
        self.library_path = library_path
        self.problems: list[Problem] = []
        self.active: list[Path] = []  # files being parsed, to catch import cycles
        self.imported: list[Path] = []

    def report(self, code: str, file: Path | None, where: str, message: str, **kw: Any) -> None:
        self.problems.append(Problem(code, where, message, file, **kw))

    def parse_file(self, path: Path, *, main: bool) -> tuple[Any, dict[str, Any]]:
        """(content, definitions) of a file, its imports merged under its own definitions."""
        try:
            content, duplicates = read_document(path)
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.report("DefineSyntaxError", path, "", f"{path.name} is not valid YAML/JSON: {exc}")
            return None, {}
        if not isinstance(content, dict):
            self.report("DefineSyntaxError", path, "", "a DSDL file must be a mapping at the top")
            return None, {}
        for where in duplicates:
            self.report("DuplicateDefineError", path, where, f"key {where} is defined twice")
        if "$dsdl-version" not in content:
            self.report(
                "SectionMissingError",
                path,
                "/$dsdl-version",
                'add `$dsdl-version: "0.5.0"` at the top of the file',
            )
        self.active.append(path)
        merged: dict[str, Any] = {}
        for imported in self.imports(path, content):
            merged.update(imported)
        merged.update(self.definitions(path, content, main=main))
        self.active.pop()
        return content, merged

    def imports(self, path: Path, content: dict[str, Any]) -> list[dict[str, Any]]:
        raw = content.get("$import", [])
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.report("DefineSyntaxError", path, "/$import", "$import must be a list of paths")
            return []
        out = []
        for i, name in enumerate(raw):
            target = self.resolve_import(path, name.strip())
            where = pointer("$import", i)
            if target is None:
                searched = ", ".join(str(d) for d in self.search_dirs(path))
                self.report(
                    "DSDLImportError",
                    path,
                    where,
                    f"cannot find import {name!r} (as .yaml/.yml/.json) in {searched}",
                )
                continue
            if target in self.active:
                self.report("DSDLImportError", path, where, f"import {name!r} is circular")
                continue
            self.imported.append(target)
            out.append(self.parse_file(target, main=False)[1])
        return out

    def search_dirs(self, path: Path) -> list[Path]:
        if self.library_path is not None:
            return [self.library_path]
        return [path.parent, path.parent.parent / "defs"]

    def resolve_import(self, path: Path, name: str) -> Path | None:
        for folder in self.search_dirs(path):
            base = folder / name
            for candidate in (base, *(base.with_name(base.name + s) for s in SUFFIXES)):
                if candidate.suffix.lower() in SUFFIXES and candidate.is_file():
                    return candidate.resolve()
        return None

    def definitions(self, path: Path, content: dict[str, Any], *, main: bool) -> dict[str, Any]:
        found: dict[str, Any] = {}
        defs = content.get("defs")
        if defs is not None and not isinstance(defs, dict):
            self.report("DefineSyntaxError", path, "/defs", "defs must be a mapping of names")
            defs = None
        sources = [(k, v, pointer("defs", k)) for k, v in (defs or {}).items()]
        for key, value in content.items():
            if key in RESERVED or str(key).startswith("$"):
                continue
            sources.append((key, value, pointer(key)))
        for name, value, where in sources:
            name = str(name)
            if name in found:
                self.report(
                    "DuplicateDefineError", path, where, f"{name} is defined twice in this file"
                )
                continue
            parsed = self.definition(path, name, value, where)
            if parsed is not None:
                found[name] = parsed
        return found

    def definition(self, path: Path, name: str, value: Any, where: str) -> Any:
        if not isinstance(value, dict) or "$def" not in value:
            self.report(
                "DefineSyntaxError",
                path,
                where,
                f"{name} needs `$def: struct` or `$def: class_domain`",
            )
            return None
        kind = value["$def"]
        if kind not in DEFINITION_KINDS:
            self.report(
                "DefineSyntaxError",
                path,
                where + "/$def",
                f"$def of {name} is {kind!r}; it must be 'struct' or 'class_domain'",
            )
            return None
        if not self.check_name(path, name, where, what="definition"):
            return None
        if name in builtin_names():
            self.report(
                "InvalidNameError", path, where, f"{name} is a built-in type name; rename it"
            )
            return None
        if kind == "struct":
            return self.struct(path, name, value, where)
        return self.class_domain(path, name, value, where)

    def check_name(self, path: Path, name: str, where: str, *, what: str) -> bool:
        if not name.isidentifier():
            self.report(
                "InvalidNameError",
                path,
                where,
                f"{what} name {name!r} must be an identifier (letters, digits and _, "
                "not starting with a digit)",
            )
            return False
        if keyword.iskeyword(name):
            self.report(
                "InvalidNameError", path, where, f"{what} name {name!r} is a Python keyword"
            )
            return False
        return True

    def struct(self, path: Path, name: str, value: dict[str, Any], where: str) -> StructDef | None:
        raw_fields = value.get("$fields")
        if not isinstance(raw_fields, dict) or not raw_fields:
            self.report(
                "DefineSyntaxError",
                path,
                where + "/$fields",
                f"struct {name} needs `$fields`: a mapping of field names to types",
            )
            return None
        params = value.get("$params", []) or []
        if not isinstance(params, list) or not all(
            isinstance(p, str) and p.isidentifier() for p in params
        ):
            self.report(
                "DefineSyntaxError",
                path,
                where + "/$params",
                "$params must be a list of identifiers",
            )
            params = []
        fields: dict[str, TypeExpr] = {}
        for field_name, type_text in raw_fields.items():
            field_where = f"{where}/$fields{pointer(field_name)}"
            field_name = str(field_name)
            if not self.check_name(path, field_name, field_where, what="field"):
                continue
            try:
                fields[field_name] = from_yaml(type_text)
            except DSDLError as exc:
                self.report("DefineSyntaxError", path, field_where, f"field {field_name}: {exc}")
        optional = value.get("$optional", []) or []
        if not isinstance(optional, list):
            self.report("DefineSyntaxError", path, where + "/$optional", "$optional is a list")
            optional = []
        for i, opt in enumerate(optional):
            if opt not in raw_fields:
                self.report(
                    "DefineSyntaxError",
                    path,
                    f"{where}/$optional/{i}",
                    f"$optional names {opt!r}, which is not a field of {name}",
                )
        return StructDef(
            name, fields, frozenset(o for o in optional if o in fields), tuple(params), path, where
        )

    def class_domain(
        self, path: Path, name: str, value: dict[str, Any], where: str
    ) -> DomainDef | None:
        classes = value.get("classes")
        if not isinstance(classes, list) or not classes:
            self.report(
                "DefineSyntaxError",
                path,
                where + "/classes",
                f"class domain {name} needs `classes`: a non-empty list of names",
            )
            return None
        names: list[str] = []
        seen: set[str] = set()
        for i, raw in enumerate(classes):
            at = f"{where}/classes/{i}"
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                self.report("DefineSyntaxError", path, at, f"class {raw!r} must be a string")
                continue
            label = str(raw).strip()
            if not label or label.startswith(".") or label.endswith(".") or ".." in label:
                self.report(
                    "DefineSyntaxError",
                    path,
                    at,
                    f"class {label!r}: names are non-empty, dotted parts non-empty",
                )
                continue
            if label in seen:
                self.report("DuplicateDefineError", path, at, f"class {label!r} is listed twice")
                continue
            if not all(ch.isalnum() or ch in "_ ." for ch in label):
                self.report(
                    "ClassNameWarning",
                    path,
                    at,
                    f"class {label!r} has special characters; sanitize_class_name() gives "
                    "a portable name (keep the original in global-info)",
                    severity="warning",
                )
            seen.add(label)
            names.append(label)
        skeleton = value.get("skeleton")
        pairs: list[tuple[int, int]] | None = None
        if skeleton is not None:
            pairs = []
            if not isinstance(skeleton, list):
                skeleton = [skeleton]
            for k, pair in enumerate(skeleton):
                ok = (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
                    and all(1 <= x <= len(names) for x in pair)
                )
                if not ok:
                    self.report(
                        "DefineSyntaxError",
                        path,
                        f"{where}/skeleton/{k}",
                        f"skeleton entries are [i, j] pairs of 1-based class indices "
                        f"(1..{len(names)}), got {pair!r}",
                    )
                    continue
                pairs.append((pair[0], pair[1]))
        return DomainDef(ClassDomain(name, names, pairs), path, where)


# ---- resolution checks -----------------------------------------------------------------------


class _Resolver:
    """Checks that every type names something defined, with the right parameters."""

    def __init__(self, desc: Description, report: Any) -> None:
        self.desc, self.report = desc, report

    def check(
        self, expr: TypeExpr, params: tuple[str, ...], file: Path | None, where: str, what: str
    ) -> set[str]:
        """Problems with `expr`; returns the struct names it uses (for the cycle check)."""
        used: set[str] = set()
        self._check(expr, params, file, where, what, used)
        return used

    def _check(
        self,
        expr: TypeExpr,
        params: tuple[str, ...],
        file: Path | None,
        where: str,
        what: str,
        used: set[str],
    ) -> None:
        name = expr.name
        if name == "List":
            self._list(expr, params, file, where, what, used)
        elif name in self.desc.structs:
            used.add(name)
            self._struct_use(expr, params, file, where, what)
        elif name in FIELD_TYPES:
            self._field(expr, params, file, where, what)
        elif name in self.desc.domains:
            self.report(
                "UndefinedTypeError",
                file,
                where,
                f"{what}: {name} is a class domain, not a type (use Label[dom={name}])",
            )
        else:
            self.report(
                "UndefinedTypeError",
                file,
                where,
                f"{what}: type {name!r} is neither built in nor defined (is an $import missing?)",
            )

    def _list(self, expr, params, file, where, what, used) -> None:  # type: ignore[no-untyped-def]
        kwargs = expr.kwarg_dict
        unknown = set(kwargs) - {"etype", "ordered"}
        if unknown:
            self.report(
                "ParameterError",
                file,
                where,
                f"{what}: List has no parameter(s) {sorted(unknown)} (etype, ordered)",
            )
        etype = kwargs.get("etype")
        positional = list(expr.positional)
        if etype is None and positional:
            etype = positional.pop(0)
        if positional:
            self.report("ParameterError", file, where, f"{what}: List takes one element type")
        if "ordered" in kwargs and not isinstance(kwargs["ordered"], bool):
            self.report("ParameterError", file, where, f"{what}: List ordered= is true or false")
        if not isinstance(etype, TypeExpr):
            self.report(
                "ParameterError", file, where, f"{what}: List needs an element type: List[etype=T]"
            )
            return
        self._check(etype, params, file, where, what, used)

    def _struct_use(self, expr, params, file, where, what) -> None:  # type: ignore[no-untyped-def]
        struct = self.desc.structs[expr.name]
        given = expr.kwarg_dict
        if expr.positional:
            self.report(
                "ParameterError",
                file,
                where,
                f"{what}: struct arguments are named: {expr.name}[param=Domain]",
            )
        missing = [p for p in struct.params if p not in given]
        if missing:
            example = ", ".join(f"{p}=SomeClassDom" for p in struct.params)
            self.report(
                "ParameterError",
                file,
                where,
                f"{what}: parametric struct {expr.name} is used without {missing}; "
                f"write {expr.name}[{example}]",
            )
        for key, value in given.items():
            if key not in struct.params:
                self.report(
                    "ParameterError",
                    file,
                    where,
                    f"{what}: struct {expr.name} has no parameter {key!r} "
                    f"(its $params: {list(struct.params)})",
                )
                continue
            self._domain_value(value, params, file, where, what)

    def _field(self, expr, params, file, where, what) -> None:  # type: ignore[no-untyped-def]
        cls = FIELD_TYPES[expr.name]
        if expr.positional:
            self.report(
                "ParameterError",
                file,
                where,
                f"{what}: {expr.name} parameters are named, e.g. {expr.name}[mode=...]",
            )
        plain: dict[str, Any] = {}
        for key, value in expr.kwargs:
            if key in cls.domain_params:
                self._domain_value(value, params, file, where, what)
            elif isinstance(value, ParamRef):
                self.report(
                    "ParameterError",
                    file,
                    where,
                    f"{what}: {expr.name}[{key}=${value.name}]: only class domains can be "
                    "struct parameters",
                )
            else:
                plain[key] = plain_value(value)
        for message in cls.check_args(plain):
            self.report("ParameterError", file, where, f"{what}: {message}")

    def _domain_value(self, value: Value, params, file, where, what) -> None:  # type: ignore[no-untyped-def]
        if isinstance(value, ParamRef):
            if value.name not in params:
                declared = f"its $params are {list(params)}" if params else "it has no $params"
                self.report(
                    "ParameterError",
                    file,
                    where,
                    f"{what}: ${value.name} is not a parameter of the enclosing struct "
                    f"({declared})",
                )
            return
        name = value.name if isinstance(value, TypeExpr) else value
        if not isinstance(name, str) or name not in self.desc.domains:
            self.report(
                "UndefinedDomainError",
                file,
                where,
                f"{what}: class domain {name!r} is not defined "
                f"(defined: {sorted(self.desc.domains) or 'none'})",
            )


def plain_value(value: Value) -> Any:
    """A bare word (`mode=xyxy`) as its string; literals as they are."""
    if isinstance(value, TypeExpr) and not value.kwargs and not value.positional:
        return value.name
    return value


# ---- entry points ----------------------------------------------------------------------------


def parse(path: str | Path, library_path: str | Path | None = None) -> Description:
    """Parse a description file with its imports; problems are collected, not raised."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: DSDL description {path} does not exist")
    lib = Path(library_path) if library_path is not None else None
    if lib is not None and not lib.is_dir():
        raise FileNotFoundError(f"library_path: {lib} is not a folder")
    parser = _Parser(lib)
    path = path.resolve()
    content, merged = parser.parse_file(path, main=True)
    desc = Description(path, problems=parser.problems, imports=parser.imported)
    if content is None:
        return desc
    desc.version = str(content.get("$dsdl-version")) if "$dsdl-version" in content else None
    for name, item in merged.items():
        if isinstance(item, StructDef):
            desc.structs[name] = item
        else:
            desc.domains[name] = item
    meta = content.get("meta")
    if meta is None:
        parser.report("SectionMissingError", path, "/meta", "add a `meta:` section (free-form)")
    elif not isinstance(meta, dict):
        parser.report("DefineSyntaxError", path, "/meta", "meta must be a mapping")
    else:
        desc.meta = meta
    _check_definitions(desc, parser.report)
    _data_section(desc, content, parser.report)
    return desc


def load_description(path: str | Path, library_path: str | Path | None = None) -> Description:
    """Parse a description and raise DSDLDefinitionError if it has any definition error."""
    return parse(path, library_path).raise_for_problems()


def _check_definitions(desc: Description, report: Any) -> None:
    import networkx as nx  # a third of the package's import time: load it when parsing

    resolver = _Resolver(desc, report)
    graph = nx.DiGraph()
    graph.add_nodes_from(desc.structs)
    for struct in desc.structs.values():
        for field_name, expr in struct.fields.items():
            where = f"{struct.pointer}/$fields{pointer(field_name)}"
            what = f"{struct.name}.{field_name}"
            for used in resolver.check(expr, struct.params, struct.file, where, what):
                graph.add_edge(struct.name, used)
    for cycle in sorted(sorted(c) for c in nx.simple_cycles(graph)):
        first = desc.structs[cycle[0]]
        report(
            "CircularDefineError",
            first.file,
            first.pointer,
            f"structs refer to each other in a cycle: {' -> '.join([*cycle, cycle[0]])}",
        )


def _data_section(desc: Description, content: dict[str, Any], report: Any) -> None:
    path = desc.path
    assert path is not None
    data = content.get("data")
    if data is None:
        report("SectionMissingError", path, "/data", "add a `data:` section with `sample-type`")
        return
    if not isinstance(data, dict):
        report("DefineSyntaxError", path, "/data", "data must be a mapping")
        return
    section = desc.data
    if "sample-type" not in data:
        report(
            "SectionMissingError",
            path,
            "/data/sample-type",
            "the data section needs `sample-type`, e.g. ObjectDetectionSample[cdom=MyClassDom]",
        )
    else:
        section.sample_type = _data_type(desc, data["sample-type"], "/data/sample-type", report)
    sample_path = data.get("sample-path", "$local" if "samples" in data else None)
    if sample_path is None:
        report(
            "SectionMissingError",
            path,
            "/data/sample-path",
            "give `sample-path`: a samples JSON file, or $local with a `samples:` list",
        )
    elif sample_path == "$local":
        samples = data.get("samples")
        if samples is None:
            report("SectionMissingError", path, "/data/samples", "sample-path is $local: add them")
        elif not isinstance(samples, list):
            report("DefineSyntaxError", path, "/data/samples", "samples must be a list")
        else:
            section.samples = samples
    elif not isinstance(sample_path, str):
        report("DefineSyntaxError", path, "/data/sample-path", "sample-path must be a path")
    else:
        target = (path.parent / sample_path).resolve()
        if not target.is_file():
            report(
                "SamplePathError",
                path,
                "/data/sample-path",
                f"samples file {sample_path!r} does not exist (looked for {target})",
            )
        else:
            section.sample_path = target
    _global_info(desc, data, report)


def _global_info(desc: Description, data: dict[str, Any], report: Any) -> None:
    path, section = desc.path, desc.data
    raw_type = data.get("global-info-type")
    info_path = data.get("global-info-path", "$local" if "global-info" in data else None)
    if raw_type is not None:
        section.global_info_type = _data_type(desc, raw_type, "/data/global-info-type", report)
    if info_path is None:
        if raw_type is not None:
            report(
                "GlobalInfoWarning",
                path,
                "/data/global-info-type",
                "global-info-type is set but there is no global-info or global-info-path",
                severity="warning",
            )
        return
    if raw_type is None:
        report(
            "GlobalInfoWarning",
            path,
            "/data/global-info",
            "global info without global-info-type cannot be checked",
            severity="warning",
        )
    if info_path == "$local":
        section.global_info = data.get("global-info")
    elif isinstance(info_path, str):
        target = (path.parent / info_path).resolve()  # type: ignore[union-attr]
        if not target.is_file():
            report(
                "SamplePathError",
                path,
                "/data/global-info-path",
                f"global-info file {info_path!r} does not exist (looked for {target})",
            )
        else:
            section.global_info_path = target


def _data_type(desc: Description, raw: Any, where: str, report: Any) -> TypeExpr | None:
    try:
        expr = from_yaml(raw)
    except DSDLError as exc:
        report("DefineSyntaxError", desc.path, where, str(exc))
        return None
    before = len(desc.errors)
    _Resolver(desc, report).check(expr, (), desc.path, where, where.rsplit("/", 1)[-1])
    return expr if len(desc.errors) == before else None
