"""End to end: the attention example task with the real embedded SmolLM2 and MiniLM, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.agent import ResearchAgent
from agents.config import load_settings
from agents.tasks import load_task
from memory.records import Kind
from memory.store import MemoryStore

pytestmark = pytest.mark.model

TASK = Path(__file__).resolve().parent.parent / "examples" / "tasks" / "attention.yaml"


def test_attention_task_completes_with_the_embedded_model(local_chat, embedder):
    settings = load_settings()
    store = MemoryStore(settings.home / "memory", embedder)
    result = ResearchAgent(settings, chat=local_chat, store=store).run(load_task(str(TASK)))
    assert result.status == "finished", result.reason
    assert result.ok, result.expectation_failures
    assert (result.run_dir / "artifacts" / "attention" / "compare.json").is_file()
    tool_results = [
        r for r in store.list(run_id=result.run_id, limit=None) if r.kind == Kind.TOOL_RESULT
    ]
    assert any("Cluttered digits" in r.text for r in tool_results)
