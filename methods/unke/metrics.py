"""Text-overlap scores of UnKE's evaluation: BLEU, ROUGE-1/2/L and normalised answer matching."""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words; punctuation and case never count as overlap."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    """Words joined by single spaces, for containment checks of short answers."""
    return " ".join(words(text))


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n_recall(candidate: str, reference: str, n: int) -> float:
    """Clipped n-gram overlap divided by the reference's n-gram count (0 when it has none)."""
    ref = _ngrams(words(reference), n)
    total = sum(ref.values())
    if total == 0:
        return 0.0
    overlap = sum((ref & _ngrams(words(candidate), n)).values())
    return overlap / total


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(row[j], row[j - 1])
            diagonal = above
    return row[-1]


def rouge_l(candidate: str, reference: str) -> tuple[float, float, float]:
    """(recall, precision, F1) of the longest common word subsequence."""
    cand, ref = words(candidate), words(reference)
    lcs = _lcs(cand, ref)
    if lcs == 0:
        return 0.0, 0.0, 0.0
    recall, precision = lcs / len(ref), lcs / len(cand)
    return recall, precision, 2 * recall * precision / (recall + precision)


def bleu(candidate: str, reference: str, max_n: int = 4) -> float:
    """Sentence BLEU-4 with add-one smoothing of the 2..4-gram precisions (Lin & Och, 2004).

    Unsmoothed BLEU is 0 for most single sentences; add-one keeps it informative while a
    candidate with no unigram overlap still scores 0.
    """
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        c, r = _ngrams(cand, n), _ngrams(ref, n)
        matched, total = sum((c & r).values()), max(sum(c.values()), 0)
        if n == 1:
            if matched == 0:
                return 0.0
            log_precision += math.log(matched / total)
        else:
            log_precision += math.log((matched + 1) / (total + 1))
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return brevity * math.exp(log_precision / max_n)


def contains_answer(text: str, answer: str) -> bool:
    """Whether the normalised short answer occurs as a whole-word run in the normalised text."""
    needle = normalise(answer)
    if not needle:
        raise ValueError(f"answer {answer!r} has no words to match")
    return f" {needle} " in f" {normalise(text)} "
