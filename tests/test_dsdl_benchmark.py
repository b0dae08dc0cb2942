"""The DSDL benchmark runs end to end in --quick mode and writes its JSON with every bar."""

from __future__ import annotations

import json

from benchmarks import dsdl


def test_quick_benchmark_passes_its_bars_and_writes_json(tmp_path):
    dsdl.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "dsdl.json").read_text())
    assert result["benchmark"] == "dsdl"
    assert {r["format"] for r in result["round_trips"]} == set(dsdl.FORMATS)
    assert len(result["malformed_corpus"]) >= 30 and len(result["valid_corpus"]) >= 35
    assert result["speed"]["boxes"] > result["speed"]["samples"]
    assert len(result["targets"]) == 5
    assert all(t["passed"] for t in result["targets"]), result["targets"]
