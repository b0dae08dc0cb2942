"""The research agent as a LangGraph StateGraph: perceive, retrieve, plan, act, observe, reflect.

    START -> perceive -> retrieve -> plan -> act -> approve -> run_tool -> observe
                            ^                  \\-> finish (answer, budget, errors)
                            \\---- reflect <-------/ (when due) <---------/

Each node is `State -> partial State`. The state holds ids and small values only; memories live
in the store, and run-scoped objects (chat model, store, registry, event bus) come from the
runtime context. Memories written by a node get ids derived from the run and step, so a node
that is re-run after a crash (or a resumed interrupt) writes nothing twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import events as ev
from agents.errors import LLMError
from agents.prompts import render
from agents.tasks import TaskSpec, suggested_steps
from memory.importance import ImportanceError, rate_importance
from memory.planning import NO_TOOL, make_plan, store_plan, supersede_remaining
from memory.records import Kind, NewMemory
from memory.reflection import ReflectionConfig, reflect, reflection_due
from memory.retrieval import Retriever
from memory.store import MemoryStore
from tools.registry import Registry, Tool, ToolContext, ToolError

MAX_LLM_ERRORS = 3  # consecutive-or-not LLM failures after which a run gives up
RETRIEVE_K = 8
# Room for a tool's arguments (a note's body is at most 1500 characters) or a final answer.
ACT_MAX_TOKENS = 700


class AgentState(TypedDict, total=False):
    run_id: str
    step: int  # actions taken (tool calls and the final answer)
    plan_ids: list[str]
    plan_version: int
    plan_index: int
    replan: bool
    replanned_at: int
    retrieved_ids: list[str]
    pending: dict[str, Any] | None  # {"tool", "args"} or {"tool": "finish", "answer"}
    approved: bool
    last_result: dict[str, Any] | None  # {"tool", "args", "ok", "summary", "artifacts"}
    tools_called: list[str]
    errors: int
    llm_calls: int
    tokens: int
    elapsed_s: float
    status: str  # running | finished | budget | error
    reason: str
    answer: str | None


class MeteredChat:
    """The run's chat model, counting calls and tokens and emitting a usage event per call."""

    def __init__(self, chat: Any, bus: ev.EventBus, *, calls: int = 0, tokens: int = 0) -> None:
        self.inner = chat
        self.bus = bus
        self.calls = calls
        self.tokens = tokens
        self.name = getattr(chat, "name", "llm")

    def chat(self, messages: list[dict[str, str]], schema: Any = None, **kwargs: Any) -> Any:
        purpose = kwargs.pop("purpose", "tool")
        reply = self.inner.chat(messages, schema, **kwargs)
        self.calls += 1
        self.tokens += reply.usage.total_tokens
        self.bus.emit(
            ev.Usage(
                purpose=purpose,
                model=reply.model,
                prompt_tokens=reply.usage.prompt_tokens,
                completion_tokens=reply.usage.completion_tokens,
                latency_s=reply.latency_s,
            )
        )
        return reply


@dataclass
class RunContext:
    """Everything a node needs besides the state; never checkpointed."""

    run_id: str
    task: TaskSpec
    chat: MeteredChat
    store: MemoryStore
    retriever: Retriever
    tools: dict[str, Tool]
    registry: Registry
    bus: ev.EventBus
    run_dir: Path
    reflection: ReflectionConfig = field(default_factory=ReflectionConfig)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def artifact_dir(self) -> Path:
        return self.run_dir / "artifacts"


Node = Callable[[AgentState, Runtime[RunContext]], dict[str, Any]]


