"""Settings: defaults, config.toml, environment and flags, in that order; clear errors."""

from __future__ import annotations

import pytest

from agents.config import load_settings
from agents.errors import ConfigError


def test_defaults_select_the_embedded_model_under_ponder_home(ponder_home):
    settings = load_settings()
    assert settings.home == ponder_home
    assert settings.llm.backend == "local"
    assert settings.local.model is None
    assert settings.model_cache_dir == ponder_home / "models"


def test_environment_overrides_config_file_and_flags_override_environment(ponder_home, monkeypatch):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text(
        '[llm]\nbackend = "local"\n[openai]\nbase_url = "http://file:8000/v1"\nmodel = "a"\n'
    )
    monkeypatch.setenv("PONDER_LLM", "openai")
    monkeypatch.setenv("OPENAI_MODEL", "b")
    settings = load_settings()
    assert settings.llm.backend == "openai"
    assert settings.openai.base_url == "http://file:8000/v1"  # untouched by env
    assert settings.openai.model == "b"
    flagged = load_settings({"openai": {"model": "c"}, "llm": {"backend": None}})
    assert flagged.openai.model == "c"
    assert flagged.llm.backend == "openai"  # a flag left unset does not reset the env value


def test_invalid_toml_names_the_file(ponder_home):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text("[llm\nbackend = local")
    with pytest.raises(ConfigError, match="config.toml is not valid TOML"):
        load_settings()


def test_misspelled_setting_is_an_error_not_ignored(ponder_home):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text('[openai]\nbase_ur1 = "http://x/v1"\n')
    with pytest.raises(ConfigError, match=r"openai\.base_ur1: Extra inputs are not permitted"):
        load_settings()


def test_bad_value_from_environment_names_the_setting(monkeypatch):
    monkeypatch.setenv("PONDER_LLM", "anthropic")
    with pytest.raises(ConfigError, match=r"llm\.backend"):
        load_settings()
    monkeypatch.setenv("PONDER_LLM", "local")
    monkeypatch.setenv("PONDER_THREADS", "zero")
    with pytest.raises(ConfigError, match=r"local\.threads"):
        load_settings()


def test_masked_settings_hide_the_api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key-1234")
    settings = load_settings()
    assert settings.openai.api_key.get_secret_value() == "sk-very-secret-key-1234"
    shown = settings.masked()
    assert shown["openai"]["api_key"] == "...1234"
    assert "very-secret" not in str(shown) and "very-secret" not in repr(settings)


def test_retrieval_settings_reach_the_retriever(ponder_home):
    from agents.agent import make_retriever
    from memory.retrieval import RELEVANCE_MARGIN, RELEVANCE_POOL, Weights

    default = make_retriever(load_settings(), None)
    assert (default.relevance_pool, default.relevance_margin) == (RELEVANCE_POOL, RELEVANCE_MARGIN)
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text(
        "[retrieval]\nrecency = 0.5\nimportance = 2\nrelevance_pool = 0\n"
    )
    retriever = make_retriever(load_settings(), None)
    assert retriever.weights == Weights(0.5, 2.0, 1.0)
    assert retriever.relevance_pool is None  # 0: the paper's score over the whole stream
    assert retriever.lexical_weight == 0  # which is cosine only
    (ponder_home / "config.toml").write_text(
        "[retrieval]\nlexical_weight = 0.25\nrelevance_margin = 0\n"
    )
    retriever = make_retriever(load_settings(), None)
    assert (retriever.lexical_weight, retriever.relevance_margin) == (0.25, 0.0)


def test_pool_settings_without_a_relevance_pool_are_an_error(ponder_home):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text(
        "[retrieval]\nrelevance_pool = 0\nlexical_weight = 0.5\n"
    )
    with pytest.raises(ConfigError, match="lexical_weight needs a relevance pool"):
        load_settings()
    (ponder_home / "config.toml").write_text(
        "[retrieval]\nrelevance_pool = 0\nlexical_weight = 0\nrelevance_margin = 0.2\n"
    )
    with pytest.raises(ConfigError, match="relevance_margin needs a relevance pool"):
        load_settings()


def test_negative_retrieval_weight_is_an_error(ponder_home):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text("[retrieval]\nrecency = -1\n")
    with pytest.raises(ConfigError, match="retrieval.recency"):
        load_settings()
