"""Reflection: turning recent memories into cited, higher-level insights (Park et al., 4.2).

When the importance summed over the memories added since the last reflection passes a threshold
(150 by default), the LLM is shown the 100 most recent memories and asked for 3 salient
questions. Each question is used as a retrieval query; the retrieved memories are numbered and
the LLM proposes up to 5 insights per question, each citing the numbers it rests on.

Unlike the reference code, nothing is made up when a step fails: an insight that cites no
existing memory is rejected (not filed against node 1), and one that nearly repeats a stored
reflection (cosine >= 0.95) is not stored again. Every rejection is reported with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memory.importance import ChatLike, ImportanceError, rate_importance
from memory.prompting import render_template
from memory.records import Kind, MemoryRecord, NewMemory
from memory.retrieval import Retriever
from memory.store import MemoryStore

REFLECTION_MARK = "last_reflection_seq"


@dataclass(frozen=True)
class ReflectionConfig:
    threshold: int = 150  # summed importance that triggers a reflection (the paper's value)
    n_recent: int = 100  # memories shown when asking for questions
    n_questions: int = 3
    insights_per_question: int = 5
    evidence_k: int = 10  # memories retrieved per question
    duplicate_cosine: float = 0.95  # at or above this, an insight repeats a stored reflection


@dataclass
class ReflectionOutcome:
    questions: list[str] = field(default_factory=list)
    stored: list[MemoryRecord] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (insight, reason)
    errors: list[str] = field(default_factory=list)  # e.g. the insights' rating failed


def importance_since_last_reflection(store: MemoryStore) -> int:
    """Summed importance of the non-reflection memories added since the last reflection."""
    after = int(store.mark(REFLECTION_MARK, 0))
    row = store.db.execute(
        "SELECT COALESCE(SUM(importance), 0) FROM memories WHERE seq > ? AND kind != ?",
        (after, Kind.REFLECTION.value),
    ).fetchone()
    return int(row[0])


def reflection_due(store: MemoryStore, config: ReflectionConfig = ReflectionConfig()) -> bool:
    return importance_since_last_reflection(store) > config.threshold


def questions_schema(n: int) -> dict[str, Any]:
    question = {"type": "string", "minLength": 5, "maxLength": 160}
    return {
        "type": "object",
        "properties": {
            "questions": {"type": "array", "items": question, "minItems": 1, "maxItems": n}
        },
        "required": ["questions"],
        "additionalProperties": False,
    }


def insights_schema(n: int, n_statements: int) -> dict[str, Any]:
    insight = {
        "type": "object",
        "properties": {
            "insight": {"type": "string", "minLength": 5, "maxLength": 240},
            "evidence": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": max(1, n_statements)},
                "maxItems": 5,
            },
        },
        "required": ["insight", "evidence"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"insights": {"type": "array", "items": insight, "maxItems": n}},
        "required": ["insights"],
        "additionalProperties": False,
    }


def reflect(
    store: MemoryStore,
    retriever: Retriever,
    chat: ChatLike,
    *,
    config: ReflectionConfig = ReflectionConfig(),
    run_id: str | None = None,
    id_prefix: str | None = None,
) -> ReflectionOutcome:
    """Run one reflection. LLM errors propagate; rejected insights are reported, not stored.

    `id_prefix` makes the stored ids deterministic, so a resumed run that repeats this
    reflection does not store it twice.
    """
    outcome = ReflectionOutcome()
    recent = list(reversed(store.list(limit=config.n_recent)))
    if not recent:
        return outcome
    last_seq = store.seq_of(recent[-1].id)

    prompt = render_template(
        "memory.prompts",
        "memory",
        "reflection_questions",
        memories=[r.text for r in recent],
        n=config.n_questions,
    )
    reply = chat.chat(
        [{"role": "user", "content": prompt}], schema=questions_schema(config.n_questions)
    )
    outcome.questions = list(reply.parsed["questions"])[: config.n_questions]

    candidates: list[tuple[str, list[str]]] = []
    for question in outcome.questions:
        evidence = [s.record for s in retriever.retrieve(question, k=config.evidence_k)]
        prompt = render_template(
            "memory.prompts",
            "memory",
            "reflection_insights",
            statements=[r.text for r in evidence],
            question=question,
            n=config.insights_per_question,
        )
        schema = insights_schema(config.insights_per_question, len(evidence))
        reply = chat.chat([{"role": "user", "content": prompt}], schema=schema)
        for item in reply.parsed["insights"]:
            cited = [evidence[i - 1].id for i in item["evidence"] if 1 <= i <= len(evidence)]
            candidates.append((item["insight"].strip(), list(dict.fromkeys(cited))))

    accepted = _screen(store, candidates, config, outcome)
    ratings: list[int | None] = [None] * len(accepted)
    if accepted:
        try:
            ratings = list(rate_importance(chat, [text for text, _ in accepted]))
        except ImportanceError as exc:
            outcome.errors.append(f"rating the insights failed: {exc}")
    new = [
        NewMemory(
            text,
            Kind.REFLECTION,
            importance=rating,
            evidence=cited,
            run_id=run_id,
            id=f"{id_prefix}-{i}" if id_prefix else None,
        )
        for i, ((text, cited), rating) in enumerate(zip(accepted, ratings, strict=True))
    ]
    outcome.stored = store.add_many(new)
    store.set_mark(REFLECTION_MARK, last_seq)
    return outcome


def _screen(
    store: MemoryStore,
    candidates: list[tuple[str, list[str]]],
    config: ReflectionConfig,
    outcome: ReflectionOutcome,
) -> list[tuple[str, list[str]]]:
    """Keep insights that cite existing memories and repeat no stored reflection."""
    existing = store.list(kind=Kind.REFLECTION, limit=None)
    known = store.vectors([r.id for r in existing]) if existing else np.zeros((0, 1), np.float32)
    accepted: list[tuple[str, list[str]]] = []
    accepted_vectors: list[np.ndarray] = []
    for text, cited in candidates:
        present = store.existing_ids(cited)
        real = [i for i in cited if i in present]
        if not real:
            outcome.rejected.append((text, "cites no existing memory"))
            continue
        vector = store.embedder.embed([text])[0]
        pool = [known, np.array(accepted_vectors)] if accepted_vectors else [known]
        similar = max((float((p @ vector).max()) for p in pool if len(p)), default=0.0)
        if similar >= config.duplicate_cosine:
            outcome.rejected.append(
                (text, f"near-duplicate of a stored reflection ({similar:.2f})")
            )
            continue
        accepted.append((text, real))
        accepted_vectors.append(vector)
    return accepted
