"""Scripted tasks: a YAML file (or a quoted goal) validated into a `TaskSpec`, and its checks.

    goal: Write a note on three uses of attention in vision models.
    tools: [notes.write]
    budgets: {steps: 4, wall_s: 240, tokens: 20000}
    approval: auto
    plan: ["Write the note with notes.write", "Finish with a one-line answer"]
    expect:
      tools_called: [notes.write]
      artifacts: ["notes/*.md"]

`ponder run TASK.yaml` exits non-zero when an expectation fails, so a task can run in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import PonderError
from memory.planning import NO_TOOL, PlanStep

Approval = Literal["ask", "auto", "deny"]


class TaskError(PonderError):
    """A task file is missing, not YAML, or does not fit the task schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budgets(_Strict):
    steps: int = Field(default=8, ge=1, description="Tool calls plus the final answer.")
    wall_s: float = Field(default=600.0, gt=0, description="Wall-clock seconds of work.")
    tokens: int = Field(default=60_000, ge=1, description="Prompt plus completion tokens.")


class Expectations(_Strict):
    tools_called: list[str] = Field(default_factory=list)
    artifacts: list[str] = Field(
        default_factory=list, description="Glob patterns under the run's artifact folder."
    )
    answer_mentions: list[str] = Field(
        default_factory=list, description="Terms the final answer must contain (any case)."
    )
    status: Literal["finished", "any"] = "finished"


class PlanItem(_Strict):
    step: str = Field(min_length=3)
    tool: str = Field(default="none", description="The tool the step expects, or 'none'.")


class TaskSpec(_Strict):
    goal: str = Field(min_length=3)
    persona: str = Field(default="", description="Who the assistant is working for, and how.")
    context: list[str] = Field(default_factory=list, description="Facts to start the memory with.")
    tools: list[str] | None = Field(default=None, description="Allowed tools; None means all.")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Values the agent may use; one named like a tool's argument fixes that "
        "argument whenever the tool is called.",
    )
    plan: list[str | PlanItem] = Field(
        default_factory=list,
        description="Suggested steps; a plain string expects the first tool it names, if any.",
    )
    budgets: Budgets = Field(default_factory=Budgets)
    approval: Approval = "auto"
    replan: Literal["model", "on_failure"] = Field(
        default="model",
        description="Who may trigger a re-plan: the model after any observation, or only a "
        "failed tool call (for small models that re-plan at random).",
    )
    gated_tools: list[str] = Field(
        default_factory=list, description="Tools that need approval; empty means all of them."
    )
    expect: Expectations = Field(default_factory=Expectations)


def load_task(source: str) -> TaskSpec:
    """A task from a YAML file path, or a TaskSpec with `source` as its goal."""
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise TaskError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise TaskError(f"{path} must be a YAML mapping with at least a 'goal'")
        return _validate(data, str(path))
    return _validate({"goal": source}, "the goal given on the command line")


def _validate(data: dict[str, Any], where: str) -> TaskSpec:
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise TaskError(f"{where}: {problems}") from None


def suggested_steps(spec: TaskSpec, tool_names: list[str]) -> list[PlanStep]:
    """The task's suggested plan as plan steps, each with the tool it expects."""
    steps = []
    for item in spec.plan:
        if isinstance(item, PlanItem):
            if item.tool != NO_TOOL and item.tool not in tool_names:
                raise TaskError(
                    f"plan step {item.step!r} names tool {item.tool!r}, which is not allowed"
                )
            steps.append(PlanStep(item.step, item.tool))
        else:
            named = [n for n in tool_names if n in item]
            steps.append(PlanStep(item, named[0] if named else NO_TOOL))
    return steps


def check_expectations(
    expect: Expectations,
    *,
    status: str,
    tools_called: list[str],
    answer: str | None,
    artifact_dir: Path,
) -> list[str]:
    """What the run failed to meet, one line per failed expectation (empty: all met)."""
    failures = []
    if expect.status == "finished" and status != "finished":
        failures.append(f"the run ended as {status!r}, not 'finished'")
    for name in expect.tools_called:
        if name not in tools_called:
            failures.append(f"tool {name} was never called successfully")
    for pattern in expect.artifacts:
        if not list(artifact_dir.glob(pattern)):
            failures.append(f"no artifact matches {pattern!r} under {artifact_dir}")
    for term in expect.answer_mentions:
        if term.lower() not in (answer or "").lower():
            failures.append(f"the answer does not mention {term!r}")
    return failures
