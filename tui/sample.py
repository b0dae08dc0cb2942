"""A fixed, recorded-looking run for snapshot tests and the README screenshot.

python -m tui.sample tui/screenshot.svg    # re-render the README's screenshot
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

NOW = 1_790_000_000.0


def sample_history() -> list[dict[str, Any]]:
    """Events of a short run, in the shape trace.jsonl stores them."""

    def memory(i: int, kind: str, text: str, importance: int, ago: float) -> dict[str, Any]:
        return {
            "type": "memory_added",
            "at": NOW - ago,
            "memory_id": f"m{i}",
            "kind": kind,
            "text": text,
            "importance": importance,
        }

    retrieved = [
        {"id": "m3", "total": 2.61, "recency": 0.98, "importance": 0.78, "relevance": 0.85},
        {"id": "m1", "total": 2.02, "recency": 0.91, "importance": 0.44, "relevance": 0.67},
    ]
    return [
        memory(1, "observation", "New research task: check GSM8K for contamination", 6, 600),
        {
            "type": "plan_changed",
            "at": NOW - 590,
            "version": 1,
            "superseded": [],
            "steps": [
                "Quiz the model on GSM8K (tool: dcq.quiz)",
                "Write a note (tool: notes.write)",
                "Answer (tool: none)",
            ],
        },
        memory(2, "plan", "Plan v1 step 1: Quiz the model on GSM8K (tool: dcq.quiz)", 4, 590),
        {
            "type": "tool_called",
            "at": NOW - 580,
            "tool": "notes.write",
            "args": {"title": "GSM8K contamination", "text": "Verbatim option chosen 9/10."},
        },
        {
            "type": "tool_finished",
            "at": NOW - 579,
            "tool": "notes.write",
            "ok": True,
            "summary": "Wrote note 'GSM8K contamination' (4 words) to notes/gsm8k.md.",
            "artifacts": ["runs/demo/artifacts/notes/gsm8k.md"],
            "seconds": 0.1,
        },
        memory(3, "tool_result", "notes.write result: Wrote note 'GSM8K contamination'", 8, 570),
        dict(
            memory(4, "reflection", "GSM8K answers look memorised; prefer a held-out set.", 9, 60),
            evidence=["m3", "m1"],
        ),
        {"type": "memory_retrieved", "at": NOW, "query": "GSM8K", "memories": retrieved},
        {
            "type": "usage",
            "at": NOW,
            "purpose": "act",
            "model": "SmolLM2-135M-Instruct",
            "prompt_tokens": 812,
            "completion_tokens": 64,
            "latency_s": 4.2,
        },
        {
            "type": "answer",
            "at": NOW,
            "text": "GSM8K looks **contaminated**: see `notes/gsm8k.md`.",
        },
    ]


def sample_app() -> Any:
    from tui.app import PonderApp

    def no_agent(sink: Any, approver: Any) -> Any:
        raise RuntimeError("the sample app runs no agent")

    return PonderApp(no_agent, history=sample_history(), clock=lambda: NOW)


async def _save(path: Path, size: tuple[int, int]) -> None:
    app = sample_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        path.write_text(app.export_screenshot(), encoding="utf-8")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tui/screenshot.svg")
    asyncio.run(_save(target, (120, 34)))
    print(f"wrote {target}")
