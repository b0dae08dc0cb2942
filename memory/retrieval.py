"""Retrieval from the memory stream, as in Generative Agents (Park et al., 2023, section 4.1).

    score = a_rec * recency + a_imp * importance + a_rel * relevance

recency is 0.995 ** (hours since the memory was last accessed), importance the LLM's 1-10
rating, relevance the cosine similarity between the query and the memory. Each term is min-max
normalised over the candidates before the weighted sum. What is returned gets its
last_accessed set to now, so memories in use stay fresh.

Scoring every memory is the reference. Past `exact_below` memories the candidates are the union
of the top `candidates_per_term` by each term (vector search for relevance, SQLite indexes for
recency and importance), scored exactly; `benchmarks/retrieval_speed.py` measures how often
that agrees with scoring everything.

Unlike the reference code, which raises 0.99 to a memory's *rank* in an oldest-first list (so
the least recently used memory scores highest), recency here depends on age in hours and can only
fall as a memory ages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from memory.records import Kind, MemoryRecord
from memory.store import MemoryStore

DECAY_PER_HOUR = 0.995


@dataclass(frozen=True)
class Weights:
    recency: float = 1.0
    importance: float = 1.0
    relevance: float = 1.0


@dataclass(frozen=True)
class Scored:
    """A retrieved memory with its normalised terms and weighted total."""

    record: MemoryRecord
    recency: float
    importance: float
    relevance: float
    total: float


def recency(age_hours: np.ndarray | float) -> np.ndarray:
    """0.995 ** hours since last access: 1 now, falling monotonically with age."""
    return np.power(DECAY_PER_HOUR, np.maximum(np.asarray(age_hours, dtype=np.float64), 0.0))


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant term carries no ranking information and becomes 0."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    low, high = values.min(), values.max()
    if high - low < 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def score(
    records: list[MemoryRecord],
    vectors: np.ndarray,
    query: np.ndarray,
    now: float,
    weights: Weights = Weights(),
) -> list[Scored]:
    """Score candidates against a query embedding; best first."""
    if not records:
        return []
    ages = np.array([r.age_hours(now) for r in records])
    # An unrated memory (importance None, marked for re-scoring) ranks as least important
    # until it is rated; it is not given a made-up middle value.
    importance = np.array([r.importance or 0 for r in records], dtype=np.float64)
    relevance = vectors @ np.asarray(query, dtype=np.float32)
    rec, imp, rel = min_max(recency(ages)), min_max(importance), min_max(relevance)
    total = weights.recency * rec + weights.importance * imp + weights.relevance * rel
    order = np.argsort(-total, kind="stable")
    return [Scored(records[i], rec[i], imp[i], rel[i], total[i]) for i in order]


class Retriever:
    """Scores the memory stream for a query and returns the top k."""

    def __init__(
        self,
        store: MemoryStore,
        *,
        weights: Weights = Weights(),
        candidates_per_term: int = 100,
        exact_below: int = 2000,
    ) -> None:
        self.store = store
        self.weights = weights
        self.candidates_per_term = candidates_per_term
        self.exact_below = exact_below

    def retrieve(
        self,
        query: str,
        k: int = 10,
        *,
        now: float | None = None,
        touch: bool = True,
        exact: bool | None = None,
        kinds: set[Kind] | None = None,
    ) -> list[Scored]:
        """The k best memories for `query`. `exact=None` scores everything below exact_below."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        now = time.time() if now is None else now
        query_vector = self.store.embedder.embed([query])[0]
        records = self.candidates(query_vector, exact=exact)
        if kinds is not None:
            records = [r for r in records if r.kind in kinds]
        vectors = self.store.vectors([r.id for r in records])
        top = score(records, vectors, query_vector, now, self.weights)[:k]
        if touch and top:
            self.store.touch([s.record.id for s in top], now)
        return top

    def candidates(
        self, query_vector: np.ndarray, *, exact: bool | None = None
    ) -> list[MemoryRecord]:
        """Every memory (exact), or the union of the top N by each term."""
        if exact is None:
            exact = self.store.count() <= self.exact_below
        if exact:
            return self.store.all_records()
        n = self.candidates_per_term
        ids = [i for i, _ in self.store.nearest(query_vector, n)]
        ids += self.store.top_ids_by("last_accessed", n)
        ids += self.store.top_ids_by("importance", n)
        return self.store.get_many(list(dict.fromkeys(ids)), missing_ok=True)
