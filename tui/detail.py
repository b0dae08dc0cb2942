"""The memory detail view: full text and fields, the evidence chain as a tree, artifacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static, Tree

from tui.artifacts import render_artifact

# Finds a memory (a memory_added event's fields) by id, or None.
Lookup = Callable[[str], dict[str, Any] | None]


class MemoryDetailScreen(ModalScreen[None]):
    """One memory in full; Escape closes it."""

    BINDINGS = [("escape", "dismiss", "Close")]

    def __init__(self, memory: dict[str, Any], lookup: Lookup) -> None:
        super().__init__()
        self.memory = memory
        self.lookup = lookup

    def compose(self) -> ComposeResult:
        m = self.memory
        with VerticalScroll(id="detail"):
            header = Text.assemble(
                (m["kind"], "bold"),
                f"  {m['memory_id']}  importance ",
                str(m.get("importance") if m.get("importance") else "?"),
            )
            yield Static(header)
            yield Static(m["text"], id="detail-text")
            if m.get("evidence"):
                tree: Tree[str] = Tree("evidence", id="detail-evidence")
                tree.root.expand()
                self._grow(tree.root, m["evidence"], seen={m["memory_id"]})
                yield tree
            for artifact in m.get("artifacts", []):
                yield Static(Text(f"artifact: {artifact}", style="bold"))
                yield Static(render_artifact(Path(artifact)), classes="artifact")

    def _grow(self, node: Any, ids: list[str], seen: set[str]) -> None:
        for memory_id in ids:
            cited = self.lookup(memory_id)
            if cited is None:
                node.add_leaf(f"{memory_id} (not found)")
                continue
            child = node.add(f"{cited['kind']}: {cited['text'][:120]}", expand=True)
            if memory_id not in seen and cited.get("evidence"):
                self._grow(child, cited["evidence"], seen | {memory_id})
