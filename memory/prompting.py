"""Prompt templates kept as package data (YAML) and rendered with Jinja's StrictUndefined.

Used by `memory` for its own prompts and by `agents.prompts` for the agent's. A missing variable
raises PromptError instead of silently rendering an empty string.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


class PromptError(ValueError):
    """A prompt is missing, malformed, or was rendered without one of its variables."""


@cache
def _templates(package: str, group: str) -> dict[str, str]:
    text = resources.files(package).joinpath(f"{group}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PromptError(f"{package}/{group}.yaml must map prompt names to strings")
    return data


def template_names(package: str, group: str) -> list[str]:
    """The prompt names in `package`/`group`.yaml."""
    return sorted(_templates(package, group))


@cache
def _compiled(package: str, group: str, name: str) -> Any:
    # Compiling a template costs milliseconds; the agent renders the same ones every step.
    import jinja2

    templates = _templates(package, group)
    if name not in templates:
        raise PromptError(f"no prompt {name!r} in {package}/{group}.yaml")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(templates[name])


def render_template(package: str, group: str, name: str, **variables: Any) -> str:
    """Render prompt `name` from the YAML file `group`.yaml inside `package`."""
    import jinja2

    template = _compiled(package, group, name)
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise PromptError(f"prompt {group}.{name}: {exc.message}") from None
