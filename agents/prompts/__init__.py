"""Prompt templates: YAML files in agents/prompts/, rendered with Jinja's StrictUndefined.

A missing variable raises instead of rendering an empty string, so a prompt never silently
loses part of its context.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from agents.errors import PonderError


@cache
def _templates(group: str) -> dict[str, str]:
    text = resources.files(__name__).joinpath(f"{group}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PonderError(f"agents/prompts/{group}.yaml must map prompt names to strings")
    return data


def prompt_names(group: str) -> list[str]:
    """The names of the prompts in one group (one YAML file)."""
    return sorted(_templates(group))


def render(group: str, name: str, **variables: Any) -> str:
    """Render prompt `name` from agents/prompts/`group`.yaml."""
    import jinja2

    templates = _templates(group)
    if name not in templates:
        raise PonderError(f"no prompt {name!r} in agents/prompts/{group}.yaml")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    try:
        return env.from_string(templates[name]).render(**variables)
    except jinja2.UndefinedError as exc:
        raise PonderError(f"prompt {group}.{name}: {exc.message}") from None
