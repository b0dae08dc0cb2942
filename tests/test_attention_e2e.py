"""End to end: the attention example task with the real embedded SmolLM2 and MiniLM, offline."""

from __future__ import annotations

import pytest

from memory.records import Kind

pytestmark = pytest.mark.model


def test_attention_task_completes_with_the_embedded_model(run_example_task):
    result, store = run_example_task("attention")
    assert (result.run_dir / "artifacts" / "attention" / "compare.json").is_file()
    tool_results = [
        r for r in store.list(run_id=result.run_id, limit=None) if r.kind == Kind.TOOL_RESULT
    ]
    assert any("Cluttered digits" in r.text for r in tool_results)
