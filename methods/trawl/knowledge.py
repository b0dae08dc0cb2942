"""Knowledge generation: raw external text, the deterministic key-factor extractor, and the LLM
extractor (JSON schema, bounded retries, disk cache by prompt hash and model)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from methods.llm import LLM
from methods.trawl.data import Item, User

if TYPE_CHECKING:
    from methods.trawl.batched import BatchedExtractor

# Domain key factors for films: what a viewer's taste turns on (the paper's guiding factors).
KEY_FACTORS = ("genre", "theme", "era", "audience", "mood")
# KG relations that carry recommendation-relevant facts once their entities are readable.
KEY_RELATIONS = ("subjects", "sequel", "prequel", "genre")
_OPAQUE = re.compile(r"^m\.[0-9a-z_]+$")  # a Freebase id with no name: unreadable to an encoder

_MOOD = {
    "Comedy": "funny, light-hearted",
    "Horror": "scary, dark",
    "Thriller": "tense, suspenseful",
    "Romance": "romantic, emotional",
    "Drama": "serious, emotional",
    "Action": "exciting, fast-paced",
    "Adventure": "adventurous, epic",
    "Children's": "gentle, playful",
    "Animation": "playful, colourful",
    "Musical": "uplifting, musical",
    "Film-Noir": "dark, cynical",
    "War": "grim, heroic",
    "Crime": "gritty, tense",
    "Mystery": "puzzling, suspenseful",
    "Sci-Fi": "imaginative, futuristic",
    "Fantasy": "magical, imaginative",
    "Documentary": "factual, informative",
    "Western": "rugged, frontier",
}


class ItemKnowledge(BaseModel):
    """What an extractor returns for an item: one field per key factor, bounded for small LLMs."""

    model_config = ConfigDict(extra="forbid")

    genre: list[Annotated[str, Field(max_length=30)]] = Field(
        max_length=4, description="The item's genres."
    )
    theme: list[Annotated[str, Field(max_length=40)]] = Field(
        max_length=3, description="Main themes or subjects."
    )
    era: str = Field(max_length=40, description="When it was made, e.g. 'mid-1990s'.")
    audience: str = Field(max_length=60, description="Who it is for.")
    mood: str = Field(max_length=60, description="Its tone.")

    def text(self, title: str, year: int | None = None) -> str:
        """The knowledge as one text; the release year (a structured field) sharpens the era."""
        parts = [f"{title}.", f"Genre: {', '.join(self.genre)}."]
        if self.theme:
            parts.append(f"Theme: {', '.join(self.theme)}.")
        if year is not None:
            parts.append(f"Released {year}.")
        parts += [f"Era: {self.era}.", f"Audience: {self.audience}.", f"Mood: {self.mood}."]
        return " ".join(parts)


def raw_text(item: Item) -> str:
    """The raw external knowledge: title, year, genres and every KG fact dumped as text."""
    head = f"{item.title} ({item.year or 'unknown year'}). Genres: {', '.join(item.genres)}."
    facts = " ".join(f"{rel.replace('_', ' ')}: {tail}." for rel, tail in item.kg)
    return f"{head} {facts}".strip()


def _era(year: int | None) -> str:
    if year is None:
        return "unknown era"
    part = ("early", "mid", "late")[min((year % 10) // 4, 2)]
    return f"{part}-{year - year % 10}s"


def _audience_from_genres(genres: list[str]) -> str:
    if {"Children's", "Animation"} & set(genres):
        return "children and families"
    if {"Horror", "Film-Noir", "Crime", "War"} & set(genres):
        return "adults"
    return "general audiences"


def user_profile_text(user: User) -> str:
    """A user's profile turned into a preference text (age band, gender, occupation)."""
    if user.age is None:
        band = "a viewer of unknown age"
    elif user.age < 18:
        band = "under 18, likely to enjoy youth and family films"
    elif user.age < 30:
        band = "a young adult"
    elif user.age < 50:
        band = "a middle-aged adult"
    else:
        band = "an older adult who may favour classics"
    gender = {"M": "male", "F": "female"}.get(user.gender, "person")
    return f"{band}, {gender}, works as {user.occupation}"


class KeyFactorExtractor:
    """The no-LLM extractor: fills each key factor from structured fields and readable KG facts,
    dropping facts whose relation is not a key one or whose entity is an opaque id."""

    name = "keyfactor"

    def __init__(self, key_relations: tuple[str, ...] = KEY_RELATIONS) -> None:
        self.key_relations = key_relations

    def __call__(self, item: Item) -> ItemKnowledge:
        readable = [
            (rel, tail)
            for rel, tail in item.kg
            if rel in self.key_relations and not _OPAQUE.match(tail)
        ]
        genres = list(dict.fromkeys(item.genres + [t for r, t in readable if r == "genre"]))
        themes = [t for r, t in readable if r != "genre"]
        moods = [_MOOD[g] for g in item.genres if g in _MOOD][:2]
        return ItemKnowledge(
            genre=[g[:30] for g in genres[:4]],
            theme=[t[:40] for t in themes[:3]],
            era=_era(item.year),
            audience=_audience_from_genres(item.genres),
            mood="; ".join(moods) or "unspecified",
        )


