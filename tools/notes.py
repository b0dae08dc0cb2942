"""Tool adapter: research notes written as markdown files into the run's artifact folder."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool


class WriteNoteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120, description="The note's title.")
    text: str = Field(min_length=1, max_length=1500, description="The note's body, in markdown.")


class WriteNoteResult(ToolResult):
    words: int


@tool("notes.write")
def write_note(args: WriteNoteArgs, ctx: ToolContext) -> WriteNoteResult:
    """Write a markdown note (a finding, a plan, a summary) into the run's artifact folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", args.title.lower()).strip("-")[:60] or "note"
    path = ctx.artifact_dir / "notes" / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {args.title}\n\n{args.text.strip()}\n", encoding="utf-8")
    words = len(args.text.split())
    return WriteNoteResult(
        summary=f"Wrote note '{args.title}' ({words} words) to notes/{path.name}.",
        artifacts=[path],
        words=words,
    )
