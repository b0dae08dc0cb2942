"""The circuits benchmark's SAE cache is reused only when it was trained with today's settings."""

from __future__ import annotations

import json

from benchmarks.circuits import LAYERS, SAE, cached_spec_mismatch


def _spec() -> dict:
    return dict(SAE, layers=list(LAYERS))


def test_cache_matching_the_spec_is_reused(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"names": [], "script": "x", **_spec()}))
    assert cached_spec_mismatch(tmp_path, _spec()) == ""


def test_missing_cache_is_not_a_mismatch(tmp_path):
    assert cached_spec_mismatch(tmp_path, _spec()) == ""


def test_cache_trained_at_other_layers_is_named_stale(tmp_path):
    old = dict(_spec(), layers=[1, 2], n_latents=512)
    (tmp_path / "meta.json").write_text(json.dumps(old))
    stale = cached_spec_mismatch(tmp_path, _spec())
    assert "layers=[1, 2]" in stale and f"now {list(LAYERS)}" in stale
    assert "n_latents=512" in stale


def test_unreadable_meta_is_named_stale(tmp_path):
    (tmp_path / "meta.json").write_text("{not json")
    assert "unreadable meta.json" in cached_spec_mismatch(tmp_path, _spec())
