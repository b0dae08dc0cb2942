"""The dcq.quiz and dcq.perturb tools on the real embedded SmolLM2, and the example task."""

from __future__ import annotations

import json

import pytest

from tools import ToolArgumentsError, call

pytestmark = pytest.mark.usefixtures("one_thread")


def test_quiz_on_the_embedded_model_reports_a_range_counts_and_artifacts(local_chat, tmp_path):
    result = call("dcq.quiz", {"n": 3}, artifact_dir=tmp_path, chat_model=local_chat)
    assert 0.0 <= result.lower <= result.upper <= 1.0
    assert sum(result.bdq.model_dump().values()) == 3
    assert set(result.bcq) == set(result.non_preferred)
    assert "contamination between" in result.summary
    saved = json.loads((tmp_path / "dcq" / "dcq_report.json").read_text())
    assert saved["estimate"]["upper"] == result.upper and len(saved["bdq_answers"]) == 3
    assert (tmp_path / "dcq" / "dcq_counts.png").stat().st_size > 0


def test_perturb_writes_four_validated_perturbations_per_instance(local_chat, tmp_path):
    result = call("dcq.perturb", {"n": 2}, artifact_dir=tmp_path, chat_model=local_chat)
    rows = [json.loads(line) for line in result.path.read_text().splitlines()]
    assert len(rows) == 2 and all(len(r["perturbations"]) == 4 for r in rows)
    for r in rows:
        texts = [p["text"] for p in r["perturbations"]]
        assert len(set(texts)) == 4 and r["original"]["text"] not in texts
    assert 0 < result.words_changed < 1


def test_quiz_rejects_a_missing_partition_and_bad_arguments(local_chat, tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        call(
            "dcq.quiz",
            {"partition": str(tmp_path / "none.jsonl")},
            artifact_dir=tmp_path,
            chat_model=local_chat,
        )
    with pytest.raises(ToolArgumentsError):
        call("dcq.quiz", {"n": 0}, artifact_dir=tmp_path, chat_model=local_chat)
    with pytest.raises(Exception, match="needs a chat model"):
        call("dcq.quiz", {"n": 2}, artifact_dir=tmp_path)


@pytest.mark.model
def test_dcq_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("dcq")
    report = json.loads((result.run_dir / "artifacts" / "dcq" / "dcq_report.json").read_text())
    assert 0 <= report["estimate"]["lower"] <= report["estimate"]["upper"] <= 1
    assert sum(report["estimate"]["bdq"].values()) == report["estimate"]["n"] == 4
