"""The typed tool registry: what a tool is, how it is declared, found, described and called.

A tool is a plain function `(args, ctx) -> result` whose argument and result types are pydantic
models; its name is `family.verb` and its first docstring line is its description:

    class WriteArgs(BaseModel): ...
    class WriteResult(ToolResult): ...

    @tool("notes.write")
    def write_note(args: WriteArgs, ctx: ToolContext) -> WriteResult:
        \"\"\"Write a markdown note into the run's artifact folder.\"\"\"

Every tool also carries a card for the agent's router: at least three `examples`, requests
written as a user would type them, and a description on each argument:

    @tool("notes.write", examples=["jot down what we found today", ...])

A tool that asks a person to approve a decision can also declare a preview,
`@tool("family.verb", preview=fn)` with `fn(args, ctx) -> str`: the agent shows its text beside
the arguments in the approval dialog (SHIFT shows each feature's evidence there). It runs again
if a run is resumed at the approval, so it must be idempotent (cache what it computes).

Tools are found in the modules of the `tools` package and in installed distributions that
declare an entry point in the group `ponder.tools` (a module, a Tool, or a list of Tools). The
built-in adapters use the same entry-point group, so they register exactly as a plugin would.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENTRY_POINT_GROUP = "ponder.tools"
_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


PATH_KEY = "x-path"  # marks a JSON-schema property that names a file or folder


def path_field(default: Any, description: str, *, keywords: Iterable[str] = ()) -> Any:
    """A pydantic field that names a file or folder.

    The agent fills such a field only with a path that occurs in the request, in memory or
    among the run's artifacts, or with one of `keywords` (values that are not paths, such as
    'generated'), so a model can never invent a path.
    """
    return Field(default, description=description, json_schema_extra={PATH_KEY: list(keywords)})


class ToolError(Exception):
    """A tool could not run: unknown name, bad arguments, or an exception inside it."""

    def __init__(self, tool_name: str, message: str) -> None:
        super().__init__(f"{tool_name}: {message}")
        self.tool_name = tool_name
        self.reason = message


class ToolArgumentsError(ToolError):
    """The arguments do not fit the tool's argument model."""


class ToolCancelled(ToolError):
    """The run asked the tool to stop (ToolContext.cancel was set)."""


class ToolDefinitionError(TypeError):
    """A function was declared as a tool without the types or docstring a tool needs."""


class ToolResult(BaseModel):
    """The base of every tool result: a short summary for the memory stream, plus artifacts."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="One or two sentences for the memory stream.")
    artifacts: list[Path] = Field(
        default_factory=list, description="Files the tool wrote (plots, tables, models)."
    )


@dataclass
class ToolContext:
    """What a running tool may use besides its arguments.

    `chat_model` is any object with the agent's `chat(messages, schema=...)` method, for the
    methods that need an LLM. `progress(fraction, message)` reports progress in [0, 1];
    `cancel` is set when the user stops the run, and tools check it between units of work.
    """

    artifact_dir: Path
    chat_model: Any = None
    progress: Callable[[float, str], None] = lambda fraction, message: None
    cancel: threading.Event = field(default_factory=threading.Event)
    tool_name: str = ""

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress, and stop here if the run was cancelled."""
        self.check_cancelled()
        self.progress(min(max(fraction, 0.0), 1.0), message)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise ToolCancelled(self.tool_name or "tool", "cancelled by the user")


