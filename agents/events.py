"""The agent's typed event stream and its sinks (trace.jsonl, the CLI printer, later the TUI).

Every event is a small dataclass with a `type` tag; `EventBus.emit` stamps it with the run id and
time and hands it to each sink. A sink that fails is removed and reported once, so a broken
display never stops a run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class Event:
    type: str = field(init=False, default="event")
    run_id: str = field(init=False, default="")
    at: float = field(init=False, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MemoryAdded(Event):
    type: str = field(init=False, default="memory_added")
    memory_id: str = ""
    kind: str = ""
    text: str = ""
    importance: int | None = None
    evidence: list[str] = field(default_factory=list)  # the ids a reflection cites
    artifacts: list[str] = field(default_factory=list)


@dataclass
class MemoryRetrieved(Event):
    type: str = field(init=False, default="memory_retrieved")
    query: str = ""
    # [{"id", "text", "kind", "recency", "importance", "relevance", "total"}], best first
    memories: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PlanChanged(Event):
    type: str = field(init=False, default="plan_changed")
    version: int = 0
    steps: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


@dataclass
class ToolCalled(Event):
    type: str = field(init=False, default="tool_called")
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolProgress(Event):
    type: str = field(init=False, default="tool_progress")
    tool: str = ""
    fraction: float = 0.0
    message: str = ""


@dataclass
class ToolFinished(Event):
    type: str = field(init=False, default="tool_finished")
    tool: str = ""
    ok: bool = True
    summary: str = ""
    artifacts: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Reflection(Event):
    type: str = field(init=False, default="reflection")
    questions: list[str] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


@dataclass
class Answer(Event):
    type: str = field(init=False, default="answer")
    text: str = ""


@dataclass
class Error(Event):
    type: str = field(init=False, default="error")
    where: str = ""
    message: str = ""


@dataclass
class Usage(Event):
    type: str = field(init=False, default="usage")
    purpose: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass
class RunFinished(Event):
    type: str = field(init=False, default="run_finished")
    status: str = ""  # finished | budget | error | denied
    reason: str = ""
    report: str = ""


Sink = Callable[[Event], None]


class EventBus:
    """Fans events out to sinks; thread-safe, since tools report progress from workers."""

    def __init__(self, run_id: str = "", sinks: list[Sink] | None = None) -> None:
        self.run_id = run_id
        self.sinks: list[Sink] = list(sinks or [])
        self._lock = threading.Lock()

    def emit(self, event: Event) -> Event:
        event.run_id = self.run_id
        event.at = time.time()
        with self._lock:
            for sink in list(self.sinks):
                try:
                    sink(event)
                except Exception as exc:  # a display bug must not end the research run
                    self.sinks.remove(sink)
                    print(
                        f"ponder: event sink {sink!r} failed and was removed: {exc}",
                        file=sys.stderr,
                    )
        return event


class TraceSink:
    """Appends every event as one JSON line to runs/<id>/trace.jsonl."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: Event) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event.to_dict(), default=str) + "\n")


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The events of a trace file, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class PrinterSink:
    """Readable one-line-per-event output for the headless CLI."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        from rich.console import Console

        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        self.verbose = verbose

    def __call__(self, event: Event) -> None:
        line = self._format(event)
        if line:
            self.console.print(line)

    def _format(self, e: Event) -> str | None:
        if isinstance(e, MemoryAdded):
            imp = "?" if e.importance is None else e.importance
            return f"[dim]+ {e.kind:<11} (imp {imp}) {_short(e.text)}[/dim]"
        if isinstance(e, MemoryRetrieved):
            if not self.verbose:
                return (
                    f"[dim]  retrieved {len(e.memories)} memories for: {_short(e.query, 60)}[/dim]"
                )
            rows = "\n".join(
                f"    {m['total']:.2f} = rec {m['recency']:.2f} + imp {m['importance']:.2f} "
                f"+ rel {m['relevance']:.2f}  {_short(m['text'], 60)}"
                for m in e.memories
            )
            return f"[dim]  retrieved for: {_short(e.query, 60)}\n{rows}[/dim]"
        if isinstance(e, PlanChanged):
            steps = "\n".join(f"    {i + 1}. {_short(s, 120)}" for i, s in enumerate(e.steps))
            return f"[bold cyan]plan v{e.version}[/bold cyan]\n{steps}"
        if isinstance(e, ToolCalled):
            return f"[bold]→ {e.tool}[/bold] {_short(json.dumps(e.args), 100)}"
        if isinstance(e, ToolProgress):
            return f"  [{e.fraction:4.0%}] {e.message}"
        if isinstance(e, ToolFinished):
            mark = "[green]✓[/green]" if e.ok else "[red]✗[/red]"
            return f"{mark} {e.tool} ({e.seconds:.1f} s): {_short(e.summary, 300)}"
        if isinstance(e, Reflection):
            insights = "\n".join(f"    * {_short(t, 200)}" for t in e.insights)
            insights = insights or "    (no new insight)"
            return f"[magenta]reflection[/magenta]\n{insights}"
        if isinstance(e, Answer):
            return f"[bold green]answer:[/bold green] {_short(e.text, 2000)}"
        if isinstance(e, Error):
            return f"[red]error in {e.where}: {_short(e.message, 300)}[/red]"
        if isinstance(e, Usage):
            if not self.verbose:
                return None
            return (
                f"[dim]  llm {e.purpose}: {e.prompt_tokens}+{e.completion_tokens} tokens, "
                f"{e.latency_s:.1f} s[/dim]"
            )
        if isinstance(e, RunFinished):
            return f"[bold]run {e.status}[/bold]: {_short(e.reason, 200)} — report: {e.report}"
        return None


def _short(text: str, width: int = 90) -> str:
    """One line, at most `width` characters, with rich markup escaped."""
    from rich.markup import escape

    text = " ".join(text.split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")
