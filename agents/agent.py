"""ResearchAgent: runs a task through the agent graph, resumably, and writes the run folder.

    agent = ResearchAgent()                       # settings from PONDER_HOME, env
    result = agent.run("Write a note on attention in vision models.")
    print(result.status, result.answer, result.report)
    agent.resume(result.run_id)                   # after a crash or an interrupt

Each run lives in PONDER_HOME/runs/<run id>/ (task.yaml, trace.jsonl, report.md, artifacts/);
its graph state is checkpointed in PONDER_HOME/checkpoints.sqlite3 under the run id.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents import events as ev
from agents.config import Settings, load_settings
from agents.errors import PonderError
from agents.graph import build_graph
from agents.report import write_report
from agents.run_state import MeteredChat, RunContext
from agents.tasks import TaskError, TaskSpec, check_expectations, load_task
from memory.reflection import ReflectionConfig
from memory.retrieval import Retriever, Weights
from memory.store import MemoryStore

# Answers an approval request {"tool", "args"}: True, False, or {"args": {...}} (approve edited).
Approver = Callable[[dict[str, Any]], bool | dict[str, Any]]


@dataclass
class RunResult:
    run_id: str
    status: str  # finished | budget | error | cancelled
    reason: str
    answer: str | None
    run_dir: Path
    report: Path
    expectation_failures: list[str] = field(default_factory=list)
    llm_calls: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    tools_called: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.expectation_failures and self.status in ("finished", "budget")


def open_memory(settings: Settings, embedder: Any = None) -> MemoryStore:
    """The memory store under PONDER_HOME/memory, with the configured embedding model."""
    if embedder is None:
        from agents.models import resolve_embedding_model
        from memory.embeddings import SentenceEmbedder

        embedder = SentenceEmbedder(resolve_embedding_model(settings.embeddings.model).path)
    return MemoryStore(settings.home / "memory", embedder)


def make_retriever(settings: Settings, store: MemoryStore) -> Retriever:
    """A retriever over `store` with the configured weights and relevance pool."""
    r = settings.retrieval
    return Retriever(
        store,
        weights=Weights(r.recency, r.importance, r.relevance),
        relevance_pool=r.relevance_pool or None,
        relevance_margin=r.relevance_margin,
        lexical_weight=r.lexical_weight if r.relevance_pool else 0.0,
    )


class ResearchAgent:
    """The generative research agent. Every argument is optional; defaults come from settings."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        chat: Any = None,
        store: MemoryStore | None = None,
        registry: Any = None,
        sinks: Sequence[ev.Sink] = (),
        approver: Approver | None = None,
        reflection: ReflectionConfig | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._chat = chat
        self._store = store
        self._registry = registry
        self.sinks = list(sinks)
        self.approver = approver
        self.reflection = reflection or ReflectionConfig()
        self._checkpointer: Any = None
        # Set it (from any thread) to stop the current run: the running tool sees it through
        # its context, and the graph ends the run as "cancelled" at the next step boundary.
        self.cancel = threading.Event()

    # --- lazily built pieces ---------------------------------------------------------------

    @property
    def chat(self) -> Any:
        if self._chat is None:
            from agents.llm import make_chat_model

            self._chat = make_chat_model(self.settings)
        return self._chat

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            self._store = open_memory(self.settings)
        return self._store

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from tools import default_registry

            self._registry = default_registry()
        return self._registry

    @property
    def checkpointer(self) -> Any:
        if self._checkpointer is None:
            from langgraph.checkpoint.sqlite import SqliteSaver

            self.settings.home.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.settings.home / "checkpoints.sqlite3", check_same_thread=False
            )
            self._checkpointer = SqliteSaver(conn)
            self._checkpointer.setup()
        return self._checkpointer

    # --- running ---------------------------------------------------------------------------

    def run(self, task: TaskSpec | str, *, run_id: str | None = None) -> RunResult:
        """Start a new run of `task` (a TaskSpec, a task-file path, or a goal)."""
        spec = task if isinstance(task, TaskSpec) else load_task(task)
        run_id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        run_dir = self.settings.runs_dir / run_id
        if run_dir.exists():
            raise PonderError(
                f"run {run_id} already exists; resume it with `ponder run --resume {run_id}`"
            )
        (run_dir / "artifacts").mkdir(parents=True)
        (run_dir / "task.yaml").write_text(
            yaml.safe_dump(spec.model_dump(), sort_keys=False), "utf-8"
        )
        return self._drive(spec, run_id, {})

    def resume(self, run_id: str) -> RunResult:
        """Continue a stopped run from its last completed step."""
        run_dir = self.settings.runs_dir / run_id
        if not (run_dir / "task.yaml").is_file():
            raise PonderError(f"no run {run_id} under {self.settings.runs_dir}")
        spec = load_task(str(run_dir / "task.yaml"))
        return self._drive(spec, run_id, None)

    def _drive(self, spec: TaskSpec, run_id: str, first_input: dict[str, Any] | None) -> RunResult:
        from langgraph.types import Command

        run_dir = self.settings.runs_dir / run_id
        self.cancel.clear()
        graph = build_graph().compile(checkpointer=self.checkpointer)
        config = {"configurable": {"thread_id": run_id}, "recursion_limit": 10_000}
        previous = graph.get_state(config).values if first_input is None else {}
        if first_input is None and not previous:
            raise TaskError(f"run {run_id} has no checkpoint to resume from; start it again")
        bus = ev.EventBus(run_id, [ev.TraceSink(run_dir / "trace.jsonl"), *self.sinks])
        allowed = spec.tools if spec.tools is not None else self.registry.names()
        tools = {name: self.registry.get(name) for name in allowed}
        meter = MeteredChat(
            self.chat, bus, calls=previous.get("llm_calls", 0), tokens=previous.get("tokens", 0)
        )
        ctx = RunContext(
            run_id=run_id,
            task=spec,
            chat=meter,
            store=self.store,
            retriever=make_retriever(self.settings, self.store),
            tools=tools,
            registry=self.registry,
            bus=bus,
            run_dir=run_dir,
            reflection=self.reflection,
            cancel=self.cancel,
        )

        state = graph.invoke(first_input, config, context=ctx)
        while "__interrupt__" in state:
            request = state["__interrupt__"][0].value
            answer = self._ask_approval(request)
            state = graph.invoke(Command(resume=answer), config, context=ctx)

        failures = check_expectations(
            spec.expect,
            status=state.get("status", "error"),
            tools_called=state.get("tools_called", []),
            answer=state.get("answer"),
            artifact_dir=run_dir / "artifacts",
        )
        report = write_report(run_dir, spec, state, self.store, failures)
        bus.emit(
            ev.RunFinished(
                status=state.get("status", "error"),
                reason=state.get("reason", ""),
                report=str(report),
            )
        )
        return RunResult(
            run_id=run_id,
            status=state.get("status", "error"),
            reason=state.get("reason", ""),
            answer=state.get("answer"),
            run_dir=run_dir,
            report=report,
            expectation_failures=failures,
            llm_calls=state.get("llm_calls", 0),
            tokens=state.get("tokens", 0),
            elapsed_s=state.get("elapsed_s", 0.0),
            tools_called=state.get("tools_called", []),
        )

    def _ask_approval(self, request: dict[str, Any]) -> bool | dict[str, Any]:
        if self.approver is None:
            raise PonderError(
                f"tool {request.get('tool')} needs approval but nobody can answer; run with "
                f"--approve auto or --approve deny, or from a terminal"
            )
        answer = self.approver(request)
        return answer if isinstance(answer, dict) else bool(answer)