@dataclass(frozen=True)
class Tool:
    """A registered tool: name, description, argument and result models, and the function."""

    name: str
    description: str
    args_model: type[BaseModel]
    result_model: type[ToolResult]
    fn: Callable[[Any, ToolContext], ToolResult]
    preview: Callable[[Any, ToolContext], str] | None = None
    examples: tuple[str, ...] = ()  # requests a user would type for this tool (the router's)

    def json_schema(self) -> dict[str, Any]:
        """The function-calling description an LLM sees: name, description, parameters."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.args_model.model_json_schema(),
        }

    def __call__(self, args: Any, ctx: ToolContext) -> ToolResult:
        return self.fn(args, ctx)


def tool(
    name: str,
    *,
    examples: Iterable[str] = (),
    preview: Callable[[Any, ToolContext], str] | None = None,
) -> Callable[[Callable[..., Any]], Tool]:
    """Declare a function `(args: ArgsModel, ctx: ToolContext) -> ResultModel` as tool `name`.

    `examples` are requests a user would type for it (the agent routes by them);
    `preview(args, ctx) -> str`, if given, is what a person sees before approving a call.
    """
    if not _NAME.match(name):
        raise ToolDefinitionError(
            f"tool name {name!r} must look like 'family.verb' (lowercase letters, digits, _)"
        )

    def declare(fn: Callable[..., Any]) -> Tool:
        return Tool(
            name,
            _description(fn, name),
            *_models(fn, name),
            fn=fn,
            preview=preview,
            examples=tuple(examples),
        )

    return declare


def _description(fn: Callable[..., Any], name: str) -> str:
    doc = inspect.getdoc(fn)
    if not doc:
        raise ToolDefinitionError(f"tool {name}: {fn.__qualname__} needs a docstring")
    return doc.splitlines()[0].strip()


def _models(fn: Callable[..., Any], name: str) -> tuple[type[BaseModel], type[ToolResult]]:
    hints = get_type_hints(fn)
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise ToolDefinitionError(
            f"tool {name}: {fn.__qualname__} must take exactly (args, ctx), got {params}"
        )
    args_model, result_model = hints.get(params[0]), hints.get("return")
    if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
        raise ToolDefinitionError(
            f"tool {name}: annotate the first parameter with a pydantic model, got {args_model!r}"
        )
    if not (isinstance(result_model, type) and issubclass(result_model, ToolResult)):
        raise ToolDefinitionError(
            f"tool {name}: annotate the return type with a ToolResult subclass, "
            f"got {result_model!r}"
        )
    return args_model, result_model


class Registry:
    """Tools by name. `call` validates arguments and wraps failures in ToolError."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._origins: dict[str, str] = {}
        # Plugins that failed to load, as (origin, reason): shown by `ponder tools list`.
        self.load_errors: list[tuple[str, str]] = []
        for t in tools:
            self.register(t)

    def register(self, t: Tool, origin: str = "") -> None:
        if not isinstance(t, Tool):
            raise ToolDefinitionError(f"{t!r} is not a Tool; declare it with @tool('family.verb')")
        known = self._tools.get(t.name)
        if known is not None and known.fn is not t.fn:
            raise ToolDefinitionError(
                f"tool {t.name} is defined twice ({self._origins[t.name]} and {origin or '?'})"
            )
        self._tools[t.name] = t
        self._origins[t.name] = origin

    def register_module(self, module: types.ModuleType) -> int:
        """Register every Tool defined at the top level of a module; return how many."""
        found = [v for v in vars(module).values() if isinstance(v, Tool)]
        for t in found:
            self.register(t, origin=module.__name__)
        return len(found)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool:
        if name not in self._tools:
            hint = _closest(name, self._tools)
            raise ToolError(
                name, f"no such tool{hint}; `ponder tools list` shows the {len(self)} known ones"
            )
        return self._tools[name]

    def origin(self, name: str) -> str:
        return self._origins.get(name, "")

    def schemas(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """JSON schemas of the named tools (all by default), for the LLM."""
        return [self.get(n).json_schema() for n in (names or self.names())]

    def validate_args(self, name: str, args: BaseModel | dict[str, Any] | None) -> BaseModel:
        t = self.get(name)
        if isinstance(args, t.args_model):
            return args
        if isinstance(args, BaseModel):
            args = args.model_dump()
        try:
            return t.args_model.model_validate(args or {})
        except ValidationError as exc:
            raise ToolArgumentsError(name, _explain(exc, t.args_model)) from None

    def call(
        self, name: str, args: BaseModel | dict[str, Any] | None, ctx: ToolContext
    ) -> ToolResult:
        """Run a tool. Any failure inside it comes back as a ToolError naming the tool."""
        t = self.get(name)
        parsed = self.validate_args(name, args)
        ctx.tool_name = name
        ctx.artifact_dir.mkdir(parents=True, exist_ok=True)
        ctx.check_cancelled()
        try:
            result = t.fn(parsed, ctx)
        except ToolError:
            raise
        except Exception as exc:  # the tool's failure, reported to the caller by name
            raise ToolError(name, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(result, t.result_model):
            raise ToolError(
                name,
                f"returned {type(result).__name__}, not its declared {t.result_model.__name__} "
                f"(a bug in the tool)",
            )
        return result

    def preview(
        self, name: str, args: BaseModel | dict[str, Any] | None, ctx: ToolContext
    ) -> str | None:
        """The tool's preview of a call for its approval, or None if it declares none."""
        t = self.get(name)
        if t.preview is None:
            return None
        parsed = self.validate_args(name, args)
        ctx.tool_name = name
        ctx.artifact_dir.mkdir(parents=True, exist_ok=True)
        try:
            return t.preview(parsed, ctx)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(name, f"preview failed: {type(exc).__name__}: {exc}") from exc


def _explain(exc: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        expected = _expected_type(model, err["loc"])
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        problems.append(f"argument '{where}'{expected}: {err['msg']}{got}")
    return "; ".join(problems)


def _expected_type(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    if len(loc) != 1 or loc[0] not in model.model_fields:
        return ""
    annotation = model.model_fields[loc[0]].annotation
    shown = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    return f" expects {shown}"


def _closest(name: str, known: Iterable[str]) -> str:
    import difflib

    matches = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {matches[0]}?)" if matches else ""


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The registry of every tool found in `tools/` and the `ponder.tools` entry points."""
    global _default
    with _default_lock:
        if _default is None:
            _default = discover()
        return _default


def discover() -> Registry:
    """Build a registry from the `tools` package and the entry points, recording failures."""
    registry = Registry()
    loaded: set[str] = set()
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name} = {entry.value}"
        try:
            target = entry.load()
            _register_target(registry, target)
            if isinstance(target, types.ModuleType):
                loaded.add(target.__name__)
        except Exception as exc:  # a broken plugin must not hide the other tools
            registry.load_errors.append((origin, f"{type(exc).__name__}: {exc}"))
    package = importlib.import_module("tools")
    for info in pkgutil.iter_modules(package.__path__):
        module_name = f"tools.{info.name}"
        if info.name.startswith("_") or info.name == "registry" or module_name in loaded:
            continue
        try:
            registry.register_module(importlib.import_module(module_name))
        except Exception as exc:
            registry.load_errors.append((module_name, f"{type(exc).__name__}: {exc}"))
    return registry


def _register_target(registry: Registry, target: Any) -> None:
    if isinstance(target, types.ModuleType):
        registry.register_module(target)
    elif isinstance(target, Tool):
        registry.register(target, origin=f"{target.fn.__module__}")
    elif isinstance(target, (list, tuple)):
        for t in target:
            registry.register(t, origin=f"{getattr(t.fn, '__module__', '?')}")
    else:
        raise ToolDefinitionError(
            f"entry point must name a module, a Tool or a list of Tools, got {target!r}"
        )
