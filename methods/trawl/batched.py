"""Batched LLM extraction: many items per `generate` call (left-padded, greedy, JSON-grammar
constrained) with a resumable JSONL cache, so a small local model can cover a whole catalogue."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from methods.trawl.data import Item
from methods.trawl.knowledge import _OPAQUE, KEY_FACTORS, ExtractionReport, ItemKnowledge, raw_text

# Short on purpose: prefill is most of the cost. No schema or example is shown: the grammar and
# the reply prefix (below) fix the shape.
SYSTEM = (
    f"Describe the film for recommendation as JSON ({', '.join(KEY_FACTORS)}). Drop ids like "
    "m.0abc; infer from common sense."
)


def reply_prefix(item: Item) -> str:
    """The reply's opening, written for the model: the genres the catalogue already holds are
    facts to keep, not to ask a 135M model for (which left them empty), and it saves tokens."""
    genres = json.dumps([g[:30] for g in item.genres[:4]], separators=(",", ":"))
    return f'{{"genre":{genres},"theme":["'


def compact_prompt(item: Item, max_facts: int = 4) -> str:
    """The item's raw knowledge, readable facts first, kept short (prefill dominates the cost)."""
    if max_facts < 0:
        raise ValueError(f"max_facts must be >= 0, got {max_facts}")
    facts = [f"{rel}: {tail}" for rel, tail in item.kg if not _OPAQUE.match(tail)]
    facts += [f"{rel}: {tail}" for rel, tail in item.kg if _OPAQUE.match(tail)]
    lines = "; ".join(facts[:max_facts]) or "none"
    return (
        f"Title: {item.title}\nYear: {item.year or 'unknown'}\n"
        f"Genres: {', '.join(item.genres) or 'unknown'}\nFacts: {lines}"
    )


@dataclass
class CacheRecord:
    """One item's extraction as stored: the knowledge, or the error that sent it to raw text."""

    key: str
    item: int
    knowledge: dict[str, Any] | None
    error: str | None = None
    new_tokens: int = 0


