"""The retrieval benchmark's generated histories: latest-run questions name the newest result."""

from __future__ import annotations

import numpy as np

from benchmarks.histories import Draft, Draw, Experiment, generate, latest_run_questions
from memory.records import Kind


def _experiment(tool: str, model: str) -> Experiment:
    return Experiment(tool, model, f"{model} on GSM8K", "", "", "", [], "", "")


def _result(text: str, created: float, memory_id: str) -> Draft:
    return Draft(text, Kind.TOOL_RESULT, 7, created, role="finding", id=memory_id)


def test_latest_run_question_asks_for_the_newest_result_of_a_repeated_tool_and_model():
    threads = [
        (_experiment("DCQ", "Phi-2"), [_result("old run", 10.0, "a")]),
        # a later run whose re-run (an update) is newer still
        (_experiment("DCQ", "Phi-2"), [_result("run", 20.0, "b"), _result("re-run", 30.0, "c")]),
        (_experiment("DCQ", "Gemma-2B"), [_result("only run", 40.0, "d")]),
    ]
    (question,) = latest_run_questions(
        threads, now=3600.0 * 2, n=5, d=Draw(np.random.default_rng(0))
    )
    assert question.kind == "latest" and question.gold == "c"
    assert question.text == "What did the most recent DCQ run on Phi-2 find?"


def test_generated_history_has_all_three_question_kinds_with_existing_gold_ids():
    history = generate(600, 20, 10, seed=3)
    ids = {m.id for m in history.memories}
    assert len(history.memories) == 600
    assert {q.kind for q in history.questions} == {"single", "update", "latest"}
    assert all(q.gold in ids and set(q.stale) <= ids for q in history.questions)
