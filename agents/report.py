"""Writes runs/<id>/report.md: goal, plan as executed, tool results, reflections, answer, cost."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agents.events import read_trace
from agents.tasks import TaskSpec
from memory.records import Kind
from memory.store import MemoryStore


def write_report(
    run_dir: Path,
    task: TaskSpec,
    state: dict[str, Any],
    store: MemoryStore,
    expectation_failures: list[str],
) -> Path:
    run_id = state.get("run_id", run_dir.name)
    events = read_trace(run_dir / "trace.jsonl")
    lines = [f"# Run {run_id}", "", f"**Goal:** {task.goal}", ""]
    lines += [f"**Status:** {state.get('status')} ({state.get('reason', '')})", ""]

    lines += ["## Plan as executed", ""]
    plans = sorted(
        store.list(kind=Kind.PLAN, run_id=run_id, limit=None, newest_first=False),
        key=lambda r: (r.meta.get("version", 0), r.meta.get("index", 0)),
    )
    if not plans:
        lines.append("(no plan was made)")
    for record in plans:
        mark = " ~~superseded~~" if record.superseded else ""
        lines.append(
            f"- v{record.meta.get('version')} step {record.meta.get('index', 0) + 1}: "
            f"{record.meta.get('step', record.text)} (tool: {record.meta.get('tool')}){mark}"
        )
    lines.append("")

    lines += ["## Tool results", ""]
    finished = [e for e in events if e["type"] == "tool_finished"]
    if not finished:
        lines.append("(no tool was run)")
    for e in finished:
        lines.append(
            f"- **{e['tool']}** ({'ok' if e['ok'] else 'failed'}, {e['seconds']:.1f} s): "
            f"{e['summary']}"
        )
        for artifact in e["artifacts"]:
            lines.append(f"  - [{Path(artifact).name}]({_relative(artifact, run_dir)})")
    lines.append("")

    lines += ["## Reflections", ""]
    reflections = store.list(kind=Kind.REFLECTION, run_id=run_id, limit=None, newest_first=False)
    if not reflections:
        lines.append("(none this run)")
    for record in reflections:
        lines.append(f"- {record.text} (cites {', '.join(record.evidence)})")
    lines.append("")

    errors = [e for e in events if e["type"] == "error"]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {e['where']}: {e['message']}" for e in errors]
        lines.append("")

    lines += ["## Answer", "", state.get("answer") or "(no answer)", ""]
    if task.expect.model_dump(exclude_defaults=True) or expectation_failures:
        lines += ["## Expectations", ""]
        lines += [f"- FAILED: {f}" for f in expectation_failures] or ["- all met"]
        lines.append("")

    usage = [e for e in events if e["type"] == "usage"]
    prompt = sum(e["prompt_tokens"] for e in usage)
    completion = sum(e["completion_tokens"] for e in usage)
    llm_time = sum(e["latency_s"] for e in usage)
    lines += [
        "## Cost",
        "",
        f"- LLM calls: {len(usage)}",
        f"- tokens: {prompt} prompt + {completion} completion",
        f"- LLM time: {llm_time:.1f} s of {state.get('elapsed_s', 0.0):.1f} s of work",
        f"- steps: {state.get('step', 0)}",
        "",
    ]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _relative(path: str, run_dir: Path) -> str:
    try:
        return os.path.relpath(path, run_dir)
    except ValueError:
        return path
