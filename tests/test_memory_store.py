"""The memory store: durable, idempotent writes, migrations, and clear errors."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from memory.records import Kind, NewMemory
from memory.store import MemoryNotFound, MemoryStore, MemoryStoreError


def test_added_memory_survives_reopening(store, tmp_path, embedder):
    record = store.add(
        NewMemory("DCQ flagged GSM8K as contaminated.", Kind.TOOL_RESULT, importance=8)
    )
    store.close()
    reopened = MemoryStore(tmp_path / "memory", embedder)
    again = reopened.get(record.id)
    assert again.text == "DCQ flagged GSM8K as contaminated."
    assert again.importance == 8 and not again.needs_rescore
    assert reopened.vectors([record.id]).shape == (1, 384)
    reopened.close()


def test_adding_an_existing_id_returns_the_stored_record_unchanged(store):
    first = store.add(NewMemory("plan step 1", Kind.PLAN, id="run1-plan-0"))
    second = store.add(NewMemory("a different text", Kind.PLAN, id="run1-plan-0"))
    assert second.text == "plan step 1" and second.created == first.created
    assert store.count() == 1


def test_unrated_memory_is_marked_for_rescoring(store):
    record = store.add(NewMemory("an observation", Kind.OBSERVATION))
    assert record.importance is None and record.needs_rescore
    store.set_importance(record.id, 3)
    assert store.get(record.id).importance == 3 and not store.get(record.id).needs_rescore


def test_bad_inputs_are_rejected_with_a_reason(store):
    with pytest.raises(ValueError, match="non-empty text"):
        NewMemory("   ", Kind.OBSERVATION)
    with pytest.raises(ValueError, match="1-10"):
        NewMemory("x", Kind.OBSERVATION, importance=11)
    with pytest.raises(ValueError):
        NewMemory("x", "dream")
    with pytest.raises(MemoryNotFound, match="ponder memory list"):
        store.get("nope")


def test_forget_removes_row_and_vector(store):
    keep = store.add(NewMemory("keep me", Kind.OBSERVATION))
    gone = store.add(NewMemory("forget me", Kind.OBSERVATION))
    store.forget(gone.id)
    assert store.count() == 1
    assert [i for i, _ in store.nearest(store.embedder.embed(["forget me"])[0], 5)] == [keep.id]


def test_supersede_keeps_plan_steps_but_marks_them(store):
    steps = store.add_many([NewMemory(f"step {i}", Kind.PLAN) for i in range(3)])
    store.supersede([steps[1].id, steps[2].id])
    marks = [store.get(s.id).superseded for s in steps]
    assert marks == [False, True, True]


def test_corrupt_database_gives_a_clear_error(tmp_path, embedder):
    root = tmp_path / "memory"
    root.mkdir()
    (root / "memories.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MemoryStoreError, match="move it aside"):
        MemoryStore(root, embedder).count()


def test_migrations_are_recorded_and_run_once(store, tmp_path, embedder):
    store.add(NewMemory("x", Kind.OBSERVATION))
    store.close()
    db = sqlite3.connect(tmp_path / "memory" / "memories.sqlite3")
    names = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY name")]
    db.close()
    assert names == [
        "_m001_create_memories",
        "_m002_reflection_marks",
        "_m003_importance_recency_index",
        "_m004_full_text_index",
        "_m005_supersession",
        "_m006_term_counts",
    ]
    assert MemoryStore(tmp_path / "memory", embedder).count() == 1


def test_embeddings_are_unit_length(embedder):
    vectors = embedder.embed(["attention", "sparse autoencoder features"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def bare_store(tmp_path):
    """A store without an embedder: every vector is supplied by the test."""
    s = MemoryStore(tmp_path / "bare", embedder=None)
    yield s
    s.close()


def test_supplied_vectors_skip_the_embedder_and_are_stored_as_given(bare_store):
    vectors = unit_rows(3)
    memories = [NewMemory(f"m{i}", Kind.OBSERVATION, id=f"id{i}") for i in range(3)]
    bare_store.add_many(memories, vectors=vectors)
    assert np.allclose(bare_store.vectors(["id2", "id0"]), vectors[[2, 0]])
    ids, stored = bare_store.vectors_of_all()
    assert sorted(ids) == ["id0", "id1", "id2"]
    assert np.allclose(stored[ids.index("id1")], vectors[1])
    # Existing ids keep their vector: a replay with other vectors changes nothing.
    bare_store.add_many(memories[:1], vectors=unit_rows(1, seed=9))
    assert np.allclose(bare_store.vectors(["id0"]), vectors[:1])


def test_supplied_vectors_must_match_the_memories_and_be_unit_length(bare_store):
    memories = [NewMemory("a", Kind.OBSERVATION), NewMemory("b", Kind.OBSERVATION)]
    with pytest.raises(ValueError, match="expected 2 vectors"):
        bare_store.add_many(memories, vectors=unit_rows(3))
    with pytest.raises(ValueError, match="unit length"):
        bare_store.add_many(memories, vectors=2 * unit_rows(2))
    assert bare_store.count() == 0


def test_vectors_survive_the_cache_being_cold_and_forget_drops_them(bare_store, tmp_path):
    vectors = unit_rows(4)
    bare_store.add_many(
        [NewMemory(f"m{i}", Kind.OBSERVATION, id=f"id{i}") for i in range(4)], vectors=vectors
    )
    bare_store.forget("id1")
    with pytest.raises(MemoryStoreError, match="no vector"):
        bare_store.vectors(["id1"])
    bare_store.close()
    reopened = MemoryStore(tmp_path / "bare", embedder=None)
    assert np.allclose(reopened.vectors(["id3", "id0"]), vectors[[3, 0]])
    reopened.close()


def test_scalars_ranges_and_recent_at_importance(bare_store):
    rows = [("a", 5, 100.0), ("b", 9, 300.0), ("c", 5, 200.0), ("d", None, 50.0)]
    bare_store.add_many(
        [NewMemory(i, Kind.PLAN, importance=imp, created=t, id=i) for i, imp, t in rows],
        vectors=unit_rows(4),
    )
    assert bare_store.scalars(["c", "nope"]) == [("c", "plan", 200.0, 5, None)]
    assert [r[0] for r in bare_store.scalars()] == ["a", "b", "c", "d"]
    # Unrated memories count as importance 0, as retrieval ranks them.
    assert bare_store.ranges() == ((50.0, 300.0), (0, 9))
    assert [r[0] for r in bare_store.recent_at_importance(5, 10)] == ["c", "a"]
    assert [r[0] for r in bare_store.recent_at_importance(5, 1)] == ["c"]
    assert [r[0] for r in bare_store.recent_at_importance(5, 10, since=150.0)] == ["c"]
    assert [r[0] for r in bare_store.recent_at_importance(None, 10)] == ["d"]


def test_ranges_of_an_empty_store(bare_store):
    assert bare_store.ranges() == ((0.0, 0.0), (0, 0))
