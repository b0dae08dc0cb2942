"""The LLM a method may take as an argument: a structural protocol, so methods import no agent.

The agent's `ChatModel` (LocalChat, OpenAIChat) satisfies it as it is, and so does any object
with a `name` and a `chat` method of this shape, such as a scripted model in a test:

    def contamination_quiz(llm: LLM, ...):
        reply = llm.chat([{"role": "user", "content": prompt}], schema=Answer)
        answer: Answer = reply.parsed
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class LLMReply(Protocol):
    """What a method reads from a reply: the text, and the parsed object when a schema was set."""

    text: str
    parsed: Any


@runtime_checkable
class LLM(Protocol):
    """Anything that answers chat messages, optionally as an object that fits a schema.

    `messages` are OpenAI-style dicts ({"role": ..., "content": ...}); `schema` is a pydantic
    model class or a JSON-schema dict, and the reply's `parsed` then holds a validated instance
    (or JSON data). Backends raise on a reply that cannot be parsed; they never guess.
    """

    name: str

    def chat(
        self,
        messages: list[dict[str, str]],
        schema: Any = None,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> LLMReply: ...
