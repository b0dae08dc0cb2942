"""BM25 word overlap between a query and a few memories: the lexical half of retrieval's relevance.

    asked = set(terms(query))
    scores = bm25(asked, texts, store.document_frequencies(asked), store.count())

The terms are words and pairs of adjacent words. The pairs carry what a research question turns
on and single words lose: "layer 2" is not "layer 13" and "16384 features" is not "4096-feature",
though both share the words "layer" or "features" and a number that is everywhere. On
`benchmarks/retrieval_quality.py`'s 10k-memory histories the pairs raised the full score's
single-evidence Recall@10 from 0.87 to 0.91 (the classic phrase term of sequential-dependence
retrieval models, as a plain BM25 term).

Document frequencies are the whole stream's, kept by the store in a table of counts, so a term
that many memories share weighs little. Term frequencies and the mean length come from the texts
being scored (the candidates retrieval re-ranks), so the cost grows with the number of
candidates, not with the number of memories that share a term: a full-text index's own BM25
reads every matching memory, tens of milliseconds per query at 100k.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np

K1 = 1.2  # term-frequency saturation (the usual BM25 constants, also FTS5's)
B = 0.75  # length normalisation
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lowercase runs of letters and digits, accents removed (as SQLite FTS5's unicode61 splits)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))


def terms(text: str) -> list[str]:
    """The words of `text`, then each pair of adjacent words joined by a space."""
    found = words(text)
    return found + [f"{a} {b}" for a, b in pairwise(found)]


def bm25(
    query: set[str], texts: Sequence[str], frequencies: Mapping[str, int], total: int
) -> np.ndarray:
    """BM25 of each text for the query terms (see `terms`); 0 for a text that shares none.

    `frequencies[t]` is the number of memories, out of `total`, that contain term t. The idf is
    Lucene's ln(1 + (N - n + 0.5) / (n + 0.5)), which stays positive for common words.
    """
    idf = {
        w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in frequencies.items() if w in query
    }
    counts = [Counter(terms(t)) for t in texts]
    if not idf or not counts:
        return np.zeros(len(texts))
    mean_length = max(float(np.mean([sum(c.values()) for c in counts])), 1.0)
    scores = np.zeros(len(texts))
    for i, c in enumerate(counts):
        norm = K1 * (1 - B + B * sum(c.values()) / mean_length)
        scores[i] = sum(
            weight * c[w] * (K1 + 1) / (c[w] + norm) for w, weight in idf.items() if c[w]
        )
    return scores