class JsonlCache:
    """Append-only JSONL of `CacheRecord`s keyed by item index and a hash of prompt and model;
    each line is flushed as it is written, so a killed run resumes where it stopped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[str, CacheRecord] = {}
        if self.path.is_file():
            text = self.path.read_text(encoding="utf-8")
            if not text.endswith("\n") and text:
                # A run killed mid-write leaves a torn last line: cut it, so appends start on a
                # line of their own, and that item is extracted again.
                text = text[: text.rfind("\n") + 1]
                self.path.write_text(text, encoding="utf-8")
            for n, line in enumerate(text.splitlines()):
                if not line.strip():
                    continue
                try:
                    record = CacheRecord(**json.loads(line))
                except (json.JSONDecodeError, TypeError) as exc:
                    raise ValueError(f"cache {self.path} line {n + 1} is malformed: {exc}") from exc
                self.records[record.key] = record

    @staticmethod
    def key(index: int, prompt: str, model_name: str) -> str:
        digest = hashlib.sha256(f"{model_name}\n{SYSTEM}\n{prompt}".encode()).hexdigest()[:16]
        return f"{index}:{digest}"

    def get(self, key: str) -> CacheRecord | None:
        return self.records.get(key)

    def add(self, records: list[CacheRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record.__dict__) + "\n")
                self.records[record.key] = record
            fh.flush()


class _BatchGrammar:
    """A JSON-schema grammar per row of a batch: masks every token the grammar forbids next.

    A row whose grammar has terminated (its end-of-turn token accepted) is left unmasked:
    `generate` pads finished rows itself."""

    def __init__(self, compiled: Any, prefixes: list[str]) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(compiled) for _ in prefixes]
        for matcher, prefix in zip(self.matchers, prefixes, strict=True):
            if prefix and not matcher.accept_string(prefix):
                raise ValueError(f"reply prefix {prefix!r} does not fit the JSON schema")
        batch = len(prefixes)
        self.vocab_size = compiled.tokenizer_info.vocab_size
        self.bitmask = xgr.allocate_token_bitmask(batch, self.vocab_size)
        self.started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        active = []
        for row, matcher in enumerate(self.matchers):
            if matcher.is_terminated():
                continue
            if self.started and not matcher.accept_token(int(input_ids[row, -1])):
                raise RuntimeError("grammar rejected a token it had allowed (xgrammar bug?)")
            if matcher.is_terminated():
                continue
            matcher.fill_next_token_bitmask(self.bitmask, row)
            active.append(row)
        self.started = True
        if active:
            self._xgr.apply_token_bitmask_inplace(
                scores, self.bitmask.to(scores.device), indices=active
            )
        return scores


@dataclass
class BatchStats:
    """What a batched extraction cost: new items, tokens generated and seconds spent."""

    new_items: int = 0
    new_tokens: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.new_items / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


class BatchedExtractor:
    """Extracts `ItemKnowledge` for many items at once with a transformers causal LM.

    Args:
        model, tokenizer: a loaded chat model (e.g. SmolLM2-135M-Instruct) and its tokenizer.
        cache_path: the JSONL cache; items already in it are not generated again.
        model_name: part of the cache key, so another model's replies are never reused.
        batch_size: prompts per `generate` call (left-padded).
        max_new_tokens: the cap per reply; a reply cut off there is a recorded failure.
        max_facts: KG facts per prompt (readable ones first).
        repetition_penalty: as the agent's LocalChat, against greedy loops in a 135M model.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        cache_path: str | Path,
        *,
        model_name: str,
        batch_size: int = 16,
        max_new_tokens: int = 96,
        max_facts: int = 4,
        repetition_penalty: float = 1.1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_new_tokens < 8:
            raise ValueError(f"max_new_tokens must be >= 8 (a JSON object), got {max_new_tokens}")
        if not hasattr(model, "generate") or not hasattr(tokenizer, "apply_chat_template"):
            raise TypeError("model must be a transformers causal LM and tokenizer its tokenizer")
        self.model = model
        self.tokenizer = tokenizer
        self.cache = JsonlCache(cache_path)
        self.model_name = model_name
        self.name = f"llm:{model_name}"
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.max_facts = max_facts
        self.repetition_penalty = repetition_penalty
        self.stats = BatchStats()
        self._compiled: Any = None

    def _grammar(self, prefixes: list[str]) -> _BatchGrammar:
        if self._compiled is None:
            import xgrammar as xgr

            info = xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.model.config.vocab_size
            )
            # any_whitespace=False: a small model otherwise can emit whitespace forever.
            self._compiled = xgr.GrammarCompiler(info).compile_json_schema(
                json.dumps(ItemKnowledge.model_json_schema()),
                any_whitespace=False,
                separators=(",", ":"),
            )
        return _BatchGrammar(self._compiled, prefixes)

    def _generate(self, prompts: list[str], prefixes: list[str]) -> list[tuple[str, bool, int]]:
        """(reply text, finished, new tokens) per prompt, greedy, in one `generate` call; each
        reply starts with its prefix, written into the prompt after the assistant's turn."""
        import torch

        tok = self.tokenizer
        chats = [
            tok.apply_chat_template(
                [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}],
                add_generation_prompt=True,
                tokenize=False,
            )
            + prefix
            for p, prefix in zip(prompts, prefixes, strict=True)
        ]
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            inputs = tok(chats, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tok.padding_side = side
        eos = tok.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                logits_processor=[self._grammar(prefixes)],
                do_sample=False,
                top_k=None,
                top_p=None,
                temperature=None,
                repetition_penalty=self.repetition_penalty,
                eos_token_id=eos,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos,
            )
        self.stats.prompt_tokens += int(inputs["attention_mask"].sum())
        replies = []
        for prefix, row in zip(
            prefixes, out[:, inputs["input_ids"].shape[1] :].tolist(), strict=True
        ):
            n = row.index(eos) + 1 if eos in row else len(row)
            text = prefix + tok.decode(row[:n], skip_special_tokens=True).strip()
            replies.append((text, eos in row, n))
        return replies

    def extract_all(
        self,
        items: list[Item],
        *,
        ids: list[int] | None = None,
        progress: Callable[[float, str], None] | None = None,
    ) -> ExtractionReport:
        """Knowledge text for every item, generating only what the cache lacks.

        `ids` name the items in the cache key (default: their positions in `items`). A reply cut
        off by `max_new_tokens` or failing the schema is recorded (in the cache and the
        report's failures) and the item keeps its raw text."""
        if not items:
            raise ValueError("items must be a non-empty list of Item")
        keys = cache_keys(items, self.model_name, max_facts=self.max_facts, ids=ids)
        todo = [n for n, k in enumerate(keys) if self.cache.get(k) is None]
        started = time.perf_counter()
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            t0 = time.perf_counter()
            replies = self._generate(
                [compact_prompt(items[n], self.max_facts) for n in chunk],
                [reply_prefix(items[n]) for n in chunk],
            )
            records = [
                _record(keys[n], int(keys[n].split(":")[0]), text, finished, tokens)
                for n, (text, finished, tokens) in zip(chunk, replies, strict=True)
            ]
            self.cache.add(records)
            spent = time.perf_counter() - t0
            self.stats.batch_seconds.append(spent)
            self.stats.new_items += len(chunk)
            self.stats.new_tokens += sum(r.new_tokens for r in records)
            self.stats.seconds += spent
            if progress is not None:
                done = len(items) - len(todo) + start + len(chunk)
                progress(done / len(items), f"extracted {done}/{len(items)}")
        report = cached_report(items, self.cache, keys, self.name)
        report.cached = len(items) - len(todo)
        report.seconds = time.perf_counter() - started
        return report


