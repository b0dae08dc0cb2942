"""The tool registry: declaration checks, schemas, argument errors, ToolError, plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from tools import registry as registry_module
from tools.registry import (
    Registry,
    ToolArgumentsError,
    ToolCancelled,
    ToolContext,
    ToolDefinitionError,
    ToolError,
    ToolResult,
    discover,
    tool,
)


class DivideArgs(BaseModel):
    numerator: float
    denominator: float = Field(description="Must not be zero.")


class DivideResult(ToolResult):
    quotient: float


@tool("math.divide")
def divide(args: DivideArgs, ctx: ToolContext) -> DivideResult:
    """Divide two numbers."""
    ctx.report(0.5, "dividing")
    q = args.numerator / args.denominator
    return DivideResult(summary=f"{args.numerator} / {args.denominator} = {q}", quotient=q)


@pytest.fixture
def registry() -> Registry:
    return Registry([divide])


@pytest.fixture
def ctx(tmp_path) -> ToolContext:
    return ToolContext(artifact_dir=tmp_path / "artifacts")


def test_schema_export_gives_name_description_and_parameters(registry):
    (schema,) = registry.schemas()
    assert schema["name"] == "math.divide"
    assert schema["description"] == "Divide two numbers."
    assert schema["parameters"]["required"] == ["numerator", "denominator"]
    assert schema["parameters"]["properties"]["denominator"]["description"] == "Must not be zero."


def test_call_validates_runs_and_reports_progress(registry, ctx):
    seen = []
    ctx.progress = lambda fraction, message: seen.append((fraction, message))
    result = registry.call("math.divide", {"numerator": 6, "denominator": 3}, ctx)
    assert result.quotient == 2.0
    assert seen == [(0.5, "dividing")]
    assert ctx.artifact_dir.is_dir()


def test_bad_argument_names_the_field_and_the_expected_type(registry, ctx):
    with pytest.raises(ToolArgumentsError) as err:
        registry.call("math.divide", {"numerator": "six", "denominator": 3}, ctx)
    message = str(err.value)
    assert message.startswith("math.divide: argument 'numerator' expects float")
    assert "'six'" in message


def test_missing_argument_is_named(registry, ctx):
    with pytest.raises(
        ToolArgumentsError, match="argument 'denominator' expects float: Field required"
    ):
        registry.call("math.divide", {"numerator": 1}, ctx)


def test_exception_inside_a_tool_becomes_a_tool_error_naming_tool_and_cause(registry, ctx):
    with pytest.raises(ToolError) as err:
        registry.call("math.divide", {"numerator": 1, "denominator": 0}, ctx)
    assert str(err.value) == "math.divide: ZeroDivisionError: float division by zero"
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def test_unknown_tool_suggests_the_closest_name(registry, ctx):
    with pytest.raises(ToolError, match="did you mean math.divide"):
        registry.call("math.divid", {}, ctx)


def test_cancelled_context_stops_the_tool(registry, ctx):
    ctx.cancel.set()
    with pytest.raises(ToolCancelled):
        registry.call("math.divide", {"numerator": 1, "denominator": 1}, ctx)


def test_declaring_a_tool_without_types_or_docstring_fails_at_declaration():
    with pytest.raises(ToolDefinitionError, match="family.verb"):
        tool("Divide")

    with pytest.raises(ToolDefinitionError, match="docstring"):

        @tool("math.nodoc")
        def nodoc(args: DivideArgs, ctx: ToolContext) -> DivideResult:
            return DivideResult(summary="", quotient=0)

    with pytest.raises(ToolDefinitionError, match="return type"):

        @tool("math.noreturn")
        def noreturn(args: DivideArgs, ctx: ToolContext):
            """No return annotation."""

    with pytest.raises(ToolDefinitionError, match="first parameter"):

        @tool("math.untyped")
        def untyped(args, ctx: ToolContext) -> DivideResult:
            """No argument model."""


def test_tool_returning_the_wrong_type_is_reported_as_a_bug(ctx):
    @tool("math.liar")
    def liar(args: DivideArgs, ctx: ToolContext) -> DivideResult:
        """Returns the base result type."""
        return ToolResult(summary="oops")

    with pytest.raises(ToolError, match="not its declared DivideResult"):
        Registry([liar]).call("math.liar", {"numerator": 1, "denominator": 1}, ctx)


def test_two_different_tools_with_one_name_are_rejected():
    @tool("math.divide")
    def other(args: DivideArgs, ctx: ToolContext) -> DivideResult:
        """Another divide."""
        return DivideResult(summary="", quotient=0)

    with pytest.raises(ToolDefinitionError, match="defined twice"):
        Registry([divide, other])


PLUGIN = textwrap.dedent(
    '''
    """A third-party Ponder plugin, installed as a distribution with an entry point."""
    from pydantic import BaseModel
    from tools import ToolContext, ToolResult, tool

    class ShoutArgs(BaseModel):
        text: str

    @tool("demo.shout")
    def shout(args: ShoutArgs, ctx: ToolContext) -> ToolResult:
        """Upper-case a text."""
        return ToolResult(summary=args.text.upper())

    class WaitArgs(BaseModel):
        seconds: float

    @tool("demo.wait")
    def wait(args: WaitArgs, ctx: ToolContext) -> ToolResult:
        """Wait, then write a marker file (a slow tool for kill-and-resume tests)."""
        import time
        time.sleep(args.seconds)
        marker = ctx.artifact_dir / "waited.txt"
        marker.write_text(str(args.seconds))
        return ToolResult(summary=f"waited {args.seconds} s", artifacts=[marker])
    '''
)


def install_fake_distribution(root: Path, entry_points: str) -> None:
    """Write a package plus a .dist-info with entry points, as pip would."""
    (root / "ponder_demo_plugin").mkdir()
    (root / "ponder_demo_plugin" / "__init__.py").write_text(PLUGIN)
    info = root / "ponder_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ponder-demo-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[ponder.tools]\n{entry_points}\n")


@pytest.fixture
def plugin_path(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    install_fake_distribution(
        root, "demo = ponder_demo_plugin\nbroken = ponder_demo_plugin_missing:tools"
    )
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    sys.modules.pop("ponder_demo_plugin", None)


def test_entry_point_plugins_are_discovered_and_broken_ones_reported(plugin_path, ctx):
    found = discover()
    assert "demo.shout" in found
    assert "notes.write" in found  # the built-in adapters arrive the same way
    assert found.origin("demo.shout") == "ponder_demo_plugin"
    assert found.call("demo.shout", {"text": "hi"}, ctx).summary == "HI"
    (error,) = found.load_errors
    assert "broken" in error[0] and "ModuleNotFoundError" in error[1]


def test_default_registry_is_built_once(monkeypatch):
    monkeypatch.setattr(registry_module, "_default", None)
    first = registry_module.default_registry()
    assert registry_module.default_registry() is first
