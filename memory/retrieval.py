"""Retrieval from the memory stream, as in Generative Agents (Park et al., 2023, section 4.1).

    score = a_rec * recency + a_imp * importance + a_rel * relevance

recency is 0.995 ** (hours since the memory was last accessed), importance the LLM's 1-10
rating, relevance the cosine similarity between the query and the memory; each term is min-max
normalised before the weighted sum (weights 1/1/1 by default). What is returned gets its
last_accessed set to now, so memories in use stay fresh. Unlike the reference code, which raises
0.99 to a memory's *rank* in an oldest-first list (so the least recently used memory scores
highest), recency here depends on age in hours and can only fall as a memory ages.

Which memories are scored, and what the normalisation runs over, is the one departure from the
paper, and it is a setting:

Relevance pool (the default). Over a whole research history the paper's equal weights let
recency swamp relevance: at 0.995 per hour a finding from three weeks ago has lost 92% of its
recency, and a fairly relevant memory from today differs from the right answer by a few tenths
of relevance. On `benchmarks/retrieval_quality.py`'s six-week histories the paper's score put
single-evidence answers in the top 10 for 13% of questions at 2k memories and 6% at 10k
(relevance alone: 90% and 77%). So by default the three terms rank only a pool of the memories
most relevant to the query: relevance decides what is about the question, recency and importance
order it (the newest version of a fact first, a finding above its own bookkeeping). The pool
holds the `relevance_pool` most relevant memories and, past those, every candidate whose
relevance is within `relevance_margin` of the best one: a question that many memories answer
about equally well ("what did the last SAE on layer 6 find?") gets a deeper pool than one that a
single memory answers. Relevance is min-max normalised over the pool. Recency and importance are
normalised over the whole stream, as in the paper (their bounds are index seeks): normalised
over the pool, a finding rated 6 among siblings rated 9 scored 0 importance, a whole unit below
them, and the freshest memory of a pool scored full recency however old it was.
Below `exact_below` memories the candidates come from scoring every vector, above it from
chroma's vector index. The relevance that picks and ranks the pool mixes cosine with BM25 overlap
of words and adjacent word pairs (`lexical_weight`; BM25 of the 100 nearest memories, with the
stream's counts from SQLite), because MiniLM misses the exact names a research question turns on:
on the same benchmark words raised the full score's single-evidence Recall@10 from 0.91 to 0.95
at 2k memories and from 0.80 to 0.87 at 10k, and word pairs ("layer 2", "rank 16") from 0.87 to
0.91 at 10k (all with the earlier fixed pool of 30, normalised over itself). Against that pool,
the margin and the stream-wide bounds raised 10k single-evidence Recall@10 on five history seeds
from 0.89-0.92 to 0.90-0.95, and brought mixed-set nDCG@10 from 0.05-0.10 below relevance alone
to within 0.01 of it. The cost is on questions that name neither the dataset nor the setting
("what did the most recent probe on Llama-3-8B find?"): such a question reads like the plans and
progress lines of every such probe, more than like any result, so the newest result rarely
makes the pool (the benchmark's latest-run questions: Recall@10 0.13-0.19 at 10k, from
0.20-0.27 with the earlier pool).

Superseded memories. A memory can name older ones it replaces (the agent links a successful
re-run of a tool call with the same arguments to the earlier results of that call). A replaced
memory scored beside its successor ranks directly below it: the two versions of a re-run's
result read alike, and recency at 0.995 per hour barely tells two weeks-old versions apart. The
stale one stays retrievable, for questions about how a result changed. When the pool holds a
stale memory but not its newest version, that version is placed directly above it in the
results (`_with_newest_versions`). On the benchmark's 10k histories this took newest-over-stale
from 0.97, 0.95 and 0.97 (three seeds) to 1.00 and mixed-set Recall@10 up by 0.007-0.030, at a
cost of at most 0.013 in single-evidence Recall@10.

The whole stream (`relevance_pool=None`), the paper's score. Each term is normalised over the
whole stream, so a memory's score does not depend on which other memories were scored beside it.
Scoring every memory (`exact=True`) is the reference. Past `exact_below` memories retrieval
scores the union of two candidate lists instead, with the same global normalisation:

- the memories nearest the query (chroma's vector index), and
- the memories with the highest weighted recency plus importance. Recency only rises with
  last_accessed, so these are among each importance level's most recently accessed memories,
  which an SQLite index hands over without a scan.

Each list holds max(candidates_per_term, candidates_share * memories): the number of memories
about as relevant as the best one grows with the stream (a long project re-runs the same tools
on the same data), and a fixed depth stops covering them. The normalisation bounds cost no scan
either: recency's and importance's come from index seeks (`MemoryStore.ranges`), relevance's
maximum is the nearest memory's and its minimum that of the memory nearest the negated query
(the least similar one). A candidate's score is therefore the score exact retrieval gives it,
and the two disagree only about memories in neither list. On `benchmarks/retrieval_speed.py`'s
clustered synthetic stream its top 10 shared 0.97-0.98 of the exact top 10 at 10k and 100k
memories, at a p95 of about 6 and 17 ms (vector query, one CPU core); a union of three fixed lists
of 100 normalised over the candidates only had shared 0.885 and 0.385.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.lexical import bm25, terms
from memory.records import Kind, MemoryRecord
from memory.store import IMPORTANCE_LEVELS, MemoryStore, MemoryStoreError, ScalarRow

DECAY_PER_HOUR = 0.995
RELEVANCE_POOL = 15  # memories most relevant to the query that the three terms rank, at least
RELEVANCE_MARGIN = 0.12  # and any candidate this close to the best relevance, by default
LEXICAL_WEIGHT = 0.5  # share of BM25 in the relevance that chooses the pool, by default
LEXICAL_DEPTH = 100  # nearest memories re-scored with BM25 before the pool is cut


@dataclass(frozen=True)
class Weights:
    recency: float = 1.0
    importance: float = 1.0
    relevance: float = 1.0


@dataclass(frozen=True)
class Scored:
    """A retrieved memory with its normalised terms and weighted total."""

    record: MemoryRecord
    recency: float
    importance: float
    relevance: float
    total: float


@dataclass(frozen=True)
class Bounds:
    """Each raw term's (min, max): what min-max normalisation maps to 0 and 1."""

    recency: tuple[float, float]
    importance: tuple[float, float]
    relevance: tuple[float, float]


