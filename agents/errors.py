"""Ponder's error tree: one base class, and a subclass per thing a user can fix.

A `PonderError`'s message says what went wrong and what to do about it. The CLI prints
it as a one-line reason and exits 1; the agent records it as an error event.
"""

from __future__ import annotations


class PonderError(Exception):
    """Base of every error Ponder raises on purpose."""


class ConfigError(PonderError):
    """A setting is malformed or contradicts another (config.toml, environment, flags)."""


class ModelNotFoundError(PonderError):
    """A pretrained model could not be found offline."""


class LLMError(PonderError):
    """An LLM call failed. `endpoint` names where the call went (never the API key)."""

    def __init__(self, message: str, *, endpoint: str = "local") -> None:
        super().__init__(f"{message} [{endpoint}]")
        self.reason = message
        self.endpoint = endpoint


class LLMConnectionError(LLMError):
    """The server could not be reached (refused, DNS, TLS)."""


class LLMAuthError(LLMError):
    """The server rejected the API key."""


class LLMRateLimitError(LLMError):
    """The server asked us to slow down and retries ran out."""


class LLMTimeoutError(LLMError):
    """The server did not answer within the configured timeout."""


class LLMOutputError(LLMError):
    """The model's reply could not be used: not JSON, wrong schema, or cut off.

    This is the model's fault, not ours: the agent shows it as an error event and goes on.
    `text` keeps the raw reply so the user can see what the model said.
    """

    def __init__(self, message: str, *, endpoint: str = "local", text: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.text = text
