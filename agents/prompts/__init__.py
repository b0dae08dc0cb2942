"""The agent's prompt templates: YAML files in this folder, rendered strictly.

A missing variable raises `PromptError` instead of rendering an empty string, so a prompt never
silently loses part of its context.
"""

from __future__ import annotations

from typing import Any

from memory.prompting import PromptError, render_template, template_names

__all__ = ["PromptError", "prompt_names", "render"]


def prompt_names(group: str) -> list[str]:
    """The names of the prompts in agents/prompts/`group`.yaml."""
    return template_names(__name__, group)


def render(group: str, name: str, **variables: Any) -> str:
    """Render prompt `name` from agents/prompts/`group`.yaml."""
    return render_template(__name__, group, name, **variables)
