"""The WIDIn benchmark runs end to end in --quick mode and writes its JSON."""

from __future__ import annotations

import json

import torch

from benchmarks import widin


def test_widin_benchmark_quick_writes_every_method_and_bar(tmp_path):
    threads = torch.get_num_threads()
    try:
        result = widin.main(["--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / "widin_quick.json").read_text())
    assert saved["benchmark"] == "widin" and saved["quick"] is True
    (row,) = saved["rows"]
    assert set(row["accuracy"]) == {"linear", "mlp", "widin", "widin_no_ia"}
    assert set(row["accuracy"]["widin"]) == {
        "clean",
        "inverted",
        "coloured",
        "textured",
        "noisy",
        "sketch",
    }
    assert len(saved["targets"]) == len(result["targets"]) == 6
    assert all(isinstance(t["passed"], bool) for t in saved["targets"])


def test_widin_benchmark_clip_quick_adds_zero_shot_and_names_its_file(tmp_path):
    threads = torch.get_num_threads()
    try:
        widin.main(["--quick", "--encoder", "clip", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / "widin_clip_quick.json").read_text())
    assert saved["encoder"] == "clip" and saved["config"]["encoder"] == "clip"
    (row,) = saved["rows"]
    assert set(row["accuracy"]) == {"linear", "mlp", "zero_shot", "widin", "widin_no_ia"}
    assert len(saved["targets"]) == 6
