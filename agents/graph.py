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
import time
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import events as ev
from agents.actions import action_schema
from agents.errors import LLMError
from agents.prompts import render
from agents.run_state import AgentState, RunContext, Tagged, announce, node, remember
from agents.tasks import suggested_steps
from memory.importance import ImportanceError, rate_importance
from memory.planning import NO_TOOL, make_plan, store_plan, supersede_remaining
from memory.records import Kind, NewMemory
from memory.reflection import reflect, reflection_due
from tools.registry import ToolContext, ToolError

MAX_LLM_ERRORS = 3  # LLM failures (in any nodes) after which a run gives up
RETRIEVE_K = 8
# Room for a tool's arguments (a note's body is at most 1500 characters) or a final answer.
ACT_MAX_TOKENS = 700
ANSWER_MAX_TOKENS = 120  # "one or two sentences"


@node
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


@node
def retrieve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    query = " ".join(filter(None, [ctx.task.goal, _current_step(ctx, state), _last_summary(state)]))
    # The query is the goal, the current plan step and the last result. Each is already a
    # stored memory, so their stored embeddings are summed instead of embedding the query
    # again: the same direction, without a model call on every step.
    parts = [f"{ctx.run_id}-goal", *_current_step_id(state)]
    if state.get("last_result"):
        parts.append(f"{ctx.run_id}-s{state['step'] - 1}-result")
    vectors = ctx.store.vectors(sorted(ctx.store.existing_ids(parts), key=parts.index))
    query_vector = vectors.sum(axis=0)
    query_vector /= max(float(np.linalg.norm(query_vector)), 1e-12)
    scored = ctx.retriever.retrieve_vector(query_vector, k=RETRIEVE_K, text=query)
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


@node
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
                Tagged(ctx.chat, "plan"),
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
        importances: list[int | None] = list(rate_importance(Tagged(ctx.chat, "importance"), texts))
    except (LLMError, ImportanceError) as exc:
        ctx.bus.emit(ev.Error(where="importance", message=f"{exc}; plan stored unrated"))
        importances = [None] * len(steps)
    records = store_plan(
        ctx.store, steps, run_id=ctx.run_id, version=version, importances=importances
    )
    for record in records:
        announce(ctx, record)
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


@node
def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    plan_records = ctx.store.get_many(state["plan_ids"], missing_ok=True)
    current = plan_records[state["plan_index"]] if plan_records else None
    expected = current.meta.get("tool", NO_TOOL) if current else NO_TOOL
    last_step = not plan_records or state["plan_index"] >= len(plan_records) - 1
    last = state.get("last_result") or {}
    may_replan = ctx.task.replan == "model" or (bool(last) and not last.get("ok"))
    if expected == NO_TOOL and last_step and not may_replan:
        return _answer(state, ctx)  # the only move left is the answer: ask for it as text
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
    return {"pending": {"tool": action["tool"], "args": with_inputs(ctx, action)}}


def with_inputs(ctx: RunContext, action: dict[str, Any]) -> dict[str, Any]:
    """The action's arguments, with the task's `inputs` pinning the arguments they name.

    A task file is a script: its author fixes the data and the sizes (small ones for CI),
    and the agent chooses the tool and every argument the task leaves open. A small model
    often leaves arguments out (a tool's defaults are sized for real runs) or fills them
    wrongly (WIDIn's target domains set to its source), so a value the task names wins.
    """
    fields = ctx.tools[action["tool"]].args_model.model_fields
    pinned = {k: v for k, v in ctx.task.inputs.items() if k in fields}
    return {**action["args"], **pinned}


@node
def approve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    # Nothing with side effects before interrupt(): a resumed node runs again from the top.
    task = runtime.context.task
    pending = state["pending"] or {}
    gated = not task.gated_tools or pending.get("tool") in task.gated_tools
    if task.approval == "auto" or not gated:
        return {"approved": True}
    if task.approval == "deny":
        return {"approved": False}
    request = {"tool": pending.get("tool"), "args": pending.get("args", {})}
    preview = _preview(runtime.context, request["tool"], request["args"])
    if preview:
        request["preview"] = preview
    answer = interrupt(request)
    if isinstance(answer, dict):  # approved with edited arguments: {"args": {...}}
        return {"approved": True, "pending": {**pending, "args": answer.get("args", {})}}
    return {"approved": bool(answer)}


def _preview(ctx: RunContext, name: str, args: dict[str, Any]) -> str | None:
    """What the tool shows a person before they approve the call (idempotent, so safe to
    compute again when a run resumes at the approval); a failure is shown, not hidden."""
    try:
        return ctx.registry.preview(name, args, _tool_context(ctx, name))
    except ToolError as exc:
        return f"(no preview: {exc.reason})"


