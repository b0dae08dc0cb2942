"""The circuits benchmark's SAE cache: reused only when trained with today's settings, one folder
per layer set, and a bad --layers refused up front."""

from __future__ import annotations

import json

import pytest

from benchmarks.circuits import (
    LAYERS,
    SAE,
    cached_spec_mismatch,
    layers_tag,
    main,
    saes_folder_for,
)


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


def test_other_layer_sets_get_their_own_cache_folder():
    default = saes_folder_for(LAYERS, quick=False)
    other = saes_folder_for((2, 5, 8, 11), quick=False)
    assert other != default and other.name.endswith("_L2-5-8-11")
    assert layers_tag(LAYERS) == "" and layers_tag((2, 5, 8, 11)) == "_L2-5-8-11"
    assert saes_folder_for(LAYERS, quick=True).name == default.name + "_quick"


def test_unordered_or_repeated_layers_are_refused_before_any_model_loads(capsys):
    with pytest.raises(SystemExit):
        main(["--layers", "9", "4"])
    assert "--layers must be distinct, increasing" in capsys.readouterr().err
