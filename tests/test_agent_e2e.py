"""End to end: the demo task with the real embedded SmolLM2 and MiniLM, offline."""

from __future__ import annotations

import pytest

from memory.records import Kind

pytestmark = pytest.mark.model


def test_demo_task_completes_with_the_embedded_model(run_example_task):
    result, store = run_example_task("demo")
    assert list((result.run_dir / "artifacts" / "notes").glob("*.md"))
    memories = store.list(run_id=result.run_id, limit=None)
    assert {Kind.OBSERVATION, Kind.PLAN, Kind.ACTION, Kind.TOOL_RESULT} <= {
        r.kind for r in memories
    }
    assert all(1 <= (r.importance or 0) <= 10 for r in memories)
