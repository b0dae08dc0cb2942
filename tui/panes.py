"""The panes of the chat app: conversation, memory stream, plan and actions.

Each pane turns agent events into widgets and nothing else; the app routes events to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Label, Markdown, ProgressBar, Static

KIND_COLOURS = {
    "observation": "cyan",
    "action": "yellow",
    "tool_result": "green",
    "reflection": "magenta",
    "plan": "blue",
    "chat": "white",
}


class ConversationPane(VerticalScroll):
    """The user's messages and the agent's answers (rendered as Markdown)."""

    def add_user(self, text: str) -> None:
        self.mount(Static(Text(f"you: {text}", style="bold"), classes="user"))
        self.scroll_end(animate=False)

    def add_answer(self, text: str) -> None:
        self.mount(Markdown(text, classes="answer"))
        self.scroll_end(animate=False)

    def add_note(self, text: str) -> None:
        self.mount(Static(Text(text, style="dim italic"), classes="note"))
        self.scroll_end(animate=False)


class MemoryPane(DataTable):
    """The memory stream, newest at the bottom; retrieved memories show their scores.

    `set_filter("kind:reflection gsm8k")` keeps the rows of one kind whose text contains the
    rest (case-insensitive); every memory stays known, so clearing the filter restores them.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.memories: dict[str, dict[str, Any]] = {}  # memory_added events by id, in order
        self.scores: dict[str, dict[str, Any]] = {}  # the last retrieval's terms by id
        self.kind_filter = ""
        self.text_filter = ""
        self.now = 0.0

    def on_mount(self) -> None:
        self.add_column("kind", key="kind", width=11)
        self.add_column("imp", key="imp", width=3)
        self.add_column("age", key="age", width=5)
        self.add_column("score", key="score", width=20)
        self.add_column("text", key="text")

    def add_memory(self, event: dict[str, Any]) -> None:
        if event["memory_id"] in self.memories:
            return
        self.memories[event["memory_id"]] = event
        self.now = max(self.now, event["at"])
        if self._shown(event):
            self._add_row(event)
            self.move_cursor(row=self.row_count - 1)

    def show_retrieved(self, memories: list[dict[str, Any]], now: float) -> None:
        """Put each retrieved memory's score terms in its row; clear the others."""
        self.scores = {m["id"]: m for m in memories}
        self.now = now
        for memory_id in self.rows:
            self.update_cell(memory_id, "score", self._score(memory_id.value))
            self.update_cell(memory_id, "age", self._age(memory_id.value))

    def set_filter(self, query: str) -> None:
        words = query.split()
        kinds = [w.removeprefix("kind:") for w in words if w.startswith("kind:")]
        self.kind_filter = kinds[0] if kinds else ""
        self.text_filter = " ".join(w for w in words if not w.startswith("kind:")).lower()
        self.clear()
        for event in self.memories.values():
            if self._shown(event):
                self._add_row(event)

    def _shown(self, event: dict[str, Any]) -> bool:
        if self.kind_filter and event["kind"] != self.kind_filter:
            return False
        return self.text_filter in event["text"].lower()

    def _add_row(self, event: dict[str, Any]) -> None:
        memory_id = event["memory_id"]
        kind = Text(event["kind"], style=KIND_COLOURS.get(event["kind"], "white"))
        imp = "?" if event.get("importance") is None else str(event["importance"])
        text = _one_line(event["text"])
        if event.get("evidence"):
            text += f"  [cites {len(event['evidence'])}]"
        self.add_row(kind, imp, self._age(memory_id), self._score(memory_id), text, key=memory_id)

    def _score(self, memory_id: str) -> Text | str:
        m = self.scores.get(memory_id)
        if m is None:
            return ""
        return Text(
            f"{m['total']:.2f} r{m['recency']:.1f} i{m['importance']:.1f} v{m['relevance']:.1f}",
            style="bold reverse",
        )

    def _age(self, memory_id: str) -> str:
        return _age(max(0.0, self.now - self.memories[memory_id]["at"]))


class PlanPane(Static):
    """The current plan: done steps ticked, the step in progress marked, old plans greyed."""

    def on_mount(self) -> None:
        self.plans: list[list[str]] = []
        self.done = 0
        self.update(Text("no plan yet", style="dim"))

    def set_plan(self, steps: list[str]) -> None:
        self.plans.append(steps)
        self.done = 0
        self.refresh_plan()

    def step_done(self) -> None:
        self.done += 1
        self.refresh_plan()

    def refresh_plan(self) -> None:
        text = Text()
        for version, steps in enumerate(self.plans[:-1], start=1):
            text.append(f"plan v{version} (superseded)\n", style="dim strike")
            for step in steps:
                text.append(f"    {step}\n", style="dim strike")
        if self.plans:
            text.append(f"plan v{len(self.plans)}\n", style="bold")
            for i, step in enumerate(self.plans[-1]):
                if i < self.done:
                    text.append(f"  ✓ {i + 1}. {step}\n", style="green")
                elif i == self.done:
                    text.append(f"  ▶ {i + 1}. {step}\n", style="bold")
                else:
                    text.append(f"    {i + 1}. {step}\n")
        self.update(text)


class ActionView(Vertical):
    """One tool call: name and arguments, a progress bar, then duration, summary, artifacts."""

    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        super().__init__(classes="action")
        self.tool, self.args = tool, args

    def compose(self) -> ComposeResult:
        yield Label(
            Text.assemble(
                ("→ ", "bold"),
                (self.tool, "bold yellow"),
                " ",
                _one_line(json.dumps(self.args), 70),
            )
        )
        yield ProgressBar(total=1.0, show_eta=False)
        yield Static("", classes="result")

    def progress(self, fraction: float, message: str) -> None:
        if not self.query(ProgressBar):  # not composed yet (a replayed history arrives at once)
            self.call_after_refresh(self.progress, fraction, message)
            return
        self.query_one(ProgressBar).update(progress=fraction)
        self.query_one(".result", Static).update(Text(message, style="dim"))

    def finish(self, ok: bool, summary: str, seconds: float, artifacts: list[str]) -> None:
        if not self.query(ProgressBar):
            self.call_after_refresh(self.finish, ok, summary, seconds, artifacts)
            return
        self.query_one(ProgressBar).update(progress=1.0)
        mark = Text("✓ " if ok else "✗ ", style="green" if ok else "red")
        self.query_one(".result", Static).update(Text.assemble(mark, f"{seconds:.1f} s  ", summary))
        for path in artifacts:
            self.mount(ArtifactButton(path))


class ArtifactButton(Button):
    """Opens one artifact of a tool call (the app handles the press)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"open {Path(path).name}", classes="artifact")
        self.path = Path(path)


class ActionsPane(VerticalScroll):
    """Every tool call of the session, newest at the bottom."""

    def start(self, tool: str, args: dict[str, Any]) -> ActionView:
        view = ActionView(tool, args)
        self.mount(view)
        self.scroll_end(animate=False)
        return view


def _one_line(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
