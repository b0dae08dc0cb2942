"""The chat app driven with Pilot: a scripted LLM, the real graph, store, tools and events."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import BaseModel

import tui.app
from agents.agent import ResearchAgent
from agents.config import load_settings
from memory.store import MemoryStore
from tests.scripted_chat import ScriptedChat
from tools.registry import Registry, ToolContext, ToolResult, tool
from tui.app import PonderApp
from tui.approval import ApprovalScreen
from tui.artifacts import ArtifactScreen
from tui.panes import ActionView, ConversationPane, MemoryPane, PlanPane

WRITE = {"tool": "notes.write", "args": {"title": "Attention", "text": "SE, CBAM and ViT."}}
FINISH = {"tool": "finish", "answer": "I wrote **a note** on attention."}
PLAN = [("Write the note", "notes.write"), ("Answer", "none")]


def factory(embedder, chat, **kwargs):
    def make(sink, approver):
        settings = load_settings()
        store = MemoryStore(settings.home / "memory", embedder)
        return ResearchAgent(
            settings, chat=chat, store=store, sinks=[sink], approver=approver, **kwargs
        )

    return make


async def send(pilot, text: str) -> None:
    pilot.app.query_one("#prompt").value = text
    await pilot.press("enter")


async def wait_until(pilot, condition, timeout: float = 90.0) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out waiting for the app"
        await pilot.pause(0.1)


async def test_message_runs_the_agent_and_fills_every_pane(embedder):
    """A message in: memories, plan, a tool call and the Markdown answer appear."""
    chat = ScriptedChat([dict(WRITE), dict(FINISH)], plan=PLAN)
    app = PonderApp(factory(embedder, chat), approval="auto")
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Write a note on attention in vision models.")
        await wait_until(pilot, lambda: not app.busy)
        assert app.query_one(MemoryPane).row_count >= 5
        plan = str(app.query_one(PlanPane).render())
        assert "✓ 1. Write the note" in plan and "✓ 2. Answer" in plan
        (action,) = app.query(ActionView)
        assert action.tool == "notes.write"
        assert "Wrote note 'Attention'" in str(action.query_one(".result").render())
        markdown = app.query_one(ConversationPane).query("Markdown")
        assert markdown and "a note" in markdown[-1].source
        assert "tokens" in str(app.query_one("#status").render())
        app.action_show_tab("actions")
        await pilot.pause()
        await pilot.click("ArtifactButton")
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactScreen))
        assert "SE, CBAM and ViT." in str(app.screen.query_one("#artifact-body").render())


@pytest.mark.parametrize("button", ["approve", "deny"])
async def test_approval_modal_approves_or_denies_the_tool_call(embedder, button):
    """A gated tool opens the modal; its answer resumes the interrupted graph."""
    chat = ScriptedChat([dict(WRITE), dict(FINISH)], plan=PLAN)
    app = PonderApp(factory(embedder, chat), approval="ask")
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Write a note on attention.")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert "notes.write" in str(app.screen.query_one("#approval-title").render())
        await pilot.click(f"#{button}")
        await wait_until(pilot, lambda: not app.busy)
        assert len(app.query(ActionView)) == (1 if button == "approve" else 0)


class WaitArgs(BaseModel):
    seconds: float


@tool("slow.wait")
def slow_wait(args: WaitArgs, ctx: ToolContext) -> ToolResult:
    """Wait in small steps, reporting progress (and stopping when cancelled)."""
    steps = int(args.seconds * 10)
    for i in range(steps):
        ctx.report(i / steps, f"waited {i / 10:.1f} s")
        time.sleep(0.1)
    return ToolResult(summary="waited")


async def test_ctrl_c_cancels_the_running_tool_and_the_run(embedder):
    """Progress shows while the tool runs; Ctrl+C stops it through its cancel flag."""
    chat = ScriptedChat(
        [{"tool": "slow.wait", "args": {"seconds": 30}}],
        plan=[("Wait", "slow.wait"), ("Answer", "none")],
    )
    app = PonderApp(factory(embedder, chat, registry=Registry([slow_wait])), approval="auto")
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Wait for a while.")
        await wait_until(pilot, lambda: "waited 0.5" in str(app.query_one(".result").render()))
        started = time.monotonic()
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not app.busy)
        assert time.monotonic() - started < 10
        (action,) = app.query(ActionView)
        assert "cancelled" in str(action.query_one(".result").render())
        notes = [str(n.render()) for n in app.query_one(ConversationPane).query(".note")]
        assert any("run cancelled" in n for n in notes)


async def test_errors_show_in_the_status_line_and_the_app_keeps_running(embedder):
    """A failing agent leaves the app usable, with the reason in the status line."""

    def broken(sink, approver):
        raise RuntimeError("the model file is missing")

    app = PonderApp(broken, approval="auto")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "hello")
        await wait_until(pilot, lambda: not app.busy)
        assert "the model file is missing" in str(app.query_one("#status").render())
        await send(pilot, "again")  # still accepts input
        await wait_until(pilot, lambda: not app.busy)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen_snapshot(snap_compare, size):
    """The main screen with a fixed run, at the smallest supported size and a large one."""
    from tui.sample import sample_app

    assert snap_compare(sample_app(), terminal_size=size)


async def test_history_replays_into_the_panes():
    """Reopening a run shows its memories, plan, actions and answer."""
    from tui.sample import sample_app

    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.query_one(MemoryPane).row_count == 4
        assert "plan v1" in str(app.query_one(PlanPane).render())
        assert len(app.query(ActionView)) == 1
        assert "contaminated" in app.query_one(ConversationPane).query("Markdown")[-1].source


@pytest.mark.model
async def test_one_exchange_with_the_real_embedded_model(local_chat, embedder):
    """The app, headless, against SmolLM2: a message in, the run ends, the panes filled."""
    app = PonderApp(factory(embedder, local_chat), approval="auto", steps=2)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Write a note on attention in vision models.")
        await wait_until(pilot, lambda: not app.busy, timeout=300)
        assert app.query_one(MemoryPane).row_count >= 3
        assert "SmolLM2" in str(app.query_one("#status").render())
        notes = [str(n.render()) for n in app.query_one(ConversationPane).query(".note")]
        assert any("report:" in n for n in notes)


async def test_memory_filter_and_detail_view_with_the_evidence_tree():
    """Filtering keeps one kind; selecting a reflection shows the memories it cites."""
    from textual.widgets import Tree

    from tui.detail import MemoryDetailScreen
    from tui.sample import sample_app

    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(MemoryPane)
        app.query_one("#memory-filter").value = "kind:reflection"
        await pilot.pause()
        assert pane.row_count == 1
        pane.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryDetailScreen))
        tree = app.screen.query_one(Tree)
        cited = [str(node.label) for node in tree.root.children]
        assert any("notes.write result" in label for label in cited)
        assert any("New research task" in label for label in cited)
        await pilot.press("escape")
        app.query_one("#memory-filter").value = ""
        await pilot.pause()
        assert pane.row_count == 4


async def test_approval_with_edited_arguments_runs_the_tool_with_the_edits(embedder):
    """Editing the JSON in the dialog changes what the tool receives; bad JSON is refused."""
    from textual.widgets import TextArea

    chat = ScriptedChat([dict(WRITE), dict(FINISH)], plan=PLAN)
    app = PonderApp(factory(embedder, chat), approval="ask")
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Write a note on attention.")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        editor = app.screen.query_one(TextArea)
        editor.text = "{not json"
        await pilot.click("#approve")
        assert "not valid JSON" in str(app.screen.query_one("#approval-error").render())
        editor.text = '{"title": "Edited title", "text": "Edited body."}'
        await pilot.pause(0.5)  # a button ignores a second press while it shows the first
        await pilot.click("#approve")
        await wait_until(pilot, lambda: not app.busy)
        (action,) = app.query(ActionView)
        assert action.args == {"title": "Edited title", "text": "Edited body."}
        assert "Edited title" in str(action.query_one(".result").render())


def test_artifacts_render_as_image_json_or_path(tmp_path, monkeypatch):
    """PNG as half-block cells, JSON pretty-printed, a missing file said so; NO_COLOR: path."""
    from PIL import Image

    from tui.artifacts import render_artifact

    image = tmp_path / "plot.png"
    Image.new("RGB", (40, 20), (255, 0, 0)).save(image)
    drawn = render_artifact(image, width=20)
    assert drawn.plain.count("▀") == 20 * 5  # 40x20 scaled to 20x10: 5 rows of 2 pixels
    data = tmp_path / "result.json"
    data.write_text('{"accuracy": 0.91, "classes": [1, 2]}')
    assert '"accuracy": 0.91' in render_artifact(data).code
    assert "missing" in render_artifact(tmp_path / "gone.png").plain
    monkeypatch.setenv("NO_COLOR", "1")
    assert "plot.png" in render_artifact(image).plain


async def test_approval_dialog_shows_the_tools_preview_above_the_arguments():
    from textual.app import App
    from textual.widgets import Static

    request = {"tool": "circuits.shift", "args": {"ablate": None}, "preview": "f12 [she] ABLATE"}
    plain = {"tool": "notes.write", "args": {}}

    class Host(App):
        CSS_PATH = Path(tui.app.__file__).parent / PonderApp.CSS_PATH

    app = Host()
    async with app.run_test(size=(120, 45)) as pilot:
        app.push_screen(ApprovalScreen(request))
        await pilot.pause()
        shown = app.screen.query_one("#approval-preview").query_one(Static)
        assert "f12 [she] ABLATE" in str(shown.render())
        app.pop_screen()
        app.push_screen(ApprovalScreen(plain))
        await pilot.pause()
        assert not app.screen.query("#approval-preview")
