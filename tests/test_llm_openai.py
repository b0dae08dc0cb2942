"""OpenAIChat against a real HTTP server on 127.0.0.1 that speaks chat completions."""

from __future__ import annotations

import json
import logging
import socket
from typing import Literal

import pytest
from pydantic import BaseModel

from agents.errors import (
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMOutputError,
    LLMTimeoutError,
)
from agents.llm_openai import OpenAIChat

SECRET = "sk-test-PONDER-secret-0123456789"


class Verdict(BaseModel):
    label: Literal["contaminated", "clean"]
    confidence: float


def make_chat(server, **kwargs) -> OpenAIChat:
    options = {"api_key": SECRET, "timeout_s": 5.0, "max_retries": 0, "json_repairs": 2}
    options.update(kwargs)
    return OpenAIChat("fake-model", base_url=server.base_url, **options)


def test_plain_chat_returns_text_usage_and_endpoint(openai_server):
    openai_server.enqueue_reply("Attention pools features.")
    reply = make_chat(openai_server).chat([{"role": "user", "content": "hi"}])
    assert reply.text == "Attention pools features."
    assert reply.parsed is None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 7)
    assert reply.endpoint == openai_server.base_url
    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"] == [{"role": "user", "content": "hi"}]
    assert "response_format" not in sent.body


def test_schema_request_uses_response_format_json_schema(openai_server):
    openai_server.enqueue_reply('{"label": "clean", "confidence": 0.8}')
    chat = make_chat(openai_server)
    reply = chat.chat([{"role": "user", "content": "judge"}], schema=Verdict)
    assert reply.parsed == Verdict(label="clean", confidence=0.8)
    fmt = openai_server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["label"]["enum"] == ["contaminated", "clean"]
    assert chat.server_enforces_schema is True


def test_server_that_rejects_response_format_gets_validated_json_instead(openai_server, caplog):
    openai_server.enqueue_error(400, "response_format is not supported by this server")
    openai_server.enqueue_reply('{"label": "contaminated", "confidence": 0.9}')
    openai_server.enqueue_reply('{"label": "clean", "confidence": 0.1}')
    chat = make_chat(openai_server)
    with caplog.at_level(logging.WARNING, logger="ponder.llm"):
        first = chat.chat([{"role": "user", "content": "judge"}], schema=Verdict)
    second = chat.chat([{"role": "user", "content": "again"}], schema=Verdict)
    assert first.parsed.label == "contaminated" and second.parsed.label == "clean"
    assert chat.server_enforces_schema is False
    assert "refused response_format" in caplog.text
    fallback = openai_server.requests[1].body
    assert "response_format" not in fallback
    assert fallback["messages"][0]["role"] == "system"
    assert '"confidence"' in fallback["messages"][0]["content"]  # the schema is in the prompt
    # The refusal is remembered: the next call goes straight to the fallback.
    assert len(openai_server.requests) == 3
    assert "response_format" not in openai_server.requests[2].body


def test_reply_that_misses_the_schema_is_sent_back_for_repair(openai_server):
    openai_server.enqueue_reply('{"label": "maybe", "confidence": 0.5}')
    openai_server.enqueue_reply('{"label": "clean", "confidence": 0.5}')
    reply = make_chat(openai_server).chat([{"role": "user", "content": "judge"}], schema=Verdict)
    assert reply.parsed.label == "clean"
    repair_turns = openai_server.requests[1].body["messages"]
    assert repair_turns[-2] == {
        "role": "assistant",
        "content": '{"label": "maybe", "confidence": 0.5}',
    }
    assert "label" in repair_turns[-1]["content"]
    assert reply.usage.completion_tokens == 14  # both attempts are counted


def test_malformed_json_reply_raises_after_bounded_repairs(openai_server):
    for _ in range(3):
        openai_server.enqueue_reply("Sure! The label is clean.")
    with pytest.raises(LLMOutputError) as err:
        make_chat(openai_server, json_repairs=2).chat(
            [{"role": "user", "content": "judge"}], schema=Verdict
        )
    assert "not valid JSON" in str(err.value)
    assert "after 2 repairs" in str(err.value)
    assert err.value.text == "Sure! The label is clean."
    assert len(openai_server.requests) == 3


def test_server_error_500_names_status_and_endpoint(openai_server):
    for _ in range(2):
        openai_server.enqueue_error(500, "the GPU caught fire")
    with pytest.raises(LLMError) as err:
        make_chat(openai_server, max_retries=1).chat([{"role": "user", "content": "hi"}])
    assert "server error 500" in str(err.value)
    assert "the GPU caught fire" in str(err.value)
    assert openai_server.base_url in str(err.value)
    assert len(openai_server.requests) == 2  # one retry, as configured


def test_slow_server_raises_timeout_error(openai_server):
    openai_server.enqueue_delay(2.0)
    with pytest.raises(LLMTimeoutError) as err:
        make_chat(openai_server, timeout_s=0.3).chat([{"role": "user", "content": "hi"}])
    assert "0.3 s" in str(err.value)


def test_response_body_that_is_not_json_raises_llm_error(openai_server):
    openai_server.enqueue_raw(b'{"choices": [ this is not json')
    with pytest.raises(LLMError) as err:
        make_chat(openai_server).chat([{"role": "user", "content": "hi"}])
    assert "not valid chat-completions JSON" in str(err.value)


def test_rejected_key_raises_auth_error(openai_server):
    openai_server.enqueue_error(401, "Incorrect API key provided")
    with pytest.raises(LLMAuthError) as err:
        make_chat(openai_server).chat([{"role": "user", "content": "hi"}])
    assert "OPENAI_API_KEY" in str(err.value)


def test_refused_connection_names_the_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    chat = OpenAIChat("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout_s=2)
    with pytest.raises(LLMConnectionError) as err:
        chat.chat([{"role": "user", "content": "hi"}])
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "is the server running" in str(err.value)


def test_api_key_never_appears_in_logs_errors_or_repr(openai_server, caplog):
    openai_server.enqueue_reply("ok")
    openai_server.enqueue_error(401, f"Incorrect API key provided: {SECRET}")
    openai_server.enqueue_error(500, "boom")
    openai_server.enqueue_error(400, "response_format unsupported")
    openai_server.enqueue_reply("not json")
    openai_server.enqueue_reply("still not json")
    chat = make_chat(openai_server, json_repairs=1)
    errors = []
    with caplog.at_level(logging.DEBUG):
        chat.chat([{"role": "user", "content": "hi"}])
        for schema in (None, None, Verdict):
            try:
                chat.chat([{"role": "user", "content": "hi"}], schema=schema)
            except LLMError as exc:
                errors.append(str(exc))
    # The key really was sent, so its absence below means something.
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert len(errors) == 3
    assert caplog.records, "expected the client to log at DEBUG"
    for line in [*caplog.text.splitlines(), *errors, repr(chat)]:
        assert SECRET not in line


def test_missing_model_name_or_key_is_a_config_error():
    with pytest.raises(ConfigError, match="OPENAI_MODEL"):
        OpenAIChat("", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIChat("gpt-4o-mini")


def test_dict_schema_is_validated_with_jsonschema(openai_server):
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"],
    }
    openai_server.enqueue_reply(json.dumps({"n": 0}))
    openai_server.enqueue_reply(json.dumps({"n": 3}))
    reply = make_chat(openai_server).chat([{"role": "user", "content": "count"}], schema=schema)
    assert reply.parsed == {"n": 3}
    assert "minimum" in openai_server.requests[1].body["messages"][-1]["content"]