def recency(age_hours: np.ndarray | float) -> np.ndarray:
    """0.995 ** hours since last access: 1 now, falling monotonically with age."""
    return np.power(DECAY_PER_HOUR, np.maximum(np.asarray(age_hours, dtype=np.float64), 0.0))


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant term carries no ranking information and becomes 0."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    return scale(values, values.min(), values.max())


def scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Min-max scale with given bounds, clipped to [0, 1]; an empty range becomes 0.

    Clipping absorbs bounds that are a hair off (the vector index is approximate).
    """
    values = np.asarray(values, dtype=np.float64)
    if high - low < 1e-12:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


@dataclass
class _Pool:
    """Memories to rank, as parallel arrays of their raw (unnormalised) terms."""

    ids: list[str]
    kinds: list[str]
    recency: np.ndarray
    importance: np.ndarray
    relevance: np.ndarray
    superseded_by: list[str | None]

    @classmethod
    def from_rows(cls, rows: Sequence[ScalarRow], relevance: np.ndarray, now: float) -> _Pool:
        accessed = np.array([r[2] for r in rows], dtype=np.float64)
        return cls(
            ids=[r[0] for r in rows],
            kinds=[r[1] for r in rows],
            recency=recency((now - accessed) / 3600.0),
            # An unrated memory (importance None, marked for re-scoring) ranks as least
            # important until it is rated; it is not given a made-up middle value.
            importance=np.array([r[3] or 0 for r in rows], dtype=np.float64),
            relevance=np.asarray(relevance, dtype=np.float64),
            superseded_by=[r[4] for r in rows],
        )

    def bounds(self) -> Bounds:
        """The pool's own ranges (exact scoring's pool is the whole stream)."""
        return Bounds(
            recency=(float(self.recency.min()), float(self.recency.max())),
            importance=(float(self.importance.min()), float(self.importance.max())),
            relevance=(float(self.relevance.min()), float(self.relevance.max())),
        )

    def normalised(self, bounds: Bounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            scale(self.recency, *bounds.recency),
            scale(self.importance, *bounds.importance),
            scale(self.relevance, *bounds.relevance),
        )


@dataclass(frozen=True)
class _Ranked:
    index: int  # into the pool
    recency: float
    importance: float
    relevance: float
    total: float


def _rank(
    pool: _Pool, bounds: Bounds, weights: Weights, k: int | None, kinds: set[Kind] | None = None
) -> list[_Ranked]:
    """The pool's best k (all if k is None), best first.

    Ties go to the more recently accessed memory, then to the smaller id: the order in which
    the candidate lists gather them, so exact and candidate-union retrieval break ties alike.
    """
    rec, imp, rel = pool.normalised(bounds)
    total = weights.recency * rec + weights.importance * imp + weights.relevance * rel
    total = _below_successors(pool, total)
    order = np.lexsort((np.array(pool.ids), -pool.recency, -total))
    if kinds is not None:
        wanted = {Kind(kind).value for kind in kinds}
        order = [i for i in order if pool.kinds[i] in wanted]
    return [
        _Ranked(int(i), float(rec[i]), float(imp[i]), float(rel[i]), float(total[i]))
        for i in order[:k]
    ]


def _below_successors(pool: _Pool, total: np.ndarray) -> np.ndarray:
    """Cap a superseded memory's score just below its successor's, when both are scored.

    A re-run's result and the stale one it replaced read alike, and recency barely tells two
    weeks-old versions apart; the supersession link does. Chains (v1 < v2 < v3) settle in one
    pass per link, and a link only ever points from an older memory to a newer one, so there
    are no cycles.
    """
    position = {memory_id: n for n, memory_id in enumerate(pool.ids)}
    links = [(n, position[s]) for n, s in enumerate(pool.superseded_by) if s in position]
    if not links:
        return total
    total = total.copy()
    for _ in range(len(links)):
        changed = False
        for old, new in links:
            if total[old] >= total[new]:
                total[old] = total[new] - 1e-9
                changed = True
        if not changed:
            break
    return total


def score(
    records: list[MemoryRecord],
    vectors: np.ndarray,
    query: np.ndarray,
    now: float,
    weights: Weights = Weights(),
    bounds: Bounds | None = None,
) -> list[Scored]:
    """Score memories against a query embedding; best first.

    Without `bounds` each term is normalised over `records` themselves.
    """
    if not records:
        return []
    rows = [(r.id, r.kind.value, r.last_accessed, r.importance, r.superseded_by) for r in records]
    relevance = np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)
    pool = _Pool.from_rows(rows, relevance, now)
    ranked = _rank(pool, bounds or pool.bounds(), weights, None)
    return [Scored(records[r.index], r.recency, r.importance, r.relevance, r.total) for r in ranked]


class Retriever:
    """Scores the memory stream for a query and returns the top k."""

    def __init__(
        self,
        store: MemoryStore,
        *,
        weights: Weights = Weights(),
        relevance_pool: int | None = RELEVANCE_POOL,
        relevance_margin: float = RELEVANCE_MARGIN,
        lexical_weight: float | None = None,
        candidates_per_term: int = 100,
        candidates_share: float = 0.005,
        exact_below: int = 500,
    ) -> None:
        if relevance_pool is not None and relevance_pool < 1:
            raise ValueError(
                f"relevance_pool must be at least 1, or None to score the whole stream; "
                f"got {relevance_pool}"
            )
        if relevance_margin < 0:
            raise ValueError(f"relevance_margin must be at least 0, got {relevance_margin}")
        if lexical_weight is None:
            lexical_weight = LEXICAL_WEIGHT if relevance_pool is not None else 0.0
        if not 0 <= lexical_weight <= 1:
            raise ValueError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        if lexical_weight and relevance_pool is None:
            raise ValueError(
                "lexical_weight needs a relevance pool: the whole-stream score is the paper's, "
                "with cosine relevance only; set lexical_weight=0 or give relevance_pool"
            )
        self.store = store
        self.weights = weights
        self.relevance_pool = relevance_pool
        self.relevance_margin = relevance_margin
        self.lexical_weight = lexical_weight
        self.candidates_per_term = candidates_per_term
        self.candidates_share = candidates_share
        self.exact_below = exact_below

    def depth(self, count: int) -> int:
        """How many candidates each list holds for a stream of `count` memories."""
        return max(self.candidates_per_term, math.ceil(self.candidates_share * count))

    def retrieve(
        self,
        query: str,
        k: int = 10,
        *,
        now: float | None = None,
        touch: bool = True,
        exact: bool | None = None,
        kinds: set[Kind] | None = None,
    ) -> list[Scored]:
        """The k best memories for `query`. `exact=None` scores everything below exact_below."""
        _check_k(k)
        query_vector = self.store.embedder.embed([query])[0]
        return self.retrieve_vector(
            query_vector, k, text=query, now=now, touch=touch, exact=exact, kinds=kinds
        )

    def retrieve_vector(
        self,
        query_vector: np.ndarray,
        k: int = 10,
        *,
        text: str | None = None,
        now: float | None = None,
        touch: bool = True,
        exact: bool | None = None,
        kinds: set[Kind] | None = None,
    ) -> list[Scored]:
        """`retrieve` for a query that is already embedded (unit length, the embedder's dim).

        `text` is the query's wording, which lexical relevance needs (required unless
        lexical_weight is 0).
        """
        _check_k(k)
        if self.lexical_weight and text is None:
            raise ValueError(
                "retrieve_vector needs the query's text for lexical relevance "
                f"(lexical_weight={self.lexical_weight}); pass text=..., or build the "
                "Retriever with lexical_weight=0 for cosine relevance alone"
            )
        now = time.time() if now is None else now
        query_vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if exact is None:
            exact = self.store.count() <= self.exact_below
        if self.relevance_pool is not None:
            found = self._relevant(query_vector, text or "", now, exact or kinds is not None, kinds)
        elif exact:
            found = self._everything(query_vector, now)
        else:
            found = self._union(query_vector, now)
        if found is None:
            return []
        pool, bounds = found
        ranked = _rank(pool, bounds, self.weights, k, kinds)
        records = self.store.get_many([pool.ids[r.index] for r in ranked])
        top = [
            Scored(record, r.recency, r.importance, r.relevance, r.total)
            for record, r in zip(records, ranked, strict=True)
        ]
        top = self._with_newest_versions(top, k, bounds, now, kinds)
        if touch and top:
            self.store.touch([s.record.id for s in top], now)
        return top

    def _with_newest_versions(
        self, top: list[Scored], k: int, bounds: Bounds, now: float, kinds: set[Kind] | None
    ) -> list[Scored]:
        """Put the newest version of each superseded memory in `top` directly above it, where the
        ranking left that version out; the list stays k long (the last entry gives way).

        A stale result returned alone is the one an agent would then quote as current. Its newest
        version is missing only when it fell outside the relevance pool (two versions of a result
        scored together are ordered by `_below_successors`). The newest version takes the stale
        one's relevance and total (they describe the same tool call) with its own recency and
        importance. Placing it rather than re-ranking matters: pulling successors into the pool
        and re-ranking cost single-evidence recall on the benchmark, each stale distractor then
        taking two of the top ten.
        """
        present = {s.record.id for s in top}
        newest: dict[str, str] = {}  # stale id -> id of its newest version
        for s in top:
            successor = s.record.superseded_by
            if successor is None or successor in present:
                continue
            newest_id = self._newest_version(successor)
            if newest_id not in present:
                newest[s.record.id] = newest_id
        if not newest:
            return top
        wanted = None if kinds is None else {Kind(kind) for kind in kinds}
        found = {r.id: r for r in self.store.get_many(sorted(set(newest.values())))}
        out: list[Scored] = []
        for s in top:
            version = found.get(newest.get(s.record.id, ""))
            placeable = version is not None and version.id not in present
            if placeable and (wanted is None or version.kind in wanted):
                out.append(self._placed_above(version, s, bounds, now))
                present.add(version.id)
            out.append(s)
        return out[:k]

    def _newest_version(self, memory_id: str) -> str:
        """Follow superseded_by links from `memory_id` to the version nothing replaces."""
        seen = {memory_id}
        while True:
            rows = self.store.scalars([memory_id])
            successor = rows[0][4] if rows else None
            if successor is None or successor in seen:
                return memory_id
            seen.add(successor)
            memory_id = successor

    def _placed_above(
        self, version: MemoryRecord, stale: Scored, bounds: Bounds, now: float
    ) -> Scored:
        """A newest version scored for the place above its stale one (see _with_newest_versions)."""
        rec = scale(recency(version.age_hours(now)), *bounds.recency)
        imp = scale(np.array(version.importance or 0, dtype=np.float64), *bounds.importance)
        return Scored(version, float(rec), float(imp), stale.relevance, stale.total)

    def _everything(self, query: np.ndarray, now: float) -> tuple[_Pool, Bounds] | None:
        """Every memory, normalised over all of them: the paper's score."""
        scored = self._score_all(query)
        if scored is None:
            return None
        pool = _Pool.from_rows(*scored, now)
        return pool, pool.bounds()

    def _score_all(self, query: np.ndarray) -> tuple[list[ScalarRow], np.ndarray] | None:
        """Every memory's scalar row and its relevance to the query."""
        rows = self.store.scalars()
        if not rows:
            return None
        ids, vectors = self.store.vectors_of_all()
        position = {memory_id: n for n, memory_id in enumerate(ids)}
        missing = [r[0] for r in rows if r[0] not in position]
        if missing:
            raise MemoryStoreError(
                f"{len(missing)} memories have no vector (first: {missing[0]}); the chroma "
                f"folder under {self.store.root} is out of step with the database"
            )
        return rows, vectors[[position[r[0]] for r in rows]] @ query

    def _relevant(
        self, query: np.ndarray, text: str, now: float, exact: bool, kinds: set[Kind] | None
    ) -> tuple[_Pool, Bounds] | None:
        """The pool of memories most relevant to the query, with the bounds that normalise it.

        With a lexical weight w, the LEXICAL_DEPTH memories nearest the query are re-scored as
        (1 - w) * cosine + w * BM25 / (the best candidate's BM25): embeddings miss the exact
        names (a model, a dataset, a setting such as "rank-8") that a research question turns
        on. Re-scoring the vector index's candidates, rather than also searching the text index,
        bounds the cost (see `memory/lexical.py`) and ranked the benchmark's questions no worse.
        The pool is the relevance_pool best candidates plus any within relevance_margin of the
        best. Relevance is normalised over the pool, recency and importance over the whole
        stream (see the module's docstring). Exact scores every vector (and is what a `kinds`
        filter uses, so that the pool holds memories of those kinds); otherwise chroma's vector
        index finds the nearest.
        """
        assert self.relevance_pool is not None
        w = self.lexical_weight
        widens = bool(w or self.relevance_margin)
        depth = max(LEXICAL_DEPTH, self.relevance_pool) if widens else self.relevance_pool
        if exact:
            scored = self._score_all(query)
            if scored is None:
                return None
            rows, cosine = scored
            if kinds is not None:
                wanted = {Kind(kind).value for kind in kinds}
                keep = [i for i, r in enumerate(rows) if r[1] in wanted]
                rows, cosine = [rows[i] for i in keep], cosine[keep]
                if not rows:
                    return None
            # Stable order on ties: by similarity, then by the stream's own order.
            top = np.argsort(-cosine, kind="stable")[:depth]
            rows, cosine = [rows[i] for i in top], cosine[top]
        else:
            nearest = dict(self.store.nearest(query, depth))
            if not nearest:
                return None
            rows = self.store.scalars(list(nearest))
            cosine = np.array([nearest[r[0]] for r in rows])
        relevance = np.asarray(cosine, dtype=np.float64)
        if w:
            overlap = self._bm25(text, [r[0] for r in rows])
            if overlap.max() > 0:
                relevance = (1 - w) * relevance + w * overlap / overlap.max()
        close = int(np.sum(relevance >= relevance.max() - self.relevance_margin))
        # Stable order on ties: by relevance, then by the stream's own order.
        top = np.argsort(-relevance, kind="stable")[: max(self.relevance_pool, close)]
        pool = _Pool.from_rows([rows[i] for i in top], relevance[top], now)
        rec, imp = self._prior_bounds(now)
        return pool, Bounds(rec, imp, pool.bounds().relevance)

    def _bm25(self, text: str, memory_ids: list[str]) -> np.ndarray:
        """BM25 of each memory for the query's terms, with the whole stream's counts."""
        asked = set(terms(text))
        if not asked:
            return np.zeros(len(memory_ids))
        texts = self.store.texts(memory_ids)
        return bm25(
            asked,
            [texts[i] for i in memory_ids],
            self.store.document_frequencies(asked),
            self.store.count(),
        )

    def _union(self, query: np.ndarray, now: float) -> tuple[_Pool, Bounds] | None:
        """The nearest memories plus the most recent-and-important, with global bounds."""
        n = self.depth(self.store.count())
        nearest = dict(self.store.nearest(query, n))
        if not nearest:
            return None
        bounds = self._global_bounds(query, now, nearest)
        rows = self.store.scalars(list(nearest))
        relevance = [nearest[r[0]] for r in rows]
        extra = [r for r in self._top_prior(bounds, now, n) if r[0] not in nearest]
        if extra:
            vectors = self.store.vectors([r[0] for r in extra])
            rows += extra
            relevance += (vectors @ query).tolist()
        return _Pool.from_rows(rows, np.array(relevance), now), bounds

    def _global_bounds(self, query: np.ndarray, now: float, nearest: dict[str, float]) -> Bounds:
        # The memory nearest the negated query is the one least similar to the query.
        farthest = self.store.nearest(-query, 1)
        lowest = min([-similarity for _, similarity in farthest] + list(nearest.values()))
        rec, imp = self._prior_bounds(now)
        return Bounds(rec, imp, relevance=(lowest, max(nearest.values())))

    def _prior_bounds(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """The whole stream's (min, max) recency and importance, from two index seeks each."""
        (oldest, newest), (least, most) = self.store.ranges()
        recency_bounds = (
            float(recency((now - oldest) / 3600.0)),
            float(recency((now - newest) / 3600.0)),
        )
        return recency_bounds, (float(least), float(most))

    def _top_prior(self, bounds: Bounds, now: float, n: int) -> list[ScalarRow]:
        """The n memories with the highest weighted recency plus importance ("prior").

        Goes down the importance levels, taking each level's most recent memories. Once n are
        in hand, a level's memories need a minimum recency to beat the n-th best prior, so only
        those accessed since the matching time are read (often none of the lower levels).
        """
        w = self.weights
        low, high = bounds.recency
        w_recency = w.recency if high - low > 1e-12 else 0.0  # a constant term scores 0
        if w_recency == 0 and w.importance == 0:
            return []
        rows: list[ScalarRow] = []
        priors = np.zeros(0)
        for level in sorted(IMPORTANCE_LEVELS, key=lambda v: v or 0, reverse=True):
            base = w.importance * float(scale(np.array(level or 0), *bounds.importance))
            floor = priors[n - 1] if len(rows) >= n else -math.inf
            if base + w_recency < floor:
                continue  # not even a memory accessed just now would make the list
            since = None
            if floor > -math.inf and w_recency > 0:
                since = _accessed_since((floor - base) / w_recency, bounds, now)
            found = self.store.recent_at_importance(level, n, since=since)
            if not found:
                continue
            rec = _Pool.from_rows(found, np.zeros(len(found)), now).recency
            rows += found
            priors = np.concatenate([priors, base + w_recency * scale(rec, low, high)])
            keep = np.argsort(-priors, kind="stable")[:n]
            rows, priors = [rows[i] for i in keep], priors[keep]
        return rows


def _accessed_since(normalised_recency: float, bounds: Bounds, now: float) -> float | None:
    """The oldest last_accessed whose normalised recency is at least the given value."""
    low, high = bounds.recency
    needed = low + normalised_recency * (high - low)
    if normalised_recency <= 0 or needed <= 0:
        return None
    hours = math.log(min(needed, 1.0)) / math.log(DECAY_PER_HOUR)
    return now - hours * 3600.0 - 1.0  # a second of slack: rounding may only widen the list


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
