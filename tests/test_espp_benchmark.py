"""The ESPP benchmark runs end to end in --quick mode and writes its JSON."""

from __future__ import annotations

import json

import torch

from benchmarks import espp


def test_espp_benchmark_quick_writes_every_row_and_bar(tmp_path):
    threads = torch.get_num_threads()
    try:
        result = espp.main(["--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / "espp.json").read_text())
    assert saved["benchmark"] == "espp" and saved["quick"] is True
    assert [(r["task"], r["variant"]) for r in saved["rows"]] == [
        ("digits", "offline"),
        ("digits", "online"),
        ("timing", "offline"),
    ]
    assert len(saved["targets"]) == len(result["targets"]) == 12
    assert all(isinstance(t["passed"], bool) for t in saved["targets"])
    assert saved["rows"][0]["bptt"] is not None and saved["rows"][1]["bptt"] is None
