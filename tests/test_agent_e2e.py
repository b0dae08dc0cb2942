"""End to end: the demo task with the real embedded SmolLM2 and MiniLM, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.agent import ResearchAgent
from agents.config import load_settings
from agents.tasks import load_task
from memory.records import Kind
from memory.store import MemoryStore

pytestmark = pytest.mark.model

DEMO = Path(__file__).resolve().parent.parent / "examples" / "tasks" / "demo.yaml"


def test_demo_task_completes_with_the_embedded_model(local_chat, embedder):
    settings = load_settings()
    store = MemoryStore(settings.home / "memory", embedder)
    result = ResearchAgent(settings, chat=local_chat, store=store).run(load_task(str(DEMO)))
    assert result.status == "finished", result.reason
    assert result.ok, result.expectation_failures
    assert list((result.run_dir / "artifacts" / "notes").glob("*.md"))
    assert result.answer
    memories = store.list(run_id=result.run_id, limit=None)
    assert {Kind.OBSERVATION, Kind.PLAN, Kind.ACTION, Kind.TOOL_RESULT} <= {
        r.kind for r in memories
    }
    assert all(1 <= (r.importance or 0) <= 10 for r in memories)
