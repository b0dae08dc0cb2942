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
    assert names == ["_m001_create_memories", "_m002_reflection_marks"]
    assert MemoryStore(tmp_path / "memory", embedder).count() == 1


def test_embeddings_are_unit_length(embedder):
    vectors = embedder.embed(["attention", "sparse autoencoder features"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