@dataclass
class Extraction:
    """One item's extracted knowledge, or the failure that made it fall back to raw text."""

    text: str
    knowledge: ItemKnowledge | None
    cached: bool = False
    error: str | None = None


@dataclass
class ExtractionReport:
    """Every item's text plus counts: how many came from cache, and which items failed."""

    texts: list[str]
    extractor: str
    cached: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def _prompt(item: Item, max_facts: int) -> str:
    facts = [f"{rel}: {tail}" for rel, tail in item.kg if not _OPAQUE.match(tail)]
    facts += [f"{rel}: {tail}" for rel, tail in item.kg if _OPAQUE.match(tail)]
    lines = "\n".join(f"- {f}" for f in facts[:max_facts]) or "- (none)"
    return (
        "You extract recommendation knowledge about a film. Keep what matters for a viewer's "
        f"taste ({', '.join(KEY_FACTORS)}); drop noise such as unnamed ids; infer from common "
        "sense where the facts are silent.\n"
        f"Title: {item.title}\nYear: {item.year or 'unknown'}\n"
        f"Genres: {', '.join(item.genres) or 'unknown'}\nFacts:\n{lines}"
    )


class LLMExtractor:
    """Asks an LLM for an item's key-factor knowledge as JSON, caching replies on disk.

    A reply that fails the schema is retried `retries` times; then the failure is recorded and
    the item keeps its raw text (the report counts these, so nothing is hidden)."""

    def __init__(
        self,
        llm: LLM,
        cache_dir: str | Path,
        *,
        retries: int = 1,
        max_facts: int = 12,
        max_tokens: int = 256,
    ) -> None:
        if not hasattr(llm, "chat"):
            raise TypeError("llm must have a chat(messages, schema=...) method (methods.llm.LLM)")
        self.llm = llm
        self.cache_dir = Path(cache_dir)
        self.retries = retries
        self.max_facts = max_facts
        self.max_tokens = max_tokens
        self.name = f"llm:{getattr(llm, 'name', 'model')}"

    def _cache_path(self, prompt: str) -> Path:
        key = hashlib.sha256(f"{self.name}\n{prompt}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{key}.json"

    def extract(self, item: Item) -> Extraction:
        prompt = _prompt(item, self.max_facts)
        path = self._cache_path(prompt)
        if path.is_file():
            try:
                knowledge = ItemKnowledge.model_validate_json(path.read_text())
                return Extraction(knowledge.text(item.title, item.year), knowledge, cached=True)
            except ValidationError:
                pass  # written under an older schema: extract again and overwrite it
        error = ""
        for _ in range(self.retries + 1):
            try:
                reply = self.llm.chat(
                    [{"role": "user", "content": prompt}],
                    schema=ItemKnowledge,
                    max_tokens=self.max_tokens,
                )
                knowledge = _parse(reply)
            except Exception as exc:  # noqa: BLE001
                # Backends raise their own error types for malformed or cut-off JSON (methods
                # cannot import them); retry, then record the failure, which the report counts.
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(knowledge.model_dump_json())
            return Extraction(knowledge.text(item.title, item.year), knowledge)
        return Extraction(raw_text(item), None, error=error)


def _parse(reply: Any) -> ItemKnowledge:
    parsed = getattr(reply, "parsed", None)
    if isinstance(parsed, ItemKnowledge):
        return parsed
    if isinstance(parsed, dict):
        return ItemKnowledge.model_validate(parsed)
    text = getattr(reply, "text", "")
    match = re.search(r"\{.*\}", text, re.S)  # repair: the JSON object inside chatter
    if match is None:
        raise ValueError(f"reply holds no JSON object: {text[:80]!r}")
    return ItemKnowledge.model_validate(json.loads(match.group(0)))


def extract_all(
    items: list[Item],
    extractor: str | KeyFactorExtractor | LLMExtractor | BatchedExtractor,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> ExtractionReport:
    """Knowledge text for every item: 'raw', 'keyfactor', or an extractor object (a
    `BatchedExtractor` generates many items per call: the fast path for a local model)."""
    import time

    from methods.trawl.batched import BatchedExtractor  # imports this module: import it late

    started = time.perf_counter()
    if extractor == "raw":
        return ExtractionReport([raw_text(it) for it in items], "raw")
    if extractor == "keyfactor":
        extractor = KeyFactorExtractor()
    if isinstance(extractor, KeyFactorExtractor):
        texts = [extractor(it).text(it.title, it.year) for it in items]
        return ExtractionReport(texts, extractor.name, seconds=time.perf_counter() - started)
    if isinstance(extractor, BatchedExtractor):
        return extractor.extract_all(items, progress=progress)
    if not isinstance(extractor, LLMExtractor):
        raise ValueError(
            f"extractor must be 'raw', 'keyfactor', a KeyFactorExtractor, an LLMExtractor or a "
            f"BatchedExtractor, "
            f"got {extractor!r}"
        )
    report = ExtractionReport([], extractor.name)
    for n, item in enumerate(items):
        result = extractor.extract(item)
        report.texts.append(result.text)
        report.cached += result.cached
        if result.error is not None:
            report.failures[n] = result.error
        if progress is not None:
            progress((n + 1) / len(items), f"extracted {n + 1}/{len(items)}")
    report.seconds = time.perf_counter() - started
    return report
