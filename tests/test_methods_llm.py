"""The methods' LLM protocol is met by the agent's chat models without methods importing agents."""

from __future__ import annotations

from methods.llm import LLM


def test_agent_chat_models_satisfy_the_methods_llm_protocol():
    from agents.llm_local import LocalChat
    from agents.llm_openai import OpenAIChat

    assert isinstance(LocalChat(), LLM)  # nothing is loaded until the first chat
    assert isinstance(OpenAIChat("m", base_url="http://127.0.0.1:9/v1", api_key="k"), LLM)


def test_an_object_without_chat_is_not_an_llm():
    class NotAModel:
        name = "x"

    assert not isinstance(NotAModel(), LLM)
