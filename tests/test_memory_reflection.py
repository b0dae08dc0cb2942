"""Reflection, importance and planning with a scripted LLM over a real store."""

from __future__ import annotations

import pytest

from agents.llm import Reply, Usage
from memory.importance import ImportanceError, rate_importance
from memory.planning import make_plan, store_plan, supersede_remaining
from memory.records import Kind, NewMemory
from memory.reflection import (
    ReflectionConfig,
    importance_since_last_reflection,
    reflect,
    reflection_due,
)
from memory.retrieval import Retriever


class ScriptedReflectionChat:
    """Replies with fixed questions and the given insights (text, cited statement numbers)."""

    def __init__(self, insights: list[tuple[str, list[int]]], ratings: list[int] | None = None):
        self.insights = insights
        self.ratings = ratings

    def chat(self, messages, schema=None, **kwargs):
        props = schema["properties"]
        if "questions" in props:
            parsed = {"questions": ["What did the contamination checks show?"]}
        elif "insights" in props:
            parsed = {"insights": [{"insight": t, "evidence": e} for t, e in self.insights]}
        else:
            n = props["ratings"]["minItems"]
            parsed = {"ratings": self.ratings if self.ratings is not None else [7] * n}
        return Reply(text="", parsed=parsed, usage=Usage(1, 1), model="scripted")


@pytest.fixture
def filled(store):
    store.add_many(
        [
            NewMemory(
                "DCQ on GSM8K: the model picked the verbatim option 9 of 10 times.",
                Kind.TOOL_RESULT,
                importance=9,
            ),
            NewMemory(
                "DCQ on MMLU: no preference for verbatim options.", Kind.TOOL_RESULT, importance=6
            ),
            NewMemory("Listed the run folder.", Kind.ACTION, importance=1),
        ]
    )
    return store


def test_reflection_is_due_only_past_the_threshold(filled):
    assert importance_since_last_reflection(filled) == 16
    assert reflection_due(filled, ReflectionConfig(threshold=15))
    assert not reflection_due(filled, ReflectionConfig(threshold=16))


def test_insight_cites_the_retrieved_memories_it_rests_on(filled):
    chat = ScriptedReflectionChat([("GSM8K is likely contaminated; MMLU is not.", [1, 2])])
    outcome = reflect(filled, Retriever(filled), chat, config=ReflectionConfig(n_questions=1))
    (insight,) = outcome.stored
    assert insight.kind == Kind.REFLECTION and insight.importance == 7
    assert len(insight.evidence) == 2 and filled.existing_ids(insight.evidence) == set(
        insight.evidence
    )
    assert importance_since_last_reflection(filled) == 0  # the counter restarts after reflecting


def test_insight_that_cites_nothing_is_rejected(filled):
    chat = ScriptedReflectionChat([("An unsupported claim about everything.", [])])
    outcome = reflect(filled, Retriever(filled), chat, config=ReflectionConfig(n_questions=1))
    assert outcome.stored == []
    assert outcome.rejected == [
        ("An unsupported claim about everything.", "cites no existing memory")
    ]


def test_near_duplicate_of_a_stored_reflection_is_not_stored_again(filled):
    text = "GSM8K is likely contaminated; MMLU is not."
    first = reflect(
        filled,
        Retriever(filled),
        ScriptedReflectionChat([(text, [1])]),
        config=ReflectionConfig(n_questions=1),
    )
    again = reflect(
        filled,
        Retriever(filled),
        ScriptedReflectionChat([(text + " ", [1]), ("GSM8K likely contaminated, MMLU not.", [1])]),
        config=ReflectionConfig(n_questions=1),
    )
    assert len(first.stored) == 1 and again.stored == []
    assert all("near-duplicate" in why for _, why in again.rejected)
    assert len(filled.list(kind=Kind.REFLECTION, limit=None)) == 1


def test_failed_rating_of_insights_stores_them_unrated_with_an_error(filled):
    chat = ScriptedReflectionChat([("GSM8K is likely contaminated.", [1])], ratings=[0])
    outcome = reflect(filled, Retriever(filled), chat, config=ReflectionConfig(n_questions=1))
    assert outcome.stored[0].importance is None and outcome.stored[0].needs_rescore
    assert outcome.errors and "rating the insights failed" in outcome.errors[0]


def test_importance_rating_rejects_a_wrong_count():
    chat = ScriptedReflectionChat([], ratings=[3])
    assert rate_importance(chat, ["one"]) == [3]
    with pytest.raises(ImportanceError, match="expected 2 ratings"):
        rate_importance(chat, ["one", "two"])


def test_plan_is_stored_versioned_and_superseded(store):
    class PlanChat:
        def chat(self, messages, schema=None, **kwargs):
            assert schema["properties"]["steps"]["items"]["properties"]["tool"]["enum"] == [
                "dcq.quiz",
                "none",
            ]
            steps = [
                {"step": "Quiz the model", "tool": "dcq.quiz"},
                {"step": "Answer", "tool": "none"},
            ]
            return Reply(text="", parsed={"steps": steps}, model="scripted")

    steps = make_plan(PlanChat(), "Check GSM8K contamination", {"dcq.quiz": "Run the DCQ."})
    records = store_plan(store, steps, run_id="r1", version=1)
    assert [r.id for r in records] == ["r1-plan1-0", "r1-plan1-1"]
    assert records[0].meta == {
        "version": 1,
        "index": 0,
        "step": "Quiz the model",
        "tool": "dcq.quiz",
    }
    supersede_remaining(store, [r.id for r in records], done=1)
    assert [store.get(r.id).superseded for r in records] == [False, True]
