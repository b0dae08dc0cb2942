"""Prompts are package data rendered strictly: every one renders, a missing variable raises."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from agents.prompts import PromptError, render
from memory.prompting import render_template, template_names

PACKAGES = ("agents.prompts", "memory.prompts")
GROUPS = [
    (package, p.name.removesuffix(".yaml"))
    for package in PACKAGES
    for p in resources.files(package).iterdir()
    if p.name.endswith(".yaml")
]
# Typed sample values for variables that templates loop over or count with.
SAMPLES = {
    "memories": ["first memory", "second memory"],
    "statements": ["a statement"],
    "tools": {"notes.write": "Write a note."},
    "plan": ["step one (tool: notes.write)"],
    "context": ["a remembered fact"],
    "suggested": ["a suggested step"],
    "n": 3,
    "max_steps": 5,
    "current": 0,
    "may_replan": True,
}


def test_both_prompt_packages_have_templates():
    assert {package for package, _ in GROUPS} == set(PACKAGES)


@pytest.mark.parametrize(("package", "group"), GROUPS)
def test_every_prompt_renders_with_its_variables(package, group):
    source = resources.files(package).joinpath(f"{group}.yaml").read_text()
    used = set(re.findall(r"{{\s*(\w+)", source)) | set(re.findall(r" in (\w+)", source))
    loop_targets = {n for pair in re.findall(r"for (\w+)(?:, (\w+))? in", source) for n in pair}
    sampled = {k for k in SAMPLES if re.search(rf"\b{k}\b", source)}
    variables = (used | sampled) - loop_targets - {"loop"}
    for name in template_names(package, group):
        values = {v: SAMPLES.get(v, f"<{v}>") for v in variables}
        text = render_template(package, group, name, **values)
        assert text.strip()
        assert "{{" not in text and "{%" not in text


def test_missing_variable_raises_instead_of_rendering_empty():
    with pytest.raises(PromptError, match="schema"):
        render("llm", "json_instruction")


def test_unknown_prompt_is_an_error():
    with pytest.raises(PromptError, match="no prompt 'nope'"):
        render("llm", "nope")
