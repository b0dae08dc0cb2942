"""Prompts are package data rendered strictly: every one renders, a missing variable raises."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from agents.prompts import PromptError, prompt_names, render

GROUPS = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("agents.prompts").iterdir()
    if p.name.endswith(".yaml")
)


@pytest.mark.parametrize("group", GROUPS)
def test_every_prompt_renders_with_its_variables(group):
    for name in prompt_names(group):
        source = resources.files("agents.prompts").joinpath(f"{group}.yaml").read_text()
        variables = set(re.findall(r"{{\s*(\w+)", source))
        text = render(group, name, **{v: f"<{v}>" for v in variables})
        assert text.strip()
        assert "{{" not in text


def test_missing_variable_raises_instead_of_rendering_empty():
    with pytest.raises(PromptError, match="schema"):
        render("llm", "json_instruction")


def test_unknown_prompt_is_an_error():
    with pytest.raises(PromptError, match="no prompt 'nope'"):
        render("llm", "nope")
