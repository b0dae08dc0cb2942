"""The approval dialog for a gated tool call: Approve, Approve with edited arguments, or Deny."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

# The dialog's answer, as the agent's approver expects it: True, False, or {"args": {...}}.
Answer = bool | dict[str, Any]


class ApprovalScreen(ModalScreen[Answer]):
    """Shows the tool and its arguments (editable JSON) and returns the user's answer."""

    BINDINGS = [("escape", "deny", "Deny")]

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        preview = self.request.get("preview")
        with Grid(id="approval", classes="with-preview" if preview else ""):
            yield Label(f"Run tool [b]{self.request['tool']}[/b]?", id="approval-title")
            if preview:
                with VerticalScroll(id="approval-preview"):
                    yield Static(preview, markup=False)
            yield TextArea(
                json.dumps(self.request.get("args", {}), indent=2),
                language="json",
                id="approval-args",
            )
            yield Label("", id="approval-error")
            with Horizontal(id="approval-buttons"):
                yield Button("Approve", variant="success", id="approve")
                yield Button("Deny", variant="error", id="deny")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "deny":
            self.dismiss(False)
            return
        text = self.query_one("#approval-args", TextArea).text
        try:
            args = json.loads(text)
        except json.JSONDecodeError as exc:
            self.query_one("#approval-error", Label).update(f"not valid JSON: {exc.msg}")
            return
        if not isinstance(args, dict):
            self.query_one("#approval-error", Label).update("arguments must be a JSON object")
            return
        self.dismiss(True if args == self.request.get("args", {}) else {"args": args})

    def action_deny(self) -> None:
        self.dismiss(False)
