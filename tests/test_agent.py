"""The research agent graph with a scripted LLM: tools, plans, approval, budgets, errors, reports.

The LLM is `ScriptedChat` (fixed replies) in every test here; the graph, the checkpointer, the
memory store with the real MiniLM, and the tools are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agents.agent import ResearchAgent
from agents.config import load_settings
from agents.errors import LLMOutputError, PonderError
from agents.events import read_trace
from agents.tasks import Budgets, Expectations, TaskError, TaskSpec, load_task
from memory.records import Kind
from memory.reflection import ReflectionConfig
from memory.store import MemoryStore
from tests.scripted_chat import ScriptedChat
from tools.registry import Registry, ToolContext, ToolResult, tool

WRITE = {"tool": "notes.write", "args": {"title": "Attention", "text": "SE, CBAM and ViT."}}
FINISH = {"tool": "finish", "answer": "Wrote a note on SE, CBAM and ViT attention."}


def make_agent(embedder, chat, **kwargs) -> ResearchAgent:
    settings = load_settings()
    store = MemoryStore(settings.home / "memory", embedder)
    return ResearchAgent(settings, chat=chat, store=store, **kwargs)


def task(**overrides) -> TaskSpec:
    fields = {
        "goal": "Write a note on attention in vision models.",
        "tools": ["notes.write"],
        "plan": ["Write the note with notes.write", "Finish with an answer"],
    }
    return TaskSpec(**{**fields, **overrides})


def events_of(result, kind: str) -> list[dict]:
    return [e for e in read_trace(result.run_dir / "trace.jsonl") if e["type"] == kind]


def test_scripted_run_calls_the_tool_answers_and_writes_the_run_folder(embedder):
    chat = ScriptedChat([dict(WRITE), dict(FINISH)])
    agent = make_agent(embedder, chat)
    result = agent.run(
        task(expect=Expectations(tools_called=["notes.write"], artifacts=["notes/*.md"]))
    )
    assert result.status == "finished" and result.ok
    assert result.answer == FINISH["answer"]
    assert (result.run_dir / "artifacts" / "notes" / "attention.md").is_file()
    report = result.report.read_text()
    for heading in ("## Plan as executed", "## Tool results", "## Answer", "## Cost"):
        assert heading in report
    assert "[attention.md](artifacts/notes/attention.md)" in report
    kinds = {e["type"] for e in read_trace(result.run_dir / "trace.jsonl")}
    assert {
        "memory_added",
        "memory_retrieved",
        "plan_changed",
        "tool_called",
        "tool_finished",
        "answer",
        "usage",
        "run_finished",
    } <= kinds
    stored = agent.store.list(run_id=result.run_id, limit=None)
    assert {r.kind for r in stored} >= {Kind.OBSERVATION, Kind.PLAN, Kind.ACTION, Kind.TOOL_RESULT}
    assert all(r.importance is not None for r in stored)  # every memory was rated


def test_steady_state_step_makes_two_llm_calls(embedder):
    chat = ScriptedChat([dict(WRITE), dict(WRITE), dict(WRITE), dict(FINISH)])
    plan = ["Write the note with notes.write"] * 3 + ["Finish"]
    make_agent(embedder, chat).run(task(plan=plan))
    # goal rating, plan rating, then per tool step: act + one batched importance call
    assert chat.calls[:2] == ["importance", "importance"]
    assert chat.calls[2:8] == ["act", "importance"] * 3


def test_suggested_plan_is_stored_and_a_replan_supersedes_the_rest(embedder):
    replan_write = dict(WRITE, _replan=True)
    chat = ScriptedChat(
        [replan_write, dict(WRITE), dict(FINISH)],
        plan=[("Write the revised note", "notes.write"), ("Answer", "none")],
    )
    agent = make_agent(embedder, chat)
    result = agent.run(task(plan=["Write the note with notes.write", "Check it", "Finish"]))
    plans = agent.store.list(kind=Kind.PLAN, run_id=result.run_id, limit=None, newest_first=False)
    v1 = [p for p in plans if p.meta["version"] == 1]
    v2 = [p for p in plans if p.meta["version"] == 2]
    assert [p.meta["step"] for p in v1] == ["Write the note with notes.write", "Check it", "Finish"]
    assert all(p.superseded for p in v1)  # re-planned before any step was done
    assert [p.meta["step"] for p in v2] == ["Write the revised note", "Answer"]
    assert len(events_of(result, "plan_changed")) == 2
    assert result.status == "finished"


def test_task_without_a_plan_asks_the_llm_for_one(embedder):
    chat = ScriptedChat(
        [dict(WRITE), dict(FINISH)], plan=[("Write it", "notes.write"), ("Answer", "none")]
    )
    result = make_agent(embedder, chat).run(task(plan=[]))
    assert "plan" in chat.calls
    assert result.status == "finished"


def test_denied_approval_skips_the_tool_and_records_why(embedder):
    requests = []

    def refuse(request):
        requests.append(request)
        return False

    chat = ScriptedChat([dict(WRITE), dict(FINISH)])
    result = make_agent(embedder, chat, approver=refuse).run(task(approval="ask"))
    assert requests == [{"tool": "notes.write", "args": WRITE["args"]}]
    assert events_of(result, "tool_called") == []
    assert not (result.run_dir / "artifacts" / "notes").exists()
    results = [
        r.text for r in make_agent(embedder, chat).store.list(kind=Kind.TOOL_RESULT, limit=None)
    ]
    assert any("did not approve" in t for t in results)


def test_granted_approval_runs_the_tool(embedder):
    chat = ScriptedChat([dict(WRITE), dict(FINISH)])
    result = make_agent(embedder, chat, approver=lambda request: True).run(task(approval="ask"))
    assert [e["tool"] for e in events_of(result, "tool_called")] == ["notes.write"]


def test_approval_needed_without_an_approver_is_a_clear_error(embedder):
    agent = make_agent(embedder, ScriptedChat([dict(WRITE)]))
    with pytest.raises(PonderError, match="--approve auto"):
        agent.run(task(approval="ask"))


def test_ungated_tool_runs_without_asking(embedder):
    chat = ScriptedChat([dict(WRITE), dict(FINISH)])
    result = make_agent(embedder, chat).run(task(approval="ask", gated_tools=["other.tool"]))
    assert result.status == "finished"


@pytest.mark.parametrize(
    ("budgets", "reason"),
    [
        (Budgets(steps=2), "step budget of 2"),
        (Budgets(tokens=500), "token budget of 500"),
        (Budgets(wall_s=0.001), "wall-clock budget"),
    ],
)
def test_budget_ends_the_run_with_a_report_not_a_traceback(embedder, budgets, reason):
    chat = ScriptedChat([dict(WRITE) for _ in range(10)])
    plan = ["Write the note with notes.write"] * 6 + ["Finish"]
    result = make_agent(embedder, chat).run(task(plan=plan, budgets=budgets))
    assert result.status == "budget"
    assert reason in result.reason
    assert result.report.is_file() and "budget" in result.report.read_text()


class FailingActChat(ScriptedChat):
    """ScriptedChat whose act replies are always malformed."""

    def chat(self, messages, schema=None, **kwargs):
        if "action" in (schema or {}).get("properties", {}):
            raise LLMOutputError("reply is not valid JSON", endpoint="scripted", text="{oops")
        return super().chat(messages, schema, **kwargs)


def test_malformed_llm_replies_are_error_events_and_end_the_run_after_three(embedder):
    result = make_agent(embedder, FailingActChat([])).run(task())
    assert result.status == "error"
    errors = events_of(result, "error")
    assert len(errors) == 3 and all(e["where"] == "act" for e in errors)
    assert "## Errors" in result.report.read_text()


class FailingRatingsChat(ScriptedChat):
    """ScriptedChat that cannot produce importance ratings."""

    def chat(self, messages, schema=None, **kwargs):
        if "ratings" in (schema or {}).get("properties", {}):
            raise LLMOutputError("reply does not fit the schema", endpoint="scripted")
        return super().chat(messages, schema, **kwargs)


def test_failed_importance_rating_stores_memories_unrated_and_marked(embedder):
    agent = make_agent(embedder, FailingRatingsChat([dict(FINISH)]))
    result = agent.run(task(plan=["Finish"]))
    goal = agent.store.get(f"{result.run_id}-goal")
    assert goal.importance is None and goal.needs_rescore
    assert any(e["where"] == "importance" for e in events_of(result, "error"))
    assert result.status == "finished"


def test_reflection_fires_past_the_threshold_and_cites_existing_memories(embedder):
    chat = ScriptedChat([dict(WRITE), dict(FINISH)], importance=9)
    agent = make_agent(embedder, chat, reflection=ReflectionConfig(threshold=20))
    result = agent.run(task())
    reflections = agent.store.list(kind=Kind.REFLECTION, limit=None)
    assert len(reflections) == 1
    assert reflections[0].evidence and agent.store.existing_ids(reflections[0].evidence)
    assert events_of(result, "reflection")


def test_task_file_errors_name_the_problem(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("goal: [unclosed")
    with pytest.raises(TaskError, match="not valid YAML"):
        load_task(str(bad_yaml))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("goal: Do research\nbudget: {steps: 3}\n")
    with pytest.raises(TaskError, match="budget: Extra inputs are not permitted"):
        load_task(str(unknown))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("goal: Do research\nbudgets: {steps: zero}\napproval: maybe\n")
    with pytest.raises(TaskError) as err:
        load_task(str(wrong))
    assert "budgets.steps" in str(err.value) and "approval" in str(err.value)
    no_goal = tmp_path / "nogoal.yaml"
    no_goal.write_text("tools: [notes.write]\n")
    with pytest.raises(TaskError, match="goal: Field required"):
        load_task(str(no_goal))
    with pytest.raises(TaskError, match="does not exist"):
        load_task(str(tmp_path / "missing.yaml"))


def test_free_text_goal_becomes_a_task():
    assert load_task("Summarise the SHIFT paper").goal == "Summarise the SHIFT paper"


def test_failed_expectation_is_reported(embedder):
    chat = ScriptedChat([dict(FINISH)])
    result = make_agent(embedder, chat).run(
        task(
            plan=["Finish"],
            expect=Expectations(tools_called=["notes.write"], answer_mentions=["transformer"]),
        )
    )
    assert not result.ok
    assert "tool notes.write was never called successfully" in result.expectation_failures
    assert "the answer does not mention 'transformer'" in result.expectation_failures


def test_demo_task_file_is_valid():
    spec = load_task(str(Path(__file__).resolve().parent.parent / "examples/tasks/demo.yaml"))
    assert spec.tools == ["notes.write"] and spec.expect.tools_called == ["notes.write"]


def test_tools_reach_a_local_models_weights_through_the_metered_chat():
    from agents.events import EventBus
    from agents.run_state import MeteredChat, Tagged

    class LocalWithWeights(ScriptedChat):  # scripted replies, plus a local model's load()
        def load(self):
            return "weights"

    seen_by_tool = Tagged(MeteredChat(LocalWithWeights([]), EventBus()), "tool dcq.quiz")
    assert seen_by_tool.load() == "weights"
    api_like = Tagged(MeteredChat(ScriptedChat([]), EventBus()), "tool dcq.quiz")
    assert getattr(api_like, "load", None) is None  # an API model has no weights to hand over


def test_task_inputs_pin_the_arguments_they_name_over_the_scripted_models(embedder):
    without_text = {"tool": "notes.write", "args": {"title": "Whatever the model chose"}}
    chat = ScriptedChat([without_text, dict(FINISH)])
    pinned = {"text": "SE and CBAM.", "title": "Attention", "n": 3}
    result = make_agent(embedder, chat).run(task(inputs=pinned))
    assert result.status == "finished" and result.ok
    called = events_of(result, "tool_called")[0]
    assert called["args"] == {"title": "Attention", "text": "SE and CBAM."}  # n is no argument


class CheckArgs(BaseModel):
    claim: str


def _check_preview(args: CheckArgs, ctx: ToolContext) -> str:
    if args.claim == "boom":
        raise RuntimeError("evidence file is missing")
    return f"evidence for {args.claim!r}: 3 sources"


@tool("facts.check", preview=_check_preview)
def check_fact(args: CheckArgs, ctx: ToolContext) -> ToolResult:
    """Check a claim (a tool whose approval shows a preview)."""
    return ToolResult(summary=f"checked {args.claim}")


@pytest.mark.parametrize(
    ("claim", "shown"),
    [
        ("SAEs scale", "evidence for 'SAEs scale': 3 sources"),
        ("boom", "(no preview: preview failed"),
    ],
)
def test_approval_request_carries_the_tools_preview_or_why_it_failed(embedder, claim, shown):
    requests = []

    def approve(request):
        requests.append(request)
        return True

    call = {"tool": "facts.check", "args": {"claim": claim}}
    chat = ScriptedChat([call, dict(FINISH)])
    agent = make_agent(embedder, chat, approver=approve, registry=Registry([check_fact]))
    plan = ["Check the claim with facts.check", "Finish"]
    result = agent.run(task(tools=["facts.check"], plan=plan, approval="ask"))
    assert requests[0]["preview"].startswith(shown)
    assert [e["tool"] for e in events_of(result, "tool_called")] == ["facts.check"]
