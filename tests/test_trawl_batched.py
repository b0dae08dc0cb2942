"""TRAWL's batched LLM extraction: left-padded batches decode as single prompts do, replies fit
the schema or are recorded as failures, and the JSONL cache resumes a killed run."""

from __future__ import annotations

import json

import pytest

from methods.trawl import Item, extract_all, raw_text
from methods.trawl.batched import (
    BatchedExtractor,
    JsonlCache,
    cache_keys,
    cached_report,
    compact_prompt,
    reply_prefix,
)

pytestmark = pytest.mark.usefixtures("one_thread")

ITEMS = [
    Item("Toy Story", 1995, ["Animation", "Children's", "Comedy"], [("subjects", "m.0abc")]),
    Item("Heat", 1995, ["Action", "Crime", "Thriller"], [("sequel", "Heat 2")]),
    Item("Fargo", 1996, ["Crime", "Drama", "Thriller"], []),
    Item(
        "A Very Long Title That Makes This Prompt Much Longer Than The Others In Its Batch",
        None,
        ["Drama", "Romance", "War", "Western", "Musical"],
        [("subjects", "m.0x1"), ("subjects", "m.0x2"), ("prequel", "Another Film")],
    ),
]


@pytest.fixture(scope="module")
def tokenizer(local_chat):
    """SmolLM2's real tokenizer (chat template, end-of-turn token) from the embedded model."""
    return local_chat.load().tokenizer


