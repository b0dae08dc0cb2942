"""The orchestrator: LLM backends, settings, offline models, the research agent and its CLI.

Importing this package loads nothing heavy; each name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ChatModel": "agents.llm",
    "Reply": "agents.llm",
    "make_chat_model": "agents.llm",
    "LocalChat": "agents.llm_local",
    "OpenAIChat": "agents.llm_openai",
    "Settings": "agents.config",
    "load_settings": "agents.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