def _tool_context(ctx: RunContext, name: str) -> ToolContext:
    return ToolContext(
        artifact_dir=ctx.artifact_dir,
        chat_model=Tagged(ctx.chat, f"tool {name}"),
        progress=lambda f, m: ctx.bus.emit(ev.ToolProgress(tool=name, fraction=f, message=m)),
        cancel=ctx.cancel,
    )


@node
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
        try:
            out = ctx.registry.call(name, args, _tool_context(ctx, name))
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


@node
def observe(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    step = state["step"] - 1
    result = state["last_result"] or {}
    action = f"Step {step + 1}: called {result['tool']} with {json.dumps(result['args'])}"
    outcome = f"{result['tool']} result: {result['summary']}"
    result_id = f"{ctx.run_id}-s{step}-result"
    # A successful re-run of the same call (same tool, same arguments) replaces the earlier
    # result, in this run or an older one: retrieval then ranks the stale one below it.
    call, replaces = {}, []
    if result.get("ok"):
        call = {"call": f"{result['tool']} {json.dumps(result['args'], sort_keys=True)}"}
        replaces = [i for i in ctx.store.current_results_of(call["call"]) if i != result_id]
    remember(
        ctx,
        [
            NewMemory(action, Kind.ACTION, run_id=ctx.run_id, id=f"{ctx.run_id}-s{step}-action"),
            NewMemory(
                outcome,
                Kind.TOOL_RESULT,
                run_id=ctx.run_id,
                artifacts=result.get("artifacts", []),
                id=result_id,
                meta=call,
                supersedes=replaces,
            ),
        ],
    )
    index = state["plan_index"] + 1 if result.get("ok") else state["plan_index"]
    return {"plan_index": min(index, max(len(state["plan_ids"]) - 1, 0))}


@node
def reflect_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    try:
        outcome = reflect(
            ctx.store,
            ctx.retriever,
            Tagged(ctx.chat, "reflect"),
            config=ctx.reflection,
            run_id=ctx.run_id,
            id_prefix=f"{ctx.run_id}-r{state['step']}",
        )
    except (LLMError, ImportanceError) as exc:
        ctx.bus.emit(ev.Error(where="reflect", message=str(exc)))
        return {"errors": state["errors"] + 1}
    for message in outcome.errors:
        ctx.bus.emit(ev.Error(where="reflect", message=message))
    for record in outcome.stored:
        announce(ctx, record)
    ctx.bus.emit(
        ev.Reflection(
            questions=outcome.questions,
            insights=[r.text for r in outcome.stored],
            rejected=[f"{t} ({why})" for t, why in outcome.rejected],
        )
    )
    return {}


@node
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
    """(status, reason) when a cancel, the error limit or a budget ends the run, else None."""
    budgets = ctx.task.budgets
    if ctx.cancel.is_set():
        return "cancelled", "cancelled by the user"
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


def _answer(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    """The final answer in plain text: small models write a far better sentence than the
    same answer squeezed into a JSON string field."""
    prompt = render(
        "agent",
        "answer",
        persona=ctx.task.persona,
        goal=ctx.task.goal,
        memories=[r.text for r in ctx.store.get_many(state["retrieved_ids"], missing_ok=True)],
        last_result=_last_summary(state),
    )
    try:
        reply = ctx.chat.chat(
            [{"role": "user", "content": prompt}],
            None,
            purpose="answer",
            max_tokens=ANSWER_MAX_TOKENS,
        )
    except LLMError as exc:
        ctx.bus.emit(ev.Error(where="answer", message=str(exc)))
        return {"errors": state["errors"] + 1, "pending": None}
    answer = reply.text.strip()
    if not answer:
        ctx.bus.emit(ev.Error(where="answer", message="the model returned an empty answer"))
        return {"errors": state["errors"] + 1, "pending": None}
    return {"pending": {"tool": "finish", "answer": answer}}


def _current_step_id(state: AgentState) -> list[str]:
    ids = state.get("plan_ids") or []
    return [ids[min(state.get("plan_index", 0), len(ids) - 1)]] if ids else []


def _current_step(ctx: RunContext, state: AgentState) -> str:
    record = ctx.store.get_many(_current_step_id(state), missing_ok=True)
    return record[0].meta.get("step", "") if record else ""


def _last_summary(state: AgentState) -> str:
    result = state.get("last_result")
    return f"{result['tool']}: {result['summary']}" if result else ""
