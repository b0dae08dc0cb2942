"""Supersession: a newer memory replaces an older one; retrieval ranks the stale one below it."""

from __future__ import annotations

import pytest

from memory.records import Kind, NewMemory
from memory.retrieval import Retriever, Weights
from tests.scripted_chat import ScriptedChat
from tests.test_agent import make_agent, task

DAY = 86400.0


def finding(text: str, memory_id: str, created: float, **kwargs) -> NewMemory:
    return NewMemory(text, Kind.TOOL_RESULT, importance=7, id=memory_id, created=created, **kwargs)


def test_a_memory_that_supersedes_marks_the_old_one_and_points_to_itself(store):
    store.add(finding("Pruned ResNet-18 by 30%: accuracy 71.2%", "old", 0.0))
    store.add(finding("Re-run: pruned ResNet-18 by 30%: 72.9%", "new", DAY, supersedes=["old"]))
    old, new = store.get("old"), store.get("new")
    assert old.superseded and old.superseded_by == "new"
    assert not new.superseded and new.superseded_by is None
    assert store.scalars(["old"])[0][4] == "new"


def test_superseding_an_unknown_or_later_memory_is_refused_and_stores_nothing(store):
    with pytest.raises(ValueError, match="supersedes 'ghost', which is not stored before it"):
        store.add(finding("A re-run", "new", DAY, supersedes=["ghost"]))
    with pytest.raises(ValueError, match="supersedes 'b'"):
        store.add_many([finding("first", "a", 0.0, supersedes=["b"]), finding("second", "b", DAY)])
    assert store.count() == 0
    # Earlier in the same batch is fine.
    store.add_many([finding("first", "a", 0.0), finding("second", "b", DAY, supersedes=["a"])])
    assert store.get("a").superseded_by == "b"


def test_forgetting_the_successor_makes_the_old_memory_current_again(store):
    store.add(finding("SAE loss 0.31", "old", 0.0))
    store.add(finding("SAE loss 0.27 after the re-run", "new", DAY, supersedes=["old"]))
    store.forget("new")
    old = store.get("old")
    assert not old.superseded and old.superseded_by is None


def test_stale_version_ranks_directly_below_the_version_that_replaced_it(store):
    # The stale version matches the question's wording better and is rated more important, so
    # without the link it would come first.
    store.add_many(
        [
            finding("LoRA rank-8 accuracy on GSM8K is 41.5%", "v1", 0.0),
            NewMemory(
                "Re-ran the LoRA rank 8 job; GSM8K score now 44.0",
                Kind.TOOL_RESULT,
                importance=5,
                id="v2",
                created=DAY,
                supersedes=["v1"],
            ),
            finding("Installed torch 2.4", "noise", 2 * DAY),
        ]
    )
    retriever = Retriever(store, weights=Weights(0, 1, 1))
    ranked = retriever.retrieve("LoRA rank-8 accuracy on GSM8K", k=3, now=3 * DAY, touch=False)
    ids = [s.record.id for s in ranked]
    assert ids.index("v2") + 1 == ids.index("v1")
    assert ranked[ids.index("v1")].total < ranked[ids.index("v2")].total


def test_an_agent_rerun_of_the_same_call_supersedes_the_earlier_result(embedder):
    write = {"tool": "notes.write", "args": {"title": "Attention", "text": "SE and CBAM."}}
    other = {"tool": "notes.write", "args": {"title": "Other", "text": "Unrelated."}}
    finish = {"tool": "finish", "answer": "done"}
    chat = ScriptedChat([dict(write), dict(other), dict(write), dict(finish)])
    plan = ["Write the note", "Write another", "Write the note again", "Finish"]
    agent = make_agent(embedder, chat)
    result = agent.run(task(plan=plan))
    results = [r for r in agent.store.list(run_id=result.run_id, limit=None)]
    results = sorted(
        (r for r in results if r.kind is Kind.TOOL_RESULT), key=lambda r: r.id
    )  # ids end in -s{step}-result
    first, second, third = results
    assert first.superseded_by == third.id  # same tool, same arguments
    assert second.superseded_by is None and third.superseded_by is None
    assert first.meta["call"] == third.meta["call"] != second.meta["call"]


def _stale_found_alone(store) -> None:
    """v1 matches the question; its re-run v2 and then v3 are worded so that they do not."""
    store.add_many(
        [
            finding("LoRA rank-8 accuracy on GSM8K is 41.5%", "v1", 0.0),
            finding("Job 4411 finished again: 44.0 now", "v2", DAY, supersedes=["v1"]),
            finding("Job 4411 third pass: 44.6 now", "v3", 2 * DAY, supersedes=["v2"]),
            finding("Installed torch 2.4 on the cluster", "noise", 2 * DAY),
        ]
    )


def test_newest_version_is_placed_above_a_stale_memory_the_pool_returned_alone(store):
    _stale_found_alone(store)
    # A pool of one holds only the best-matching memory, the stale v1.
    retriever = Retriever(store, relevance_pool=1, lexical_weight=0.0)
    ranked = retriever.retrieve("LoRA rank-8 accuracy on GSM8K", k=2, now=3 * DAY, touch=False)
    assert [s.record.id for s in ranked] == ["v3", "v1"]
    newest, stale = ranked
    assert newest.relevance == stale.relevance and newest.total == stale.total
    assert 0.0 <= newest.recency <= 1.0 and 0.0 <= newest.importance <= 1.0


def test_with_one_place_left_the_newest_version_takes_it(store):
    _stale_found_alone(store)
    retriever = Retriever(store, relevance_pool=1, lexical_weight=0.0)
    ranked = retriever.retrieve("LoRA rank-8 accuracy on GSM8K", k=1, now=3 * DAY, touch=True)
    assert [s.record.id for s in ranked] == ["v3"]
    assert store.get("v3").last_accessed == 3 * DAY  # what is returned is what is touched
    assert store.get("v1").last_accessed == 0.0


def test_newest_version_of_another_kind_is_not_placed_under_a_kinds_filter(store):
    store.add_many(
        [
            finding("LoRA rank-8 accuracy on GSM8K is 41.5%", "v1", 0.0),
            NewMemory(
                "Job 4411 finished again: 44.0 now",
                Kind.OBSERVATION,
                importance=7,
                id="v2",
                created=DAY,
                supersedes=["v1"],
            ),
        ]
    )
    retriever = Retriever(store, relevance_pool=1, lexical_weight=0.0)
    ranked = retriever.retrieve(
        "LoRA rank-8 accuracy", k=2, now=2 * DAY, touch=False, kinds={Kind.TOOL_RESULT}
    )
    assert [s.record.id for s in ranked] == ["v1"]
