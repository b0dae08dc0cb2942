"""OpenAIChat: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama).

Structured output first asks the server to enforce the schema (`response_format` json_schema).
A server that refuses it is remembered and from then on gets the schema in a system message;
its reply is validated and, when it does not fit, sent back for repair a bounded number of
times. Either way a reply that never fits raises `LLMOutputError`; nothing is made up.

Errors name the endpoint and the cause (refused, auth, rate limit, timeout, bad JSON). The API
key is never put in a message, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from agents.errors import (
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMOutputError,
    LLMRateLimitError,
    LLMTimeoutError,
)
from agents.llm import (
    Message,
    Reply,
    Schema,
    Usage,
    json_schema_of,
    parse_reply,
    schema_name,
    with_json_instruction,
)
from agents.prompts import render

if TYPE_CHECKING:
    from agents.config import Settings

log = logging.getLogger("ponder.llm")

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
# Local servers (vLLM, llama.cpp, Ollama) need some key in the header but ignore its value.
_PLACEHOLDER_KEY = "not-needed"


class _ServerRejectedSchema(Exception):
    """The server answered 400/422 to a request that carried `response_format`."""


class OpenAIChat:
    """The `ChatModel` protocol over the `openai` client.

    Args:
        model: the model name the server knows (e.g. "gpt-4o-mini", "qwen2.5:7b").
        base_url: the endpoint, e.g. "http://localhost:8000/v1"; None means OpenAI's.
        api_key: None reads nothing here; pass settings.openai.api_key or OPENAI_API_KEY.
        timeout_s, max_retries: passed to the client explicitly (its defaults are 600 s and 2).
        json_repairs: how often a reply that fails its schema is sent back for repair.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        json_repairs: int = 2,
        max_tokens: int = 1024,
    ) -> None:
        if not model:
            raise ConfigError("OpenAIChat needs a model name: set openai.model or OPENAI_MODEL")
        if not api_key and not base_url:
            raise ConfigError(
                "the OpenAI endpoint needs an API key: set OPENAI_API_KEY or openai.api_key "
                "(or set OPENAI_BASE_URL to a local server such as vLLM or Ollama)"
            )
        self.name = model
        self.endpoint = (base_url or OPENAI_DEFAULT_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.json_repairs = json_repairs
        self.max_tokens = max_tokens
        self._api_key = api_key or _PLACEHOLDER_KEY
        self._client: Any = None
        # None: not tried yet; False: the server refused response_format json_schema.
        self.server_enforces_schema: bool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChat:
        cfg = settings.openai
        return cls(
            cfg.model or "",
            base_url=cfg.base_url,
            api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
            timeout_s=cfg.timeout_s,
            max_retries=cfg.max_retries,
            json_repairs=cfg.json_repairs,
            max_tokens=cfg.max_tokens,
        )

    def __repr__(self) -> str:
        return f"OpenAIChat(model={self.name!r}, endpoint={self.endpoint!r})"

    def chat(
        self,
        messages: list[Message],
        schema: Schema | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> Reply:
        limit = max_tokens or self.max_tokens
        started = time.perf_counter()
        if schema is None:
            text, usage, finish = self._complete(messages, limit, temperature)
            return self._reply(text, None, usage, started, finish)

        conversation = list(messages)
        total = Usage()
        for _ in range(1 + self.json_repairs):
            text, usage, finish = self._complete_json(conversation, schema, limit, temperature)
            total = total + usage
            try:
                parsed = parse_reply(text, schema, endpoint=self.endpoint)
            except LLMOutputError as exc:
                problem = exc.reason
                log.info(
                    "%s: reply failed its schema (%s); asking for a repair", self.endpoint, problem
                )
                conversation += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": render("llm", "json_repair", problem=problem)},
                ]
                continue
            return self._reply(text, parsed, total, started, finish)
        raise LLMOutputError(
            f"{problem} (still wrong after {self.json_repairs} repairs)",
            endpoint=self.endpoint,
            text=text,
        )

    def _complete_json(
        self, conversation: list[Message], schema: Schema, limit: int, temperature: float
    ) -> tuple[str, Usage, str]:
        """Ask for JSON: enforced by the server when it can, else by instruction."""
        if self.server_enforces_schema is not False:
            try:
                result = self._complete(
                    conversation, limit, temperature, response_format=_response_format(schema)
                )
            except _ServerRejectedSchema as exc:
                log.warning(
                    "%s refused response_format json_schema (%s); falling back to validated "
                    "JSON with up to %d repairs",
                    self.endpoint,
                    exc,
                    self.json_repairs,
                )
                self.server_enforces_schema = False
            else:
                self.server_enforces_schema = True
                return result
        return self._complete(with_json_instruction(conversation, schema), limit, temperature)

    def _reply(self, text: str, parsed: Any, usage: Usage, started: float, finish: str) -> Reply:
        return Reply(
            text=text,
            parsed=parsed,
            usage=usage,
            latency_s=time.perf_counter() - started,
            model=self.name,
            endpoint=self.endpoint,
            finish_reason="length" if finish == "length" else "stop",
        )

    def _complete(
        self, messages: list[Message], max_tokens: int, temperature: float, **extra: Any
    ) -> tuple[str, Usage, str]:
        import openai

        try:
            response = self._get_client().chat.completions.create(
                model=self.name,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                **extra,
            )
        except openai.APITimeoutError:
            raise LLMTimeoutError(
                f"no answer within {self.timeout_s:g} s (tried {1 + self.max_retries} times); "
                f"raise openai.timeout_s or check the server's load",
                endpoint=self.endpoint,
            ) from None
        except openai.APIConnectionError as exc:
            cause = self._scrub(str(exc.__cause__ or exc))
            raise LLMConnectionError(
                f"cannot connect ({cause}); is the server running at this URL?",
                endpoint=self.endpoint,
            ) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMAuthError(
                f"the server rejected the API key ({exc.status_code}); check OPENAI_API_KEY "
                f"or openai.api_key in config.toml",
                endpoint=self.endpoint,
            ) from None
        except openai.RateLimitError:
            raise LLMRateLimitError(
                f"rate limited (429) after {self.max_retries} retries; wait, or raise "
                f"openai.max_retries",
                endpoint=self.endpoint,
            ) from None
        except openai.NotFoundError as exc:
            raise LLMError(
                f"not found (404): {self._server_message(exc)}; check openai.model "
                f"({self.name!r}) and that base_url ends in /v1",
                endpoint=self.endpoint,
            ) from None
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if "response_format" in extra:
                raise _ServerRejectedSchema(self._server_message(exc)) from None
            raise LLMError(
                f"request rejected ({exc.status_code}): {self._server_message(exc)}",
                endpoint=self.endpoint,
            ) from None
        except openai.APIStatusError as exc:
            raise LLMError(
                f"server error {exc.status_code}: {self._server_message(exc)}",
                endpoint=self.endpoint,
            ) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as exc:
            raise LLMError(
                f"the server sent a response that is not valid chat-completions JSON: "
                f"{self._scrub(str(exc))[:200]}",
                endpoint=self.endpoint,
            ) from None

        choices = getattr(response, "choices", None)
        if not choices or choices[0].message is None:
            raise LLMError("the server's response has no choices", endpoint=self.endpoint)
        text = choices[0].message.content or ""
        usage = Usage()
        if response.usage is not None:
            usage = Usage(response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0)
        return text, usage, choices[0].finish_reason or "stop"

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.endpoint,
                api_key=self._api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def _server_message(self, exc: Any) -> str:
        body = getattr(exc, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        return self._scrub(str(message or getattr(exc, "message", exc)))[:300]

    def _scrub(self, text: str) -> str:
        if self._api_key != _PLACEHOLDER_KEY and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text


def _response_format(schema: Schema) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema_name(schema), "schema": json_schema_of(schema)},
    }
