"""Import hygiene: importing is cheap; imports flow tui -> agents -> (memory, tools) -> methods."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "memory", "tools", "methods", "tui")
# Who may import whom (besides itself).
ALLOWED = {
    "tui": {"agents", "memory", "tools", "methods"},
    "agents": {"memory", "tools", "methods"},
    "memory": {"methods"},
    "tools": {"methods"},
    "methods": set(),
}
CLI = ROOT / "agents" / "cli.py"  # nothing imports tui but the CLI
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "chromadb",
    "openai",
    "xgrammar",
    "textual",
    "open_clip",
)


def test_importing_every_package_loads_no_model_library():
    code = (
        "import sys, agents, memory, tools, methods, tui, agents.cli, agents.llm, "
        "agents.config, tools.registry\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


def test_imports_flow_one_way():
    backward = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for target in imported_packages(path) - {package}:
                if target == "tui" and path == CLI:
                    continue  # the one place that opens the app
                if target not in ALLOWED[package]:
                    backward.append(f"{path.relative_to(ROOT)} imports {target}")
    assert backward == []
