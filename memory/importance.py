"""Importance ratings: the LLM rates new memories 1-10, several memories per call.

The anchors follow the paper (1 = mundane, 10 = poignant), adapted to research work. A reply that
cannot be used raises: the caller stores the memories unrated and marked for re-scoring, and
shows the error. No rating is ever made up.
"""

from __future__ import annotations

from typing import Any, Protocol

from memory.prompting import render_template


class ChatLike(Protocol):
    """The part of the agent's ChatModel that memory needs (structural, no import)."""

    def chat(self, messages: list[dict[str, str]], schema: Any = None, **kwargs: Any) -> Any: ...


class ImportanceError(ValueError):
    """The model's ratings could not be used (wrong count or out of range)."""


def ratings_schema(n: int) -> dict[str, Any]:
    """JSON schema of exactly n integer ratings in 1..10."""
    return {
        "type": "object",
        "properties": {
            "ratings": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 10},
                "minItems": n,
                "maxItems": n,
            }
        },
        "required": ["ratings"],
        "additionalProperties": False,
    }


def rate_importance(chat: ChatLike, texts: list[str]) -> list[int]:
    """Rate each text's importance in one LLM call. LLM errors propagate to the caller."""
    if not texts:
        return []
    prompt = render_template("memory.prompts", "memory", "importance", memories=texts)
    reply = chat.chat([{"role": "user", "content": prompt}], schema=ratings_schema(len(texts)))
    ratings = reply.parsed.get("ratings") if isinstance(reply.parsed, dict) else None
    if not isinstance(ratings, list) or len(ratings) != len(texts):
        raise ImportanceError(f"expected {len(texts)} ratings, got {ratings!r}")
    if not all(isinstance(r, int) and 1 <= r <= 10 for r in ratings):
        raise ImportanceError(f"ratings must be integers 1-10, got {ratings!r}")
    return ratings
