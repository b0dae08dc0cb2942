"""The README's Python examples run as written (blocks tagged `no-run` are skipped)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_example_runs(code, ponder_home):
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})


def test_readme_opens_with_the_two_quickstart_commands():
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make (\w+)", quickstart, flags=re.M)
    assert commands == ["demo", "test"]


def test_readme_help_block_matches_the_cli():
    from click.testing import CliRunner

    from agents.cli import cli

    # Compare with whitespace collapsed: click wraps to the terminal's width.
    actual = " ".join(CliRunner().invoke(cli, ["--help"], prog_name="ponder").output.split())
    block = README.read_text(encoding="utf-8").split("$ ponder --help\n", 1)[1].split("```")[0]
    for line in block.splitlines():
        if line.strip():
            assert " ".join(line.split()) in actual, f"README help line is stale: {line!r}"