def _node(fn: Node) -> Node:
    """Wrap a node: add its wall time to `elapsed_s` and the meter's totals to the state."""

    def wrapped(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        started = time.perf_counter()
        update = fn(state, runtime)
        ctx = runtime.context
        update["elapsed_s"] = state.get("elapsed_s", 0.0) + time.perf_counter() - started
        update["llm_calls"] = ctx.chat.calls
        update["tokens"] = ctx.chat.tokens
        return update

    wrapped.__name__ = fn.__name__
    return wrapped


# --- memory helpers ------------------------------------------------------------------------


def remember(ctx: RunContext, items: list[NewMemory]) -> list[str]:
    """Rate (one LLM call) and store new memories in one batch; return their ids.

    Items whose id is already stored (a re-run node) are neither rated nor stored again.
    """
    known = ctx.store.existing_ids([m.id for m in items if m.id])
    fresh = [m for m in items if m.id not in known]
    texts = [m.text for m in fresh]
    if texts:
        try:
            ratings = rate_importance(_purpose(ctx.chat, "importance"), texts)
        except (LLMError, ImportanceError) as exc:
            ctx.bus.emit(
                ev.Error(
                    where="importance", message=f"{exc}; stored unrated, marked for re-scoring"
                )
            )
        else:
            for memory, rating in zip(fresh, ratings, strict=True):
                memory.importance = rating
    for record in ctx.store.add_many(fresh):
        ctx.bus.emit(
            ev.MemoryAdded(
                memory_id=record.id,
                kind=record.kind.value,
                text=record.text,
                importance=record.importance,
            )
        )
    return [m.id for m in items]


class _purpose:
    """A view of the metered chat that tags its calls with a purpose (for usage events)."""

    def __init__(self, chat: MeteredChat, purpose: str) -> None:
        self._chat, self._purpose = chat, purpose

    def chat(self, messages: list[dict[str, str]], schema: Any = None, **kwargs: Any) -> Any:
        return self._chat.chat(messages, schema, purpose=self._purpose, **kwargs)


# --- nodes ---------------------------------------------------------------------------------


@_node
def perceive(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    task = ctx.task
    items = [
        NewMemory(
            f"New research task: {task.goal}",
            Kind.OBSERVATION,
            run_id=ctx.run_id,
            id=f"{ctx.run_id}-goal",
        )
    ]
    for i, fact in enumerate(task.context):
        items.append(
            NewMemory(fact, Kind.OBSERVATION, run_id=ctx.run_id, id=f"{ctx.run_id}-ctx{i}")
        )
    remember(ctx, items)
    return {
        "run_id": ctx.run_id,
        "step": 0,
        "plan_ids": [],
        "plan_version": 0,
        "plan_index": 0,
        "replan": False,
        "replanned_at": -1,
        "pending": None,
        "last_result": None,
        "tools_called": [],
        "errors": 0,
        "status": "running",
        "reason": "",
        "answer": None,
    }


@_node
def retrieve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    query = " ".join(filter(None, [ctx.task.goal, _current_step(ctx, state), _last_summary(state)]))
    scored = ctx.retriever.retrieve(query, k=RETRIEVE_K)
    ctx.bus.emit(
        ev.MemoryRetrieved(
            query=query,
            memories=[
                {
                    "id": s.record.id,
                    "kind": s.record.kind.value,
                    "text": s.record.text,
                    "recency": round(s.recency, 3),
                    "importance": round(s.importance, 3),
                    "relevance": round(s.relevance, 3),
                    "total": round(s.total, 3),
                }
                for s in scored
            ],
        )
    )
    return {"retrieved_ids": [s.record.id for s in scored]}


@_node
def plan(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    if state["plan_ids"] and not state["replan"]:
        return {}
    version = state["plan_version"] + 1
    context = [r.text for r in ctx.store.get_many(state["retrieved_ids"], missing_ok=True)]
    suggested = suggested_steps(ctx.task, list(ctx.tools)) if version == 1 else []
    if suggested:
        steps = suggested  # the user's plan is adopted as v1; the agent revises it as its own
    else:
        try:
            steps = make_plan(
                _purpose(ctx.chat, "plan"),
                ctx.task.goal,
                {name: t.description for name, t in ctx.tools.items()},
                context=context,
            )
        except LLMError as exc:
            ctx.bus.emit(ev.Error(where="plan", message=str(exc)))
            return {"errors": state["errors"] + 1, "replan": False}
    superseded = []
    if state["plan_ids"]:
        superseded = supersede_remaining(ctx.store, state["plan_ids"], state["plan_index"])
    texts = [f"Plan step: {s.text} (tool: {s.tool})" for s in steps]
    try:
        importances: list[int | None] = list(
            rate_importance(_purpose(ctx.chat, "importance"), texts)
        )
    except (LLMError, ImportanceError) as exc:
        ctx.bus.emit(ev.Error(where="importance", message=f"{exc}; plan stored unrated"))
        importances = [None] * len(steps)
    records = store_plan(
        ctx.store, steps, run_id=ctx.run_id, version=version, importances=importances
    )
    for record in records:
        ctx.bus.emit(
            ev.MemoryAdded(
                memory_id=record.id, kind="plan", text=record.text, importance=record.importance
            )
        )
    ctx.bus.emit(
        ev.PlanChanged(
            version=version,
            steps=[f"{s.text} (tool: {s.tool})" for s in steps],
            superseded=superseded,
        )
    )
    return {
        "plan_ids": [r.id for r in records],
        "plan_version": version,
        "plan_index": 0,
        "replan": False,
        # One re-plan per step at most, so a model that always asks cannot loop forever.
        "replanned_at": state["step"] if version > 1 else -1,
    }


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


@_node
def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    plan_records = ctx.store.get_many(state["plan_ids"], missing_ok=True)
    current = plan_records[state["plan_index"]] if plan_records else None
    expected = current.meta.get("tool", NO_TOOL) if current else NO_TOOL
    last_step = not plan_records or state["plan_index"] >= len(plan_records) - 1
    last = state.get("last_result") or {}
    may_replan = ctx.task.replan == "model" or (bool(last) and not last.get("ok"))
    schema = action_schema(
        {} if expected == NO_TOOL and last_step else ctx.tools,
        expected_tool=expected,
        allow_finish=expected not in ctx.tools,
        allow_replan=may_replan,
    )
    prompt = render(
        "agent",
        "act",
        persona=ctx.task.persona,
        goal=ctx.task.goal,
        plan=[
            r.meta.get("step", r.text) + f" (tool: {r.meta.get('tool', '?')})" for r in plan_records
        ],
        current=state["plan_index"],
        memories=[r.text for r in ctx.store.get_many(state["retrieved_ids"], missing_ok=True)],
        inputs=json.dumps(ctx.task.inputs) if ctx.task.inputs else "",
        last_result=_last_summary(state),
        tools={name: t.description for name, t in ctx.tools.items()},
        may_replan=may_replan,
    )
    try:
        reply = ctx.chat.chat(
            [{"role": "user", "content": prompt}], schema, purpose="act", max_tokens=ACT_MAX_TOKENS
        )
    except LLMError as exc:
        ctx.bus.emit(ev.Error(where="act", message=str(exc)))
        return {"errors": state["errors"] + 1, "pending": None}
    action, wants_replan = reply.parsed["action"], reply.parsed.get("replan", False)
    if wants_replan and action["tool"] != "finish" and state["replanned_at"] != state["step"]:
        return {"replan": True, "pending": None}
    if action["tool"] == "finish":
        return {"pending": {"tool": "finish", "answer": action["answer"].strip()}}
    # The action is remembered together with its result in `observe`: one embedding batch
    # and one importance call per step instead of two.
    return {"pending": {"tool": action["tool"], "args": action["args"]}}


@_node
def approve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    # Nothing with side effects before interrupt(): a resumed node runs again from the top.
    task = runtime.context.task
    pending = state["pending"] or {}
    gated = not task.gated_tools or pending.get("tool") in task.gated_tools
    if task.approval == "auto" or not gated:
        return {"approved": True}
    if task.approval == "deny":
        return {"approved": False}
    answer = interrupt({"tool": pending.get("tool"), "args": pending.get("args", {})})
    return {"approved": bool(answer)}


@_node
def run_tool(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    pending = state["pending"] or {}
    name, args = pending["tool"], pending.get("args", {})
    called = list(state["tools_called"])
    if not state.get("approved"):
        result = {"ok": False, "summary": f"The user did not approve {name}.", "artifacts": []}
    else:
        ctx.bus.emit(ev.ToolCalled(tool=name, args=args))
        started = time.perf_counter()
        tool_ctx = ToolContext(
            artifact_dir=ctx.artifact_dir,
            chat_model=_purpose(ctx.chat, f"tool {name}"),
            progress=lambda f, m: ctx.bus.emit(ev.ToolProgress(tool=name, fraction=f, message=m)),
            cancel=ctx.cancel,
        )
        try:
            out = ctx.registry.call(name, args, tool_ctx)
            result = {
                "ok": True,
                "summary": out.summary,
                "artifacts": [str(p) for p in out.artifacts],
            }
            called.append(name)
        except ToolError as exc:
            result = {"ok": False, "summary": f"{name} failed: {exc.reason}", "artifacts": []}
        ctx.bus.emit(
            ev.ToolFinished(
                tool=name,
                ok=result["ok"],
                summary=result["summary"],
                artifacts=result["artifacts"],
                seconds=time.perf_counter() - started,
            )
        )
    return {
        "last_result": {"tool": name, "args": args, **result},
        "tools_called": called,
        "step": state["step"] + 1,
        "pending": None,
    }


@_node
def observe(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    step = state["step"] - 1
    result = state["last_result"] or {}
    action = f"Step {step + 1}: called {result['tool']} with {json.dumps(result['args'])}"
    outcome = f"{result['tool']} result: {result['summary']}"
    remember(
        ctx,
        [
            NewMemory(action, Kind.ACTION, run_id=ctx.run_id, id=f"{ctx.run_id}-s{step}-action"),
            NewMemory(
                outcome,
                Kind.TOOL_RESULT,
                run_id=ctx.run_id,
                artifacts=result.get("artifacts", []),
                id=f"{ctx.run_id}-s{step}-result",
            ),
        ],
    )
    index = state["plan_index"] + 1 if result.get("ok") else state["plan_index"]
    return {"plan_index": min(index, max(len(state["plan_ids"]) - 1, 0))}


@_node
def reflect_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    try:
        outcome = reflect(
            ctx.store,
            ctx.retriever,
            _purpose(ctx.chat, "reflect"),
            config=ctx.reflection,
            run_id=ctx.run_id,
            id_prefix=f"{ctx.run_id}-r{state['step']}",
        )
    except (LLMError, ImportanceError) as exc:
        ctx.bus.emit(ev.Error(where="reflect", message=str(exc)))
        return {"errors": state["errors"] + 1}
    for message in outcome.errors:
        ctx.bus.emit(ev.Error(where="reflect", message=message))
    ctx.bus.emit(
        ev.Reflection(
            questions=outcome.questions,
            insights=[r.text for r in outcome.stored],
            rejected=[f"{t} ({why})" for t, why in outcome.rejected],
        )
    )
    return {}


@_node
def finish(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    pending = state.get("pending") or {}
    answer = pending.get("answer") if pending.get("tool") == "finish" else None
    if answer is not None:
        status, reason = "finished", "the agent answered"
        remember(
            ctx,
            [
                NewMemory(
                    f"Answer to '{ctx.task.goal}': {answer}",
                    Kind.CHAT,
                    run_id=ctx.run_id,
                    id=f"{ctx.run_id}-answer",
                )
            ],
        )
        ctx.bus.emit(ev.Answer(text=answer))
    else:
        status, reason = stop_reason(state, ctx) or ("error", "stopped")
    return {
        "status": status,
        "reason": reason,
        "answer": answer,
        "step": state["step"] + (1 if answer is not None else 0),
    }


# --- routing -------------------------------------------------------------------------------


def stop_reason(state: AgentState, ctx: RunContext) -> tuple[str, str] | None:
    """(status, reason) when a budget or the error limit ends the run, else None."""
    budgets = ctx.task.budgets
    if state.get("errors", 0) >= MAX_LLM_ERRORS:
        return "error", f"{state['errors']} LLM failures (see the error events)"
    if state.get("step", 0) >= budgets.steps:
        return "budget", f"step budget of {budgets.steps} reached"
    if state.get("elapsed_s", 0.0) >= budgets.wall_s:
        return "budget", f"wall-clock budget of {budgets.wall_s:g} s reached"
    if ctx.chat.tokens >= budgets.tokens:
        return "budget", f"token budget of {budgets.tokens} reached ({ctx.chat.tokens} used)"
    return None


def route_after_act(state: AgentState, runtime: Runtime[RunContext]) -> str:
    pending = state.get("pending")
    if pending and pending["tool"] == "finish":
        return "finish"
    if stop_reason(state, runtime.context):
        return "finish"
    if state.get("replan"):
        return "plan"
    return "approve" if pending else "retrieve"


def route_after_observe(state: AgentState, runtime: Runtime[RunContext]) -> str:
    ctx = runtime.context
    if stop_reason(state, ctx):
        return "finish"
    return "reflect" if reflection_due(ctx.store, ctx.reflection) else "retrieve"


def route_after_plan(state: AgentState, runtime: Runtime[RunContext]) -> str:
    if stop_reason(state, runtime.context):
        return "finish"
    return "act" if state.get("plan_ids") else "retrieve"


def build_graph() -> StateGraph:
    graph = StateGraph(AgentState, context_schema=RunContext)
    for name, fn in [
        ("perceive", perceive),
        ("retrieve", retrieve),
        ("plan", plan),
        ("act", act),
        ("approve", approve),
        ("run_tool", run_tool),
        ("observe", observe),
        ("reflect", reflect_node),
        ("finish", finish),
    ]:
        graph.add_node(name, fn)
    graph.add_edge(START, "perceive")
    graph.add_edge("perceive", "retrieve")
    graph.add_edge("retrieve", "plan")
    graph.add_conditional_edges("plan", route_after_plan, ["act", "retrieve", "finish"])
    graph.add_conditional_edges("act", route_after_act, ["finish", "plan", "approve", "retrieve"])
    graph.add_edge("approve", "run_tool")
    graph.add_edge("run_tool", "observe")
    graph.add_conditional_edges("observe", route_after_observe, ["finish", "reflect", "retrieve"])
    graph.add_edge("reflect", "retrieve")
    graph.add_edge("finish", END)
    return graph


def _current_step(ctx: RunContext, state: AgentState) -> str:
    ids = state.get("plan_ids") or []
    if not ids:
        return ""
    record = ctx.store.get_many(
        [ids[min(state.get("plan_index", 0), len(ids) - 1)]], missing_ok=True
    )
    return record[0].meta.get("step", "") if record else ""


def _last_summary(state: AgentState) -> str:
    result = state.get("last_result")
    return f"{result['tool']}: {result['summary']}" if result else ""
