"""The one LLM protocol Ponder talks to, `ChatModel`, and what every backend shares.

    reply = model.chat([{"role": "user", "content": "hi"}])                 # plain text
    reply = model.chat(messages, schema=Answer)  # reply.parsed is an Answer instance

Backends: `LocalChat` (agents.llm_local, the embedded SmolLM2) and `OpenAIChat`
(agents.llm_openai, any OpenAI-compatible endpoint). `make_chat_model(settings)` picks one.
A schema is a pydantic model class or a JSON schema dict; a reply that does not fit it raises
`LLMOutputError`, never a default value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel, ValidationError

from agents.errors import ConfigError, LLMOutputError
from agents.prompts import render

if TYPE_CHECKING:
    from agents.config import Settings

Message: TypeAlias = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Schema: TypeAlias = type[BaseModel] | dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Reply:
    """One answer from a chat model."""

    text: str
    parsed: Any = None  # a pydantic instance (model schema) or JSON data (dict schema)
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    endpoint: str = "local"
    finish_reason: str = "stop"  # "stop" (the model ended its turn) or "length" (cut off)

    @property
    def tokens_per_s(self) -> float:
        return self.usage.completion_tokens / self.latency_s if self.latency_s > 0 else 0.0


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers chat messages, optionally as an object that fits a schema."""

    name: str

    def chat(
        self,
        messages: list[Message],
        schema: Schema | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> Reply: ...


def json_schema_of(schema: Schema) -> dict[str, Any]:
    """The JSON schema of a pydantic model class, or the dict itself."""
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    raise TypeError(f"schema must be a pydantic model class or a JSON schema dict, got {schema!r}")


def schema_name(schema: Schema) -> str:
    if isinstance(schema, dict):
        return str(schema.get("title", "reply"))
    return schema.__name__


def with_json_instruction(
    messages: list[Message], schema: Schema, *, enforced: bool = False
) -> list[Message]:
    """Prepend a system message that asks for JSON following `schema`.

    `enforced=True` (the backend constrains decoding to the schema) asks for JSON only.
    """
    if enforced:
        instruction = render("llm", "json_instruction_enforced")
    else:
        instruction = render("llm", "json_instruction", schema=json.dumps(json_schema_of(schema)))
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": messages[0]["content"] + "\n\n" + instruction}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def parse_reply(text: str, schema: Schema, *, endpoint: str) -> Any:
    """Parse and validate a reply against `schema`, or raise LLMOutputError saying why."""
    try:
        data = json.loads(_strip_code_fence(text))
    except json.JSONDecodeError as exc:
        raise LLMOutputError(
            f"reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            endpoint=endpoint,
            text=text,
        ) from None
    if isinstance(schema, dict):
        import jsonschema

        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise LLMOutputError(
                f"reply does not fit the schema at {where}: {exc.message}",
                endpoint=endpoint,
                text=text,
            ) from None
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise LLMOutputError(
            f"reply does not fit {schema.__name__}: {problems}", endpoint=endpoint, text=text
        ) from None


def _strip_code_fence(text: str) -> str:
    # Chat models often wrap JSON in ```json ... ```; the content is still what they meant.
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped[3:-3]
        if stripped.startswith("json"):
            stripped = stripped[4:]
    return stripped.strip()


def make_chat_model(settings: Settings) -> ChatModel:
    """The chat model the settings select. Nothing is loaded until the first call."""
    if settings.llm.backend == "local":
        from agents.llm_local import LocalChat

        return LocalChat.from_settings(settings)
    if settings.llm.backend == "openai":
        from agents.llm_openai import OpenAIChat

        return OpenAIChat.from_settings(settings)
    raise ConfigError(f"unknown LLM backend {settings.llm.backend!r}; use 'local' or 'openai'")
