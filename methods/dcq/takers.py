"""Quiz takers: a chat model answering one letter, or a white-box model scored by letter logits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from methods.dcq.estimate import LETTERS
from methods.dcq.quiz import Quiz, parse_letter, quiz_head, render_quiz
from methods.llm import LLM


class QuizTaker(Protocol):
    """Anything that answers quizzes of a partition with one letter (A-E) each."""

    name: str

    def answer(self, quizzes: Sequence[Quiz], dataset: str, split: str) -> list[str]: ...


class LetterAnswer(BaseModel):
    """The constrained reply: one option letter."""

    answer: Literal["A", "B", "C", "D", "E"]


class ChatQuizTaker:
    """A chat model (the `LLM` protocol) at temperature 0; its reply's first letter A-E counts.

    `constrained=True` asks for `{"answer": "<letter>"}` through the backend's schema support,
    which a small local model needs; an API model answers the plain prompt as in the paper.
    """

    def __init__(self, llm: LLM, *, constrained: bool = False, max_tokens: int = 8) -> None:
        if not hasattr(llm, "chat"):
            raise TypeError(f"llm must have a chat(messages, ...) method, got {type(llm).__name__}")
        self.llm = llm
        self.constrained = constrained
        self.max_tokens = max_tokens
        self.name = getattr(llm, "name", type(llm).__name__)

    def answer(self, quizzes: Sequence[Quiz], dataset: str, split: str) -> list[str]:
        out = []
        for quiz in quizzes:
            messages = [{"role": "user", "content": render_quiz(quiz, dataset, split)}]
            if self.constrained:
                reply = self.llm.chat(messages, LetterAnswer, max_tokens=16, temperature=0.0)
                parsed = reply.parsed
                letter = parsed.answer if isinstance(parsed, LetterAnswer) else parsed["answer"]
            else:
                reply = self.llm.chat(messages, max_tokens=self.max_tokens, temperature=0.0)
                letter = parse_letter(reply.text)
            out.append(letter)
        return out


class LogitQuizTaker:
    """A causal LM (transformers model + tokenizer) answering by the argmax of its next-token
    logits over the option letters ("A".."E" and " A".." E", the larger of each pair).

    The prompt goes through the tokenizer's chat template. The part of it shared by every quiz
    of a partition is encoded once and its key/value cache reused, which is exact: the model
    sees the same tokens either way (checked per quiz; a quiz whose tokens diverge runs whole).
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str = "model") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.letter_ids = _letter_token_ids(tokenizer)
        self._cache_keyword = _cache_argument(model)
        self._prefix: tuple[str, list[int], Any] | None = None

    def scores(self, quizzes: Sequence[Quiz], dataset: str, split: str) -> list[list[float]]:
        """Per quiz, the five letter logits A-E."""
        import torch

        out = []
        self.model.eval()
        with torch.inference_mode():
            prefix_ids, cache = self._prefix_cache(dataset, split)
            for quiz in quizzes:
                ids = self._encode(render_quiz(quiz, dataset, split))
                k = len(prefix_ids)
                if ids[:k] == prefix_ids and len(ids) > k:
                    extra = cache.get_seq_length() - k
                    if extra > 0:
                        cache.crop(-extra)  # back to the shared head
                    logits = self.model(
                        torch.tensor([ids[k:]]),
                        **{self._cache_keyword: cache},
                        use_cache=True,
                    ).logits[0, -1]
                else:
                    logits = self.model(torch.tensor([ids])).logits[0, -1]
                out.append([float(logits[ids_].max()) for ids_ in self.letter_ids])
        return out

    def answer(self, quizzes: Sequence[Quiz], dataset: str, split: str) -> list[str]:
        return [
            LETTERS[max(range(5), key=s.__getitem__)] for s in self.scores(quizzes, dataset, split)
        ]

    def _encode(self, prompt: str) -> list[int]:
        return list(
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
            )["input_ids"]
        )

    def _prefix_cache(self, dataset: str, split: str) -> tuple[list[int], Any]:
        import torch
        from transformers import DynamicCache

        key = f"{dataset}\x00{split}"
        if self._prefix is None or self._prefix[0] != key:
            # Render a dummy quiz and keep the tokens before its first option; the last few
            # head tokens are left out so that a merge across the boundary cannot differ.
            probe = self._encode(render_quiz(Quiz(("x",) * 4, None), dataset, split))
            head = self._encode(quiz_head(dataset, split))
            k = 0
            while k < min(len(probe), len(head)) and probe[k] == head[k]:
                k += 1
            ids = probe[: max(k - 4, 0)]
            cache = DynamicCache()
            if ids:
                self.model(torch.tensor([ids]), **{self._cache_keyword: cache}, use_cache=True)
            self._prefix = (key, ids, cache)
        return self._prefix[1], self._prefix[2]


def _cache_argument(model: Any) -> str:
    """transformers 5 renamed `past_key_values` to `cache` (the old name goes in 5.40)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _letter_token_ids(tokenizer: Any) -> list[list[int]]:
    ids = []
    for letter in LETTERS:
        found = []
        for form in (letter, " " + letter):
            tokens = tokenizer.encode(form, add_special_tokens=False)
            if len(tokens) == 1:
                found.append(tokens[0])
        if not found:
            raise ValueError(f"the tokenizer has no single token for option letter {letter!r}")
        ids.append(found)
    return ids


def sequence_logprobs(
    model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 16
) -> list[float]:
    """Mean per-token log-likelihood of each text under a causal LM (no prompt, raw text)."""
    import torch

    out: list[float] = []
    bos = tokenizer.bos_token_id
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chunk = [
                ([bos] if bos is not None else []) + tokenizer.encode(t, add_special_tokens=False)
                for t in texts[start : start + batch_size]
            ]
            width = max(len(c) for c in chunk)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([c + [pad] * (width - len(c)) for c in chunk])
            # Right padding under a causal mask: the real tokens never attend to the pads.
            logp = torch.log_softmax(model(ids).logits[:, :-1].float(), -1)
            picked = logp.gather(-1, ids[:, 1:, None])[..., 0]
            for row, c in zip(picked, chunk, strict=True):
                out.append(float(row[: len(c) - 1].mean()))
    return out


def likelihood_first(
    model: Any,
    tokenizer: Any,
    originals: Sequence[str],
    perturbations: Sequence[Sequence[str]],
    progress: Callable[[float, str], None] | None = None,
) -> list[bool]:
    """The likelihood-only variant: per instance, does the original outscore its perturbations?"""
    if len(originals) != len(perturbations):
        raise ValueError(
            f"originals ({len(originals)}) and perturbations ({len(perturbations)}) must align"
        )
    firsts = []
    for i, (orig, perts) in enumerate(zip(originals, perturbations, strict=True)):
        scores = sequence_logprobs(model, tokenizer, [orig, *perts])
        firsts.append(scores[0] > max(scores[1:]))
        if progress:
            progress((i + 1) / len(originals), "likelihood ranking")
    return firsts
