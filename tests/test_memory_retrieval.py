"""Retrieval scoring: each term, normalisation, weights, touch, and the candidate union."""

from __future__ import annotations

import numpy as np
import pytest

from memory.records import Kind, MemoryRecord, NewMemory
from memory.retrieval import Retriever, Weights, min_max, recency, score

HOUR = 3600.0


def test_recency_is_one_now_and_falls_monotonically_with_age():
    ages = np.array([0, 1, 5, 24, 24 * 7, 24 * 365], dtype=float)
    values = recency(ages)
    assert values[0] == 1.0
    assert np.all(np.diff(values) < 0)
    assert values[1] == pytest.approx(0.995)
    assert values[3] == pytest.approx(0.995**24)


def test_min_max_scales_to_unit_interval_and_constant_terms_carry_nothing():
    assert min_max(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert min_max(np.array([7.0, 7.0])).tolist() == [0.0, 0.0]


def record(i: int, importance: int | None, accessed: float) -> MemoryRecord:
    return MemoryRecord(f"m{i}", Kind.OBSERVATION, f"memory {i}", 0.0, accessed, importance)


def test_each_term_alone_ranks_by_that_term():
    now = 100 * HOUR
    records = [record(0, 2, now - 50 * HOUR), record(1, 9, now - 90 * HOUR), record(2, 5, now)]
    vectors = np.eye(3, dtype=np.float32)
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    by = {
        "recency": score(records, vectors, query, now, Weights(1, 0, 0)),
        "importance": score(records, vectors, query, now, Weights(0, 1, 0)),
        "relevance": score(records, vectors, query, now, Weights(0, 0, 1)),
    }
    assert by["recency"][0].record.id == "m2"
    assert by["importance"][0].record.id == "m1"
    assert by["relevance"][0].record.id == "m0"
    full = score(records, vectors, query, now)
    top = full[0]
    assert top.total == pytest.approx(top.recency + top.importance + top.relevance)


def test_unrated_memory_ranks_as_least_important():
    now = 0.0
    records = [record(0, None, now), record(1, 1, now)]
    scored = score(
        records, np.eye(2, dtype=np.float32), np.ones(2, np.float32), now, Weights(0, 1, 0)
    )
    assert [s.record.id for s in scored] == ["m1", "m0"]


def test_retrieve_finds_the_relevant_memory_and_touches_it(store):
    texts = [
        "The sparse autoencoder on layer 3 has 4096 features.",
        "DCQ quiz: the model picked the verbatim option 9 times out of 10.",
        "Pruned 30% of SqueezeNet filters by Taylor score.",
    ]
    added = store.add_many(
        [NewMemory(t, Kind.TOOL_RESULT, importance=5, created=1000.0) for t in texts]
    )
    retriever = Retriever(store)
    top = retriever.retrieve("Was the benchmark contaminated?", k=1, now=5000.0)
    assert top[0].record.id == added[1].id
    assert store.get(added[1].id).last_accessed == 5000.0
    assert store.get(added[0].id).last_accessed == 1000.0


def test_candidate_union_matches_exact_scoring_on_a_small_store(store):
    store.add_many(
        [
            NewMemory(
                f"finding number {i} about topic {i % 7}",
                Kind.OBSERVATION,
                importance=1 + i % 10,
                created=float(i),
            )
            for i in range(60)
        ]
    )
    retriever = Retriever(store, candidates_per_term=40)
    exact = retriever.retrieve("topic 3", k=10, now=100.0, touch=False, exact=True)
    union = retriever.retrieve("topic 3", k=10, now=100.0, touch=False, exact=False)
    overlap = {s.record.id for s in exact} & {s.record.id for s in union}
    assert len(overlap) >= 9


def test_k_must_be_positive(store):
    with pytest.raises(ValueError, match="k must be at least 1"):
        Retriever(store).retrieve("x", k=0)
