"""A memory record: one observation, action, tool result, reflection, plan step or chat turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Kind(str, Enum):
    OBSERVATION = "observation"
    ACTION = "action"
    TOOL_RESULT = "tool_result"
    REFLECTION = "reflection"
    PLAN = "plan"
    CHAT = "chat"


@dataclass
class MemoryRecord:
    """One entry of the memory stream. Times are epoch seconds."""

    id: str
    kind: Kind
    text: str
    created: float
    last_accessed: float
    importance: int | None = None  # 1-10; None until the LLM has rated it
    needs_rescore: bool = False  # the rating failed; `ponder memory reflect` retries it
    evidence: list[str] = field(default_factory=list)  # ids a reflection cites
    run_id: str | None = None
    artifacts: list[str] = field(default_factory=list)
    superseded: bool = False  # replaced by a re-plan or a newer result (kept, not deleted)
    meta: dict[str, Any] = field(default_factory=dict)
    superseded_by: str | None = None  # the newer memory that replaced this one, if known

    def age_hours(self, now: float) -> float:
        """Hours since the memory was last accessed (the paper's recency clock)."""
        return max(0.0, now - self.last_accessed) / 3600.0


@dataclass
class NewMemory:
    """What a caller supplies to add a memory; the store fills in times and embeddings."""

    text: str
    kind: Kind
    importance: int | None = None
    evidence: list[str] = field(default_factory=list)
    run_id: str | None = None
    artifacts: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # a stable id makes the add idempotent (resumed runs)
    created: float | None = None
    needs_rescore: bool = False
    supersedes: list[str] = field(default_factory=list)  # older memories this one replaces

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        if not self.text or not self.text.strip():
            raise ValueError("a memory needs non-empty text")
        if self.importance is not None and not 1 <= self.importance <= 10:
            raise ValueError(f"importance must be 1-10, got {self.importance}")
