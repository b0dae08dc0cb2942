"""The Textual chat app: talk to the agent and watch its memories, plan and actions live.

The agent runs in a thread worker; every event it emits reaches the UI through
`call_from_thread`, and a gated tool call opens `ApprovalScreen` while the worker waits for the
answer. The app adds no agent logic of its own: it is a third sink of the same event stream the
CLI prints and trace.jsonl records.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Static,
    TabbedContent,
    TabPane,
)
from textual.worker import get_current_worker

from tui.approval import Answer, ApprovalScreen
from tui.artifacts import ArtifactScreen
from tui.detail import MemoryDetailScreen
from tui.panes import (
    ActionsPane,
    ActionView,
    ArtifactButton,
    ConversationPane,
    MemoryPane,
    PlanPane,
)

# Builds the agent with the app's event sink and approver (tests pass a scripted one).
AgentFactory = Callable[[Callable[[Any], None], Callable[[dict[str, Any]], Answer]], Any]


class PonderApp(App[None]):
    """Ponder's terminal app."""

    CSS_PATH = "ponder.tcss"
    TITLE = "Ponder"
    AUTO_FOCUS = "#prompt"
    BINDINGS = [
        Binding("ctrl+c", "cancel_run", "Cancel step", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("q", "quit", "Quit"),  # the input takes plain keys, so q quits only from panes
        Binding("f2", "show_tab('memory')", "Memory"),
        Binding("f3", "show_tab('plan')", "Plan"),
        Binding("f4", "show_tab('actions')", "Actions"),
    ]

    def __init__(
        self,
        make_agent: AgentFactory,
        *,
        task: Any = None,
        resume: str | None = None,
        history: list[dict[str, Any]] | None = None,
        approval: str = "ask",
        steps: int = 6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.steps = steps  # the step budget of a run started from the chat
        self.clock = clock
        self.make_agent = make_agent
        self.initial_task = task
        self.resume_id = resume
        self.history = history or []
        self.approval = approval
        self.agent: Any = None
        self.busy = False
        self.tokens = 0
        self.llm_seconds = 0.0
        self.run_started: float | None = None
        self.run_ended = 0.0
        self.model = "-"
        self.last_error = ""
        self.actions: dict[str, ActionView] = {}
        self.last_result: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="chat"):
                yield ConversationPane(id="conversation")
                yield Input(
                    placeholder="Ask Ponder… (Enter to send, Ctrl+C cancels a step)", id="prompt"
                )
            with TabbedContent(id="tabs", initial="memory"):
                with TabPane("Memory", id="memory"):
                    yield Input(
                        placeholder="filter: words, or kind:reflection …", id="memory-filter"
                    )
                    yield MemoryPane(id="memories")
                with TabPane("Plan", id="plan"):
                    yield PlanPane(id="plan-view")
                with TabPane("Actions", id="actions"):
                    yield ActionsPane(id="actions-view")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        # After the first refresh every pane has mounted (the memory table has its columns).
        self.call_after_refresh(self.begin)

    def begin(self) -> None:
        self.refresh_status()
        for event in self.history:
            self.on_agent_event(event)
        if self.resume_id:
            self.start(resume=self.resume_id)
        elif self.initial_task is not None:
            self.query_one(ConversationPane).add_user(self.initial_task.goal)
            self.start(task=self.initial_task)

    # --- talking to the agent ---------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, ArtifactButton):
            self.push_screen(ArtifactScreen(event.button.path))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "memory-filter":
            self.query_one(MemoryPane).set_filter(event.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        memory = self.query_one(MemoryPane).memories.get(str(event.row_key.value))
        if memory is not None:
            self.push_screen(MemoryDetailScreen(memory, self.find_memory))

    def find_memory(self, memory_id: str) -> dict[str, Any] | None:
        """A memory by id: from this session's events, else from the agent's store."""
        known = self.query_one(MemoryPane).memories.get(memory_id)
        if known is not None or self.agent is None:
            return known
        records = self.agent.store.get_many([memory_id], missing_ok=True)
        if not records:
            return None
        r = records[0]
        return {
            "memory_id": r.id,
            "kind": r.kind.value,
            "text": r.text,
            "importance": r.importance,
            "evidence": r.evidence,
            "artifacts": r.artifacts,
        }

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "prompt":
            return
        text = event.value.strip()
        if not text:
            return
        if self.busy:
            self.notify("The agent is still working; Ctrl+C cancels the current run.")
            return
        event.input.value = ""
        self.query_one(ConversationPane).add_user(text)
        from agents.tasks import Budgets, TaskSpec

        budgets = Budgets(steps=self.steps)
        self.start(task=TaskSpec(goal=text, approval=self.approval, budgets=budgets))

    def start(self, *, task: Any = None, resume: str | None = None) -> None:
        self.busy = True
        self.tokens, self.llm_seconds = 0, 0.0  # the footer counts this run's cost
        self.run_started = self.clock()
        self.run_agent(task, resume)

    @work(thread=True, exclusive=True, group="agent")
    def run_agent(self, task: Any, resume: str | None) -> None:
        worker = get_current_worker()
        try:
            if self.agent is None:
                self.agent = self.make_agent(self.agent_sink, self.ask_approval)
            result = self.agent.resume(resume) if resume else self.agent.run(task)
        except Exception as exc:  # shown in the status line; the app keeps running
            if not worker.is_cancelled:
                self.call_from_thread(self.run_failed, f"{type(exc).__name__}: {exc}")
            return
        if not worker.is_cancelled:  # the app may have closed while the run finished
            self.call_from_thread(self.run_done, result.status, result.reason, str(result.report))

    def agent_sink(self, event: Any) -> None:
        """The event sink, called in the worker thread."""
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.on_agent_event, event.to_dict())

    def ask_approval(self, request: dict[str, Any]) -> Answer:
        """The agent's approver, called in the worker thread: waits for the dialog's answer."""
        answered = threading.Event()
        box: dict[str, Answer] = {}

        def record(answer: Answer | None) -> None:
            box["answer"] = False if answer is None else answer
            answered.set()

        worker = get_current_worker()
        self.call_from_thread(self.push_screen, ApprovalScreen(request), record)
        while not answered.wait(0.1):
            if worker.is_cancelled or (self.agent is not None and self.agent.cancel.is_set()):
                return False  # the app is closing, or the user cancelled the run
        return box["answer"]

    def run_done(self, status: str, reason: str, report: str) -> None:
        self.busy = False
        self.run_ended = self.clock()
        if status != "finished":
            self.query_one(ConversationPane).add_note(f"run {status}: {reason}")
        self.query_one(ConversationPane).add_note(f"report: {report}")
        self.refresh_status()

    def run_failed(self, message: str) -> None:
        self.busy = False
        self.run_ended = self.clock()
        self.last_error = message
        self.refresh_status()

    def on_unmount(self) -> None:
        # Quitting mid-run: stop the agent at its next step so the process can exit.
        if self.agent is not None:
            self.agent.cancel.set()

    def action_cancel_run(self) -> None:
        if self.busy and self.agent is not None:
            self.agent.cancel.set()
            self.notify("Cancelling: the current step stops at its next check.")

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # --- events -> panes --------------------------------------------------------------------

    def on_agent_event(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        if kind == "memory_added":
            self.query_one(MemoryPane).add_memory(e)
        elif kind == "memory_retrieved":
            self.query_one(MemoryPane).show_retrieved(e["memories"], now=self.clock())
        elif kind == "plan_changed":
            self.query_one(PlanPane).set_plan(e["steps"])
        elif kind == "tool_called":
            self.actions[e["tool"]] = self.query_one(ActionsPane).start(e["tool"], e["args"])
        elif kind == "tool_progress" and e["tool"] in self.actions:
            self.actions[e["tool"]].progress(e["fraction"], e["message"])
        elif kind == "tool_finished":
            view = self.actions.pop(e["tool"], None)
            if view is not None:
                view.finish(e["ok"], e["summary"], e["seconds"], e["artifacts"])
            if e["ok"]:
                self.query_one(PlanPane).step_done()
        elif kind == "reflection":
            for insight in e["insights"]:
                self.query_one(ConversationPane).add_note(f"reflection: {insight}")
        elif kind == "answer":
            self.query_one(ConversationPane).add_answer(e["text"])
            self.query_one(PlanPane).step_done()
        elif kind == "error":
            self.last_error = f"{e['where']}: {e['message']}"
        elif kind == "usage":
            self.tokens += e["prompt_tokens"] + e["completion_tokens"]
            self.llm_seconds += e["latency_s"]
            self.model = e["model"] or self.model
        self.refresh_status()

    def refresh_status(self) -> None:
        memories = len(self.query_one(MemoryPane).memories)
        state = "working…" if self.busy else "idle"
        elapsed = "-"
        if self.run_started is not None:
            end = self.clock() if self.busy else self.run_ended
            elapsed = f"{end - self.run_started:.0f} s"
        line = (
            f"{self.model} · run: {self.tokens} tokens, {self.llm_seconds:.1f} s in the LLM, "
            f"{elapsed} · {memories} memories this session · {state}"
        )
        if self.last_error:
            line += f"\nlast error: {self.last_error}"
        self.query_one("#status", Static).update(line)


def load_history(run_dir: Path) -> list[dict[str, Any]]:
    """The events of an earlier run, to replay into the panes."""
    from agents.events import read_trace

    return read_trace(run_dir / "trace.jsonl")


def run_app(settings: Any, *, task: Any = None, resume: str | None = None) -> None:
    """Start the app with the configured agent (the `ponder chat` command)."""
    from agents.agent import ResearchAgent

    def make_agent(sink: Callable[[Any], None], approver: Callable[[dict[str, Any]], Answer]):
        return ResearchAgent(settings, sinks=[sink], approver=approver)

    history = load_history(settings.runs_dir / resume) if resume else []
    finished = any(event["type"] == "run_finished" for event in history)
    # A finished run is only shown; an unfinished one continues from its checkpoint.
    PonderApp(make_agent, task=task, resume=None if finished else resume, history=history).run()