def cache_keys(
    items: list[Item], model_name: str, *, max_facts: int = 4, ids: list[int] | None = None
) -> list[str]:
    """Each item's cache key: its id and a hash of the model, instruction, prompt and prefix."""
    ids = list(range(len(items))) if ids is None else ids
    if len(ids) != len(items):
        raise ValueError(f"ids must name every item: {len(ids)} ids for {len(items)} items")
    return [
        JsonlCache.key(i, compact_prompt(it, max_facts) + "\n" + reply_prefix(it), model_name)
        for i, it in zip(ids, items, strict=True)
    ]


def cached_report(
    items: list[Item], cache: JsonlCache, keys: list[str], name: str
) -> ExtractionReport:
    """The knowledge texts of items already in `cache`; failures keep their raw text.

    Raises ValueError when some item has no record (extract it first)."""
    missing = [n for n, k in enumerate(keys) if cache.get(k) is None]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(items)} items are not in the cache {cache.path} "
            f"(first: item {missing[0]}); extract them first"
        )
    report = ExtractionReport([], name, cached=len(items))
    for n, (item, key) in enumerate(zip(items, keys, strict=True)):
        record = cache.records[key]
        if record.knowledge is None:
            report.failures[n] = record.error or "no knowledge"
            report.texts.append(raw_text(item))
        else:
            knowledge = ItemKnowledge.model_validate(record.knowledge)
            report.texts.append(knowledge.text(item.title, item.year))
    return report


def _record(key: str, index: int, text: str, finished: bool, tokens: int) -> CacheRecord:
    if not finished:
        return CacheRecord(key, index, None, f"cut off at {tokens} tokens: {text[:80]!r}", tokens)
    try:
        knowledge = ItemKnowledge.model_validate_json(text)
    except ValidationError as exc:
        return CacheRecord(key, index, None, f"schema: {str(exc)[:200]}", tokens)
    return CacheRecord(key, index, knowledge.model_dump(), None, tokens)
