"""The act step's output schema: one allowed tool with its arguments, or the final answer.

The schema is what constrained decoding enforces, so even the embedded 135M model returns a
valid action; which options it contains is how the agent follows its plan.
"""

from __future__ import annotations

from typing import Any

from memory.planning import NO_TOOL
from tools.registry import Tool


def action_schema(
    tools: dict[str, Tool],
    *,
    expected_tool: str = NO_TOOL,
    allow_finish: bool = True,
    allow_replan: bool = True,
) -> dict[str, Any]:
    """One of the given tools with its arguments, or (when allowed) finish with an answer.

    The agent follows its plan: at a step that expects a tool, the tools are offered (that one
    first) and finishing is not; at the last step, which expects no tool, only finishing is.
    A plan that no longer fits is changed by setting "replan", not by quitting early.
    """
    defs: dict[str, Any] = {}
    options = []
    ordered = sorted(tools, key=lambda name: name != expected_tool)
    for name in ordered:
        args = tools[name].args_model.model_json_schema()
        for def_name, definition in args.pop("$defs", {}).items():
            defs[def_name] = definition  # pydantic refs stay valid at the top level
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": name}, "args": args},
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    if not allow_finish:
        return _action_object(options, defs, allow_replan)
    options.append(
        {
            "type": "object",
            "properties": {
                "tool": {"const": "finish"},
                "answer": {"type": "string", "minLength": 1, "maxLength": 800},
            },
            "required": ["tool", "answer"],
            "additionalProperties": False,
        }
    )
    if expected_tool == NO_TOOL:
        options.insert(0, options.pop())  # at a no-tool step, finishing is the expected move
    return _action_object(options, defs, allow_replan)


def _action_object(
    options: list[dict[str, Any]], defs: dict[str, Any], allow_replan: bool
) -> dict[str, Any]:
    properties: dict[str, Any] = {"action": {"anyOf": options}}
    if allow_replan:
        properties["replan"] = {"type": "boolean"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema
