"""Four word-level perturbations per instance: lexical substitution with a language model (offline
default) or rewrites by an LLM; validated (distinct, not the original, labels kept) and cached."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from methods.dcq.data import Instance
from methods.dcq.takers import sequence_logprobs
from methods.llm import LLM

N_OPTIONS = 4
Embed = Callable[[list[str]], np.ndarray]  # texts -> (n, d) unit-norm or raw vectors

# Function words carry structure, not content: swapping them changes syntax, not wording.
STOPWORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "not",
        "no",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "his",
        "her",
        "their",
        "our",
        "your",
        "my",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "me",
        "him",
        "them",
        "us",
        "who",
        "whom",
        "which",
        "what",
        "when",
        "where",
        "why",
        "how",
        "than",
        "then",
        "there",
        "here",
        "very",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "also",
        "just",
        "only",
        "too",
        "so",
        "such",
        "all",
        "any",
        "each",
        "every",
        "some",
        "more",
        "most",
        "less",
        "few",
        "many",
        "much",
        "own",
        "same",
        "other",
    ]
)
_WORD = re.compile(r"[A-Za-z]+")


class PerturbationError(ValueError):
    """The perturbations of an instance failed validation."""


class Perturber(Protocol):
    """Makes N_OPTIONS perturbed copies of an instance (free columns reworded, labels kept)."""

    name: str

    def perturb(self, instance: Instance) -> list[Instance]: ...


def validate_perturbations(
    original: Instance, perturbed: Sequence[Instance], *, max_length_change: float = 0.3
) -> None:
    """Raise PerturbationError unless there are 4 distinct perturbations, none equal to the
    original, every label (fixed) column unchanged, and word counts within the given change."""
    if len(perturbed) != N_OPTIONS:
        raise PerturbationError(
            f"instance {original.id}: expected {N_OPTIONS} perturbations, got {len(perturbed)}"
        )
    renders = [p.render() for p in perturbed]
    if len(set(renders)) != N_OPTIONS:
        raise PerturbationError(f"instance {original.id}: perturbations are not distinct")
    if original.render() in renders:
        raise PerturbationError(f"instance {original.id}: a perturbation equals the original")
    for p in perturbed:
        if set(p.fields) != set(original.fields):
            raise PerturbationError(f"instance {original.id}: a perturbation changed the columns")
        for col in original.fixed:
            if p.fields[col] != original.fields[col]:
                raise PerturbationError(
                    f"instance {original.id}: label column {col!r} changed "
                    f"({original.fields[col]!r} -> {p.fields[col]!r})"
                )
        for col in original.free:
            before, after = len(original.fields[col].split()), len(p.fields[col].split())
            if abs(after - before) > max(1, max_length_change * before):
                raise PerturbationError(
                    f"instance {original.id}: column {col!r} went from {before} to {after} "
                    f"words; a word-level perturbation keeps the structure"
                )


def words_changed(original: str, perturbed: str) -> float:
    """Fraction of the original's words that differ position by position."""
    a, b = original.split(), perturbed.split()
    if not a:
        return 0.0
    same = sum(x == y for x, y in zip(a, b, strict=False))
    return 1.0 - same / max(len(a), len(b))


class LexicalPerturber:
    """Offline perturbations: swap about `fraction` of the content words of each free column for
    words the language model itself predicts there, keeping those that stay fluent and close in
    meaning.

    For each content word the candidates are the model's top-`top_k` next tokens at that point
    that are whole lowercase words (not the original, not a function word); with `embed` (for
    example MiniLM) they are ranked by log-probability plus `word_weight` times the word-level
    cosine similarity. Proposals that swap a random subset of words are ranked by the mean
    log-likelihood of the whole text; those below `min_similarity` sentence cosine are dropped.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        embed: Embed | None = None,
        *,
        fraction: float = 1 / 3,
        top_k: int = 40,
        min_similarity: float = 0.7,
        word_weight: float = 4.0,
        min_word_similarity: float = 0.35,
        proposals: int = 10,
        seed: int = 0,
    ) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.model, self.tokenizer, self.embed = model, tokenizer, embed
        self.fraction, self.top_k, self.min_similarity = fraction, top_k, min_similarity
        self.word_weight, self.proposals, self.seed = word_weight, proposals, seed
        self.min_word_similarity = min_word_similarity
        self.name = (
            f"lexical-f{fraction:.2f}-k{top_k}-s{min_similarity:.2f}-w{word_weight}"
            f"-ws{min_word_similarity:.2f}-p{proposals}"
            f"-seed{seed}-{'emb' if embed else 'noemb'}"
        )

    def perturb(self, instance: Instance) -> list[Instance]:
        if not instance.free:
            raise PerturbationError(f"instance {instance.id} has no free column to perturb")
        rng = random.Random(f"{self.seed}:{instance.id}:{instance.render()}")
        per_col = {c: self.perturb_text(instance.fields[c], rng) for c in instance.free}
        out = [
            instance.with_fields(**{c: per_col[c][k] for c in per_col}) for k in range(N_OPTIONS)
        ]
        validate_perturbations(instance, out)
        return out

    def perturb_text(self, text: str, rng: random.Random | None = None) -> list[str]:
        """Four distinct reworded copies of `text`."""
        rng = rng or random.Random(self.seed)
        slots = self._candidates(text)
        if not slots:
            raise PerturbationError(f"no content word in {text[:60]!r} has a substitute")
        m = max(1, math.ceil(self.fraction * len(slots)))
        proposals: set[str] = set()
        for _ in range(self.proposals * 4):
            if len(proposals) >= self.proposals:
                break
            chosen = rng.sample(slots, min(m, len(slots)))
            swaps = {(s, e): rng.choice(c[:3]) for s, e, c in chosen}
            proposals.add(_apply(text, swaps))
        proposals.discard(text)
        ranked = self._rank(text, sorted(proposals))
        if len(ranked) < N_OPTIONS:
            raise PerturbationError(
                f"only {len(ranked)} fluent, meaning-preserving rewordings of {text[:60]!r}; "
                f"lower min_similarity or raise top_k"
            )
        return ranked[:N_OPTIONS]

    def _candidates(self, text: str) -> list[tuple[int, int, list[str]]]:
        """Per substitutable word: (start, end, candidate words, best first)."""
        import torch

        tok = self.tokenizer
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(torch.tensor([bos + ids])).logits[0].float(), -1)
        shift = len(bos)
        raw = []
        for match in _WORD.finditer(text):
            word, start = match.group(), match.start()
            if len(word) < 3 or word.lower() in STOPWORDS or not word.islower():
                continue
            t = next((i for i, (s, e) in enumerate(offsets) if s <= start < e), None)
            if t is None or t + shift == 0:
                continue
            top = torch.topk(logp[t + shift - 1], self.top_k)
            cands, scores = [], []
            for score, cid in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                piece = tok.decode([cid])
                cand = piece.strip()
                if not piece.startswith(" ") and t > 0 and text[start - 1 : start] == " ":
                    continue  # not a word start where the original starts a word
                if (
                    len(cand) < 3
                    or not cand.isalpha()
                    or not cand.islower()
                    or cand in STOPWORDS
                    or cand == word
                    or word.startswith(cand)
                ):
                    continue
                cands.append(cand)
                scores.append(score)
            if cands:
                raw.append((start, match.end(), word, cands, scores))
        if self.embed is not None and raw:
            # One call for every word and candidate: the embedder is the slow part otherwise.
            words = sorted({w for r in raw for w in [r[2], *r[3]]})
            vec = dict(zip(words, _unit(self.embed(words)), strict=True))
        slots = []
        for start, end, word, cands, scores in raw:
            keep = list(range(len(cands)))
            if self.embed is not None:
                sims = [float(vec[c] @ vec[word]) for c in cands]
                keep = [i for i in keep if sims[i] >= self.min_word_similarity]
                scores = [s + self.word_weight * x for s, x in zip(scores, sims, strict=True)]
            if keep:
                keep.sort(key=lambda i: -scores[i])
                slots.append((start, end, [cands[i] for i in keep]))
        return slots

    def _rank(self, text: str, proposals: list[str]) -> list[str]:
        if not proposals:
            return []
        fluency = sequence_logprobs(self.model, self.tokenizer, proposals)
        keep = list(range(len(proposals)))
        if self.embed is not None:
            vec = _unit(self.embed([text, *proposals]))
            sims = vec[1:] @ vec[0]
            keep = [i for i in keep if sims[i] >= self.min_similarity]
        keep.sort(key=lambda i: -fluency[i])
        return [proposals[i] for i in keep]


class _Rewrites(BaseModel):
    options: list[str] = Field(min_length=N_OPTIONS, max_length=N_OPTIONS)


REWRITE_PROMPT = (
    "Rewrite the text below in {n} different ways. Replace some of its words with contextually "
    "relevant synonyms, and keep its meaning, its sentence structure and its length. Return the "
    "{n} rewrites as JSON.\n\nText:\n{text}"
)


class LLMPerturber:
    """Perturbations written by an LLM, as in the paper (it used GPT-4 at temperature 1)."""

    def __init__(self, llm: LLM, *, temperature: float = 1.0, attempts: int = 3) -> None:
        self.llm, self.temperature, self.attempts = llm, temperature, attempts
        self.name = f"llm-{getattr(llm, 'name', type(llm).__name__)}-t{temperature}"

    def perturb(self, instance: Instance) -> list[Instance]:
        if not instance.free:
            raise PerturbationError(f"instance {instance.id} has no free column to perturb")
        last: Exception | None = None
        for _ in range(self.attempts):
            per_col = {}
            for col in instance.free:
                prompt = REWRITE_PROMPT.format(n=N_OPTIONS, text=instance.fields[col])
                reply = self.llm.chat(
                    [{"role": "user", "content": prompt}], _Rewrites, temperature=self.temperature
                )
                parsed = reply.parsed
                rewrites = parsed.options if isinstance(parsed, _Rewrites) else parsed["options"]
                per_col[col] = [r.strip() for r in rewrites]
            out = [instance.with_fields(**{c: v[k] for c, v in per_col.items()}) for k in range(4)]
            try:
                validate_perturbations(instance, out)
                return out
            except PerturbationError as exc:  # the LLM's fault: ask again, then say so
                last = exc
        raise PerturbationError(f"{self.attempts} attempts gave no valid perturbations: {last}")


def perturb_partition(
    instances: Sequence[Instance],
    perturber: Perturber,
    *,
    cache: str | Path | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[list[Instance]]:
    """Perturb every instance, reading and writing a JSON cache keyed by perturber and instance."""
    if not instances:
        raise ValueError("instances is empty")
    store: dict[str, list[dict[str, str]]] = {}
    path = Path(cache) if cache is not None else None
    if path is not None and path.is_file():
        store = json.loads(path.read_text(encoding="utf-8"))
    out, dirty = [], False
    for i, inst in enumerate(instances):
        key = hashlib.sha256(f"{perturber.name}\x00{inst.render()}".encode()).hexdigest()
        if key in store:
            perturbed = [Instance(inst.id, f, inst.fixed) for f in store[key]]
            validate_perturbations(inst, perturbed)
        else:
            perturbed = perturber.perturb(inst)
            store[key], dirty = [p.fields for p in perturbed], True
        out.append(perturbed)
        if progress:
            progress((i + 1) / len(instances), f"perturbed {i + 1}/{len(instances)}")
    if path is not None and dirty:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(store), encoding="utf-8")
        tmp.replace(path)
    return out


def _apply(text: str, swaps: dict[tuple[int, int], str]) -> str:
    out, last = [], 0
    for (s, e), word in sorted(swaps.items()):
        out += [text[last:s], word]
        last = e
    return "".join(out) + text[last:]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
