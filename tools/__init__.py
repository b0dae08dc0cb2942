"""Ponder's tools: one typed registry, and one thin adapter module per research method.

    from tools import call
    result = call("notes.write", {"title": "Idea", "text": "..."})
    print(result.summary, result.artifacts)

Importing this package loads no tool; the registry is built on first use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.registry import (
    Registry,
    Tool,
    ToolArgumentsError,
    ToolCancelled,
    ToolContext,
    ToolDefinitionError,
    ToolError,
    ToolResult,
    default_registry,
    tool,
)

__all__ = [
    "Registry",
    "Tool",
    "ToolArgumentsError",
    "ToolCancelled",
    "ToolContext",
    "ToolDefinitionError",
    "ToolError",
    "ToolResult",
    "call",
    "default_registry",
    "tool",
]


def call(
    name: str,
    args: BaseModel | dict[str, Any] | None = None,
    *,
    artifact_dir: Path | str | None = None,
    chat_model: Any = None,
    progress: Callable[[float, str], None] | None = None,
) -> ToolResult:
    """Call a registered tool by name, outside any agent run.

    Artifacts go to `artifact_dir`, by default a new folder under $PONDER_HOME/runs/calls/.
    """
    if artifact_dir is None:
        # agents.config.ponder_home says the same; tools may not import agents.
        home = Path(os.environ.get("PONDER_HOME") or Path.home() / ".ponder").expanduser()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        artifact_dir = home / "runs" / "calls" / f"{stamp}-{name}"
    ctx = ToolContext(artifact_dir=Path(artifact_dir), chat_model=chat_model)
    if progress is not None:
        ctx.progress = progress
    return default_registry().call(name, args, ctx)
