"""The retrieval benchmarks run end to end in --quick mode on tiny histories and write JSON."""

from __future__ import annotations

import json

import pytest

from benchmarks import retrieval_quality, retrieval_speed


def test_retrieval_speed_quick(tmp_path):
    retrieval_speed.main(["--quick", "--sizes", "300", "--queries", "10", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "retrieval_speed.json").read_text())
    assert result["benchmark"] == "retrieval_speed"
    (row,) = result["sizes"]
    assert row["size"] == 300
    assert row["insert_s"] >= 0
    for method in ("pool", "union"):
        for key in ("p50_ms", "p95_ms", "cold_ms", "exact_p95_ms"):
            assert row[method][key] >= 0
        assert 0 <= row[method]["agreement_at_10"] <= 1
    assert [t["name"].split(" ")[0] for t in result["targets"]] == [
        "candidate-union",
        "candidate-union",
        "default",
    ]
    assert all(isinstance(t["passed"], bool) for t in result["targets"])


@pytest.mark.model
def test_retrieval_quality_quick(tmp_path):
    retrieval_quality.main(["--quick", "--sizes", "300", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "retrieval_quality.json").read_text())
    assert result["benchmark"] == "retrieval_quality"
    (row,) = result["sizes"]
    assert row["size"] == 300
    assert set(row["weightings"]) == set(retrieval_quality.WEIGHTINGS)
    for metrics in row["weightings"].values():
        for name in ("single", "update", "latest", "mixed"):
            assert set(metrics[name]) == {"questions", "recall_at_10", "ndcg_at_10"}
        assert "newest_over_stale" in metrics
        assert set(metrics["single_recall_by_age"]) == {"< 1 day", "1-7 days", "> 7 days"}
    assert row["questions"]["latest"] > 0
    # single-evidence recall, the mixed set by Recall@10 and by nDCG@10, newest over stale
    assert len(result["targets"]) == 4
