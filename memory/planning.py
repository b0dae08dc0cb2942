"""Planning: a goal decomposed top-down into steps, stored as plan memories, revised on demand.

Each step names the tool it expects to use. A plan is versioned: re-planning marks the steps
that were not done yet as superseded (they stay in the stream, so the report can show what
changed) and stores the new steps as the next version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memory.importance import ChatLike
from memory.prompting import render_template
from memory.records import Kind, MemoryRecord, NewMemory
from memory.store import MemoryStore

NO_TOOL = "none"


@dataclass(frozen=True)
class PlanStep:
    text: str
    tool: str  # a tool name, or "none"


def plan_schema(tool_names: list[str], max_steps: int) -> dict[str, Any]:
    step = {
        "type": "object",
        "properties": {
            "step": {"type": "string", "minLength": 3, "maxLength": 160},
            "tool": {"enum": [*tool_names, NO_TOOL]},
        },
        "required": ["step", "tool"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": step, "minItems": 1, "maxItems": max_steps}
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def make_plan(
    chat: ChatLike,
    goal: str,
    tools: dict[str, str],
    *,
    context: Sequence[str] = (),
    suggested: Sequence[str] = (),
    max_steps: int = 5,
) -> list[PlanStep]:
    """Ask the LLM for a plan of at most max_steps steps. LLM errors propagate."""
    prompt = render_template(
        "memory.prompts",
        "memory",
        "plan",
        goal=goal,
        context=list(context),
        suggested=list(suggested),
        tools=tools,
        max_steps=max_steps,
    )
    reply = chat.chat(
        [{"role": "user", "content": prompt}], schema=plan_schema(sorted(tools), max_steps)
    )
    return [PlanStep(s["step"].strip(), s["tool"]) for s in reply.parsed["steps"]][:max_steps]


def store_plan(
    store: MemoryStore,
    steps: list[PlanStep],
    *,
    run_id: str,
    version: int,
    importances: Sequence[int | None] | None = None,
) -> list[MemoryRecord]:
    """Store plan steps as `plan` memories with stable ids (run, version, index)."""
    importances = list(importances or [None] * len(steps))
    return store.add_many(
        [
            NewMemory(
                f"Plan v{version} step {i + 1}: {step.text} (tool: {step.tool})",
                Kind.PLAN,
                importance=importances[i],
                run_id=run_id,
                meta={"version": version, "index": i, "step": step.text, "tool": step.tool},
                id=f"{run_id}-plan{version}-{i}",
            )
            for i, step in enumerate(steps)
        ]
    )


def supersede_remaining(store: MemoryStore, plan_ids: list[str], done: int) -> list[str]:
    """Mark the steps from index `done` on as superseded; return their ids."""
    rest = plan_ids[done:]
    store.supersede(rest)
    return rest
