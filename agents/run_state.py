"""What one agent run carries: the checkpointed state, the runtime context, the metered LLM.

The state (`AgentState`) is what LangGraph checkpoints after every node: ids and small values.
The context (`RunContext`) holds the run's live objects and is never checkpointed. `remember`
is how nodes write memories: rated in one LLM call, stored in one batch, announced as events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from langgraph.runtime import Runtime

from agents import events as ev
from agents.errors import LLMError
from agents.tasks import TaskSpec
from memory.importance import ImportanceError, rate_importance
from memory.records import NewMemory
from memory.reflection import ReflectionConfig
from memory.retrieval import Retriever
from memory.store import MemoryStore
from tools.registry import Registry, Tool


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
    status: str  # running | finished | budget | error | cancelled
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

    def __getattr__(self, name: str) -> Any:
        # Anything else (a local model's `load()`, which white-box tools use for its weights)
        # is the wrapped model's; an API model has no `load`, and tools see that.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


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


def node(fn: Node) -> Node:
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
            ratings = rate_importance(Tagged(ctx.chat, "importance"), texts)
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
        announce(ctx, record)
    return [m.id for m in items]


def announce(ctx: RunContext, record: Any) -> None:
    """Emit a MemoryAdded event for a stored memory record."""
    ctx.bus.emit(
        ev.MemoryAdded(
            memory_id=record.id,
            kind=record.kind.value,
            text=record.text,
            importance=record.importance,
            evidence=list(record.evidence),
            artifacts=[str(a) for a in record.artifacts],
        )
    )


class Tagged:
    """A view of the metered chat that tags its calls with a purpose (for usage events)."""

    def __init__(self, chat: MeteredChat, purpose: str) -> None:
        self._chat, self._purpose = chat, purpose

    def chat(self, messages: list[dict[str, str]], schema: Any = None, **kwargs: Any) -> Any:
        return self._chat.chat(messages, schema, purpose=self._purpose, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # As MeteredChat: a tool given this view still reaches a local model's `load()`.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._chat, name)