@pytest.fixture(scope="module")
def tiny_llama(tokenizer):
    """A randomly initialised two-layer llama over SmolLM2's vocabulary: nothing downloaded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def extractor(model, tokenizer, path, **kwargs) -> BatchedExtractor:
    kwargs.setdefault("max_new_tokens", 48)
    return BatchedExtractor(model, tokenizer, path, model_name="tiny", **kwargs)


def test_left_padded_batch_decodes_like_single_prompts(tiny_llama, tokenizer, tmp_path):
    prompts = [compact_prompt(it) for it in ITEMS]
    prefixes = [reply_prefix(it) for it in ITEMS]
    batched = extractor(tiny_llama, tokenizer, tmp_path / "a.jsonl")._generate(prompts, prefixes)
    single = extractor(tiny_llama, tokenizer, tmp_path / "b.jsonl")
    alone = [single._generate([p], [f])[0] for p, f in zip(prompts, prefixes, strict=True)]
    assert batched == alone
    assert all(
        text.startswith(prefix) for (text, _, _), prefix in zip(batched, prefixes, strict=True)
    )


def test_every_item_gets_schema_knowledge_or_a_recorded_failure(tiny_llama, tokenizer, tmp_path):
    ex = extractor(tiny_llama, tokenizer, tmp_path / "c.jsonl", batch_size=3, max_new_tokens=24)
    report = ex.extract_all(ITEMS)
    assert len(report.texts) == len(ITEMS) and report.cached == 0
    assert ex.stats.new_items == len(ITEMS) and ex.stats.new_tokens > 0
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert len(lines) == len(ITEMS)
    for n, item in enumerate(ITEMS):
        record = json.loads(lines[n])
        if n in report.failures:
            # A random model rarely closes the JSON in 24 tokens: the item keeps its raw text.
            assert record["knowledge"] is None and "cut off" in record["error"]
            assert report.texts[n] == raw_text(item)
        else:
            assert record["knowledge"]["genre"] == item.genres[:4]
            assert report.texts[n].startswith(item.title)


def test_a_killed_run_resumes_from_the_cache(tiny_llama, tokenizer, tmp_path):
    path = tmp_path / "d.jsonl"
    first = extractor(tiny_llama, tokenizer, path, batch_size=2).extract_all(ITEMS)
    lines = path.read_text().splitlines()
    # Drop the last record and tear the one before it, as a kill mid-write would.
    path.write_text("\n".join(lines[:-2] + [lines[-2][:20]]))
    again = extractor(tiny_llama, tokenizer, path, batch_size=2)
    second = again.extract_all(ITEMS)
    assert again.stats.new_items == 2 and second.cached == len(ITEMS) - 2
    assert second.texts == first.texts
    third = extractor(tiny_llama, tokenizer, path)
    assert third.extract_all(ITEMS).texts == first.texts and third.stats.new_items == 0


def test_extract_all_dispatches_to_the_batched_extractor(tiny_llama, tokenizer, tmp_path):
    ex = extractor(tiny_llama, tokenizer, tmp_path / "e.jsonl")
    report = extract_all(ITEMS[:2], ex)
    assert report.extractor == "llm:tiny" and len(report.texts) == 2


def test_smollm2_batch_keeps_the_catalogue_genres(local_chat, tmp_path):
    loaded = local_chat.load()
    ex = BatchedExtractor(
        loaded.model, loaded.tokenizer, tmp_path / "f.jsonl", model_name="SmolLM2", batch_size=2
    )
    report = ex.extract_all(ITEMS[:2])
    assert not report.failures, report.failures
    for item, text in zip(ITEMS[:2], report.texts, strict=True):
        assert text.startswith(f"{item.title}. Genre: {', '.join(item.genres)}. Theme: ")


def test_reply_prefix_fits_the_schema_bounds():
    prefix = reply_prefix(ITEMS[3])
    assert json.loads(prefix.removesuffix(',"theme":["') + "}")["genre"] == ITEMS[3].genres[:4]
    long = Item("X", 2000, ["G" * 50], [])
    assert '"' + "G" * 30 + '"' in reply_prefix(long)


def test_cached_report_names_the_missing_items(tmp_path):
    cache = JsonlCache(tmp_path / "none.jsonl")
    keys = cache_keys(ITEMS, "tiny")
    with pytest.raises(ValueError, match="4 of 4 items are not in the cache"):
        cached_report(ITEMS, cache, keys, "llm:tiny")


def test_cache_keys_change_with_the_model_and_the_prompt():
    assert cache_keys(ITEMS, "a") != cache_keys(ITEMS, "b")
    assert cache_keys(ITEMS, "a") != cache_keys(ITEMS, "a", max_facts=1)
    assert cache_keys(ITEMS[:1], "a", ids=[7])[0].startswith("7:")


def test_bad_arguments_name_what_was_expected(tiny_llama, tokenizer, tmp_path):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        extractor(tiny_llama, tokenizer, tmp_path / "x.jsonl", batch_size=0)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 8"):
        extractor(tiny_llama, tokenizer, tmp_path / "x.jsonl", max_new_tokens=4)
    with pytest.raises(TypeError, match="transformers causal LM"):
        extractor(object(), tokenizer, tmp_path / "x.jsonl")
    ex = extractor(tiny_llama, tokenizer, tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="items must be a non-empty list"):
        ex.extract_all([])
    with pytest.raises(ValueError, match="ids must name every item"):
        ex.extract_all(ITEMS, ids=[0])
    with pytest.raises(ValueError, match="max_facts must be >= 0"):
        compact_prompt(ITEMS[0], -1)


def test_a_malformed_line_inside_the_cache_is_an_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('not json\n{"key": "0:a", "item": 0, "knowledge": null}\n')
    with pytest.raises(ValueError, match="line 1 is malformed"):
        JsonlCache(path)


def test_tool_extracts_in_batches_with_a_local_model_and_reuses_the_cache(local_chat, tmp_path):
    from tools import call
    from tools._offline import ponder_home

    args = {"dataset": "synthetic", "extractor": "llm", "items": [3, 5]}
    first = call("trawl.extract_knowledge", args, artifact_dir=tmp_path, chat_model=local_chat)
    again = call("trawl.extract_knowledge", args, artifact_dir=tmp_path, chat_model=local_chat)
    assert first.extractor == f"llm:{local_chat.name}"
    assert first.cached == 0 and again.cached == 2
    assert [r.knowledge for r in again.items] == [r.knowledge for r in first.items]
    lines = (ponder_home() / "cache" / "trawl" / "llm.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"].split(":")[0] for line in lines) == ["3", "5"]
