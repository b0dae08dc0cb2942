"""Retrieval scoring: each term, normalisation, weights, touch, and the candidate union."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memory.lexical import bm25, terms, words
from memory.records import Kind, MemoryRecord, NewMemory
from memory.retrieval import Retriever, Weights, min_max, recency, score

HOUR = 3600.0


def test_recency_is_one_now_and_falls_monotonically_with_age():
    ages = np.array([0, 1, 5, 24, 24 * 7, 24 * 365], dtype=float)
    values = recency(ages)
    assert values[0] == 1.0
    assert np.all(np.diff(values) < 0)
    assert values[1] == pytest.approx(0.995)
    assert values[3] == pytest.approx(0.995**24)


def test_min_max_scales_to_unit_interval_and_constant_terms_carry_nothing():
    assert min_max(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert min_max(np.array([7.0, 7.0])).tolist() == [0.0, 0.0]


def record(i: int, importance: int | None, accessed: float) -> MemoryRecord:
    return MemoryRecord(f"m{i}", Kind.OBSERVATION, f"memory {i}", 0.0, accessed, importance)


def test_each_term_alone_ranks_by_that_term():
    now = 100 * HOUR
    records = [record(0, 2, now - 50 * HOUR), record(1, 9, now - 90 * HOUR), record(2, 5, now)]
    vectors = np.eye(3, dtype=np.float32)
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    by = {
        "recency": score(records, vectors, query, now, Weights(1, 0, 0)),
        "importance": score(records, vectors, query, now, Weights(0, 1, 0)),
        "relevance": score(records, vectors, query, now, Weights(0, 0, 1)),
    }
    assert by["recency"][0].record.id == "m2"
    assert by["importance"][0].record.id == "m1"
    assert by["relevance"][0].record.id == "m0"
    full = score(records, vectors, query, now)
    top = full[0]
    assert top.total == pytest.approx(top.recency + top.importance + top.relevance)


def test_unrated_memory_ranks_as_least_important():
    now = 0.0
    records = [record(0, None, now), record(1, 1, now)]
    scored = score(
        records, np.eye(2, dtype=np.float32), np.ones(2, np.float32), now, Weights(0, 1, 0)
    )
    assert [s.record.id for s in scored] == ["m1", "m0"]


def test_retrieve_finds_the_relevant_memory_and_touches_it(store):
    texts = [
        "The sparse autoencoder on layer 3 has 4096 features.",
        "DCQ quiz: the model picked the verbatim option 9 times out of 10.",
        "Pruned 30% of SqueezeNet filters by Taylor score.",
    ]
    added = store.add_many(
        [NewMemory(t, Kind.TOOL_RESULT, importance=5, created=1000.0) for t in texts]
    )
    retriever = Retriever(store)
    top = retriever.retrieve("Was the benchmark contaminated?", k=1, now=5000.0)
    assert top[0].record.id == added[1].id
    assert store.get(added[1].id).last_accessed == 5000.0
    assert store.get(added[0].id).last_accessed == 1000.0


def test_candidate_union_matches_exact_scoring_on_a_small_store(store):
    store.add_many(
        [
            NewMemory(
                f"finding number {i} about topic {i % 7}",
                Kind.OBSERVATION,
                importance=1 + i % 10,
                created=float(i),
            )
            for i in range(60)
        ]
    )
    retriever = Retriever(store, relevance_pool=None, candidates_per_term=40)
    exact = retriever.retrieve("topic 3", k=10, now=100.0, touch=False, exact=True)
    union = retriever.retrieve("topic 3", k=10, now=100.0, touch=False, exact=False)
    overlap = {s.record.id for s in exact} & {s.record.id for s in union}
    assert len(overlap) >= 9


def test_k_must_be_positive(store):
    with pytest.raises(ValueError, match="k must be at least 1"):
        Retriever(store).retrieve("x", k=0)


def unit_rows(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def synthetic(tmp_path):
    """400 memories with random vectors, times over ten days and importances 1-10 or unrated."""
    from memory.store import MemoryStore

    rng = np.random.default_rng(1)
    store = MemoryStore(tmp_path / "synthetic", embedder=None)
    n = 400
    importance = [None if i % 37 == 0 else int(v) for i, v in enumerate(rng.integers(1, 11, n))]
    created = rng.uniform(0, 240 * HOUR, n)
    store.add_many(
        [
            NewMemory(f"memory {i}", Kind.OBSERVATION, importance=importance[i], created=created[i])
            for i in range(n)
        ],
        vectors=unit_rows(n),
    )
    yield store
    store.close()


def test_retrieve_vector_is_retrieve_on_the_embedded_query(store):
    texts = ["Pruned SqueezeNet by 30%.", "GSM8K looks contaminated.", "Layer 3 SAE features."]
    store.add_many([NewMemory(t, Kind.TOOL_RESULT, importance=5, created=0.0) for t in texts])
    retriever = Retriever(store)
    by_text = retriever.retrieve("benchmark contamination", k=3, now=10.0, touch=False)
    vector = store.embedder.embed(["benchmark contamination"])[0]
    by_vector = retriever.retrieve_vector(
        vector, k=3, text="benchmark contamination", now=10.0, touch=False
    )
    assert [s.record.id for s in by_vector] == [s.record.id for s in by_text]
    assert [s.total for s in by_vector] == pytest.approx([s.total for s in by_text])
    with pytest.raises(ValueError, match="k must be at least 1"):
        retriever.retrieve_vector(vector, k=0, text="x")
    with pytest.raises(ValueError, match="needs the query's text"):
        retriever.retrieve_vector(vector, k=3)


def test_union_scores_candidates_exactly_as_exact_retrieval_does(synthetic):
    # Global normalisation: a memory's terms do not depend on which candidates were gathered.
    retriever = Retriever(synthetic, relevance_pool=None, candidates_per_term=20)
    now = 250 * HOUR
    for seed in range(5):
        query = unit_rows(1, seed=100 + seed)[0]
        exact = retriever.retrieve_vector(query, k=400, now=now, touch=False, exact=True)
        union = retriever.retrieve_vector(query, k=10, now=now, touch=False, exact=False)
        by_id = {s.record.id: s for s in exact}
        for s in union:
            e = by_id[s.record.id]
            assert (s.recency, s.importance, s.total) == pytest.approx(
                (e.recency, e.importance, e.total), abs=1e-5
            )


@pytest.mark.parametrize("weights", [Weights(1, 1, 0), Weights(1, 0, 0), Weights(0, 1, 0)])
def test_union_without_relevance_is_exact(synthetic, weights):
    # The recency-and-importance list is exact (read off the index per importance level), so
    # with relevance weighted 0 the union must return exactly what scoring everything returns.
    retriever = Retriever(synthetic, weights=weights, relevance_pool=None, candidates_per_term=12)
    query = unit_rows(1, seed=7)[0]
    now = 250 * HOUR
    exact = retriever.retrieve_vector(query, k=10, now=now, touch=False, exact=True)
    union = retriever.retrieve_vector(query, k=10, now=now, touch=False, exact=False)
    assert [s.record.id for s in union] == [s.record.id for s in exact]


def test_union_agrees_with_exact_on_random_queries(synthetic):
    retriever = Retriever(synthetic, relevance_pool=None, candidates_per_term=40)
    now = 250 * HOUR
    shares = []
    for seed in range(10):
        query = unit_rows(1, seed=200 + seed)[0]
        exact = retriever.retrieve_vector(query, k=10, now=now, touch=False, exact=True)
        union = retriever.retrieve_vector(query, k=10, now=now, touch=False, exact=False)
        shares.append(len({s.record.id for s in exact} & {s.record.id for s in union}) / 10)
    assert np.mean(shares) >= 0.95


def test_kinds_filter_keeps_only_those_kinds(store):
    store.add_many(
        [
            NewMemory("GSM8K contamination plan", Kind.PLAN, importance=5, created=0.0),
            NewMemory("GSM8K contamination result", Kind.TOOL_RESULT, importance=5, created=0.0),
        ]
    )
    top = Retriever(store).retrieve("GSM8K", k=5, now=1.0, touch=False, kinds={Kind.PLAN})
    assert [s.record.kind for s in top] == [Kind.PLAN]


def test_candidate_depth_grows_with_the_stream():
    retriever = Retriever(None, candidates_per_term=100, candidates_share=0.005)  # type: ignore[arg-type]
    assert retriever.depth(2_000) == 100
    assert retriever.depth(100_000) == 500


def test_empty_store_returns_nothing(tmp_path):
    from memory.store import MemoryStore

    empty = MemoryStore(tmp_path / "empty", embedder=None)
    query = unit_rows(1)[0]
    assert Retriever(empty).retrieve_vector(query, text="anything", exact=True) == []
    assert Retriever(empty).retrieve_vector(query, text="anything", exact=False) == []
    empty.close()


def at_similarity(query: np.ndarray, similarity: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine similarity to the unit `query` is exactly `similarity`."""
    other = unit_rows(1, dim=query.size, seed=seed)[0]
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return similarity * query + np.sqrt(1 - similarity**2) * other


@pytest.fixture
def six_weeks(tmp_path):
    """An old finding and a stale/newest pair of versions, under a busy day of loosely related
    memories and 200 unrelated ones: what a long project's stream looks like to one question."""
    from memory.store import MemoryStore

    query = unit_rows(1, dim=16, seed=100)[0]
    now = 42 * 24 * HOUR
    rows = [  # (similarity to the query, importance, age in hours)
        (0.90, 8, 21 * 24),  # the finding, three weeks old
        (0.80, 8, 20 * 24),  # a fact's stale version
        (0.78, 8, 5 * 24),  # and its newest version
    ]
    rows += [(0.55 + 0.01 * n, 5, 1 + n) for n in range(15)]  # today: plans and chat on the topic
    rows += [(0.0, 2, 1 + n % 48) for n in range(200)]  # unrelated bookkeeping
    vectors = np.stack([at_similarity(query, sim, seed=n) for n, (sim, _, _) in enumerate(rows)])
    store = MemoryStore(tmp_path / "six-weeks", embedder=None)
    added = store.add_many(
        [
            NewMemory(f"memory {n}", Kind.OBSERVATION, importance=imp, created=now - age * HOUR)
            for n, (_, imp, age) in enumerate(rows)
        ],
        vectors=vectors.astype(np.float32),
    )
    yield store, query, now, [a.id for a in added[:3]]
    store.close()


def test_relevance_pool_finds_an_old_finding_that_recency_buries_in_the_paper_score(six_weeks):
    store, query, now, (finding, _, _) = six_weeks
    kw = {"k": 5, "now": now, "touch": False, "exact": True}
    pooled = Retriever(store, relevance_pool=10, lexical_weight=0).retrieve_vector(query, **kw)
    paper = Retriever(store, relevance_pool=None).retrieve_vector(query, **kw)
    assert finding in [s.record.id for s in pooled[:2]]  # beside the newer related fact
    assert finding not in [s.record.id for s in paper]


def test_relevance_pool_ranks_the_newest_version_of_a_fact_above_the_stale_one(six_weeks):
    store, query, now, (_, stale, newest) = six_weeks
    for exact in (True, False):
        top = Retriever(store, relevance_pool=10, lexical_weight=0).retrieve_vector(
            query, 5, now=now, touch=False, exact=exact
        )
        ranked = [s.record.id for s in top]
        assert ranked.index(newest) < ranked.index(stale)


def test_relevance_pool_scores_only_the_nearest_memories(synthetic):
    query = unit_rows(1, seed=9)[0]
    ids, vectors = synthetic.vectors_of_all()
    nearest = {ids[i] for i in np.argsort(-(vectors @ query))[:15]}
    retriever = Retriever(
        synthetic,
        weights=Weights(1, 0, 0),
        relevance_pool=15,
        relevance_margin=0,
        lexical_weight=0,
    )
    for exact in (True, False):
        top = retriever.retrieve_vector(query, 15, now=240 * HOUR, touch=False, exact=exact)
        assert len({s.record.id for s in top} & nearest) >= (15 if exact else 14)


@pytest.fixture
def sweep(tmp_path):
    """Six runs of a sweep about as relevant to the query as each other (the newest, the fourth
    most similar, from half a day ago), two weeks of unrelated memories rated 1-10, and the time
    of asking."""
    from memory.store import MemoryStore

    query = unit_rows(1, dim=16, seed=200)[0]
    now = 14 * 24 * HOUR
    ages = [10 * 24, 9 * 24, 8 * 24, 12, 7 * 24, 6 * 24]
    runs = [(0.90 - 0.01 * n, 7, age) for n, age in enumerate(ages)]  # (similarity, imp, age h)
    others = [(0.0, 1 + n % 10, 0.5 + 5.5 * n) for n in range(60)]  # up to 13.5 days old
    rows = runs + others
    store = MemoryStore(tmp_path / "sweep", embedder=None)
    vectors = np.stack([at_similarity(query, sim, seed=n) for n, (sim, _, _) in enumerate(rows)])
    added = store.add_many(
        [
            NewMemory(f"memory {n}", Kind.TOOL_RESULT, importance=imp, created=now - age * HOUR)
            for n, (_, imp, age) in enumerate(rows)
        ],
        vectors=vectors.astype(np.float32),
    )
    yield store, query, now, [a.id for a in added[: len(runs)]]
    store.close()


def test_relevance_margin_takes_every_run_about_as_relevant_as_the_best_into_the_pool(sweep):
    store, query, now, runs = sweep
    kw = {"now": now, "touch": False, "exact": True}
    newest = runs[3]  # 0.03 less similar than the best run
    fixed = Retriever(store, relevance_pool=3, relevance_margin=0, lexical_weight=0)
    assert newest not in [s.record.id for s in fixed.retrieve_vector(query, 3, **kw)]
    widened = Retriever(store, relevance_pool=3, relevance_margin=0.06, lexical_weight=0)
    top = widened.retrieve_vector(query, 3, **kw)
    assert top[0].record.id == newest  # recency orders the sweep once it is in the pool
    narrow = Retriever(store, relevance_pool=3, relevance_margin=0.02, lexical_weight=0)
    assert newest not in [s.record.id for s in narrow.retrieve_vector(query, 3, **kw)]


def test_pool_normalises_recency_and_importance_over_the_whole_stream(sweep):
    store, query, now, runs = sweep
    retriever = Retriever(store, relevance_pool=6, relevance_margin=0, lexical_weight=0)
    top = {s.record.id: s for s in retriever.retrieve_vector(query, 6, now=now, touch=False)}
    assert set(top) == set(runs)
    # Every run is rated 7 on a stream rated 1-10: (7 - 1) / 9, not the pool's constant 0.
    assert all(s.importance == pytest.approx(6 / 9) for s in top.values())
    # The oldest run is ten days old, not the stream's oldest memory: it keeps some recency
    # rather than the pool's 0.
    (oldest, newest), _ = store.ranges()
    low, high = recency((now - oldest) / HOUR), recency((now - newest) / HOUR)
    expected = (recency(10 * 24) - low) / (high - low)
    assert top[runs[0]].recency == pytest.approx(expected) and expected > 0.1


def test_relevance_pool_must_be_positive_and_the_margin_not_negative(store):
    with pytest.raises(ValueError, match="relevance_pool must be at least 1"):
        Retriever(store, relevance_pool=0)
    with pytest.raises(ValueError, match="relevance_margin must be at least 0"):
        Retriever(store, relevance_margin=-0.1)


# --- lexical relevance (BM25 with the stream's term counts) ------------------------------------

RUNS = [
    "DCQ on GSM8K with Llama-3-8B: contamination estimate 0.31",
    "DCQ on GSM8K with Mistral-7B: contamination estimate 0.12",
    "DCQ on GSM8K with Qwen2-7B: contamination estimate 0.44",
    "DCQ on GSM8K with Gemma-7B: contamination estimate 0.08",
    "DCQ on GSM8K with Phi-3-mini: contamination estimate 0.27",
]


def test_lexical_relevance_finds_the_run_an_exact_model_name_picks_out(store):
    added = store.add_many(
        [NewMemory(t, Kind.TOOL_RESULT, importance=7, created=0.0) for t in RUNS]
    )
    question = "How contaminated is GSM8K for Qwen2-7B?"
    ranked = Retriever(store).retrieve(question, k=5, now=3600.0, touch=False, exact=True)
    assert ranked[0].record.id == added[2].id
    for exact in (True, False):
        top = Retriever(store).retrieve(question, k=1, now=3600.0, touch=False, exact=exact)
        assert top[0].record.id == added[2].id


def test_word_counts_follow_adds_and_forgets(store):
    added = store.add_many([NewMemory(t, Kind.TOOL_RESULT, created=0.0) for t in RUNS])
    counts = store.document_frequencies(words("GSM8K Mistral-7B contamination unseen"))
    assert counts == {"gsm8k": 5, "mistral": 1, "7b": 3, "contamination": 5}
    store.forget(added[1].id)
    assert store.document_frequencies(["mistral", "gsm8k"]) == {"gsm8k": 4}
    assert store.texts([added[0].id, "no-such-id"]) == {added[0].id: RUNS[0]}


def test_bm25_matches_a_hand_computed_score():
    # idf = ln(1 + (N - n + 0.5) / (n + 0.5))
    # tf part = tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), k1 = 1.2, b = 0.75
    # A text's length counts its words and its adjacent pairs: 3 + 2 and 2 + 1, mean 4.
    texts = ["pruned resnet resnet", "pruned squeezenet"]
    frequencies = {"resnet": 1, "pruned": 10, "pruned resnet": 1}
    scores = bm25({"resnet", "pruned", "pruned resnet"}, texts, frequencies, total=10)
    idf_resnet, idf_pruned = math.log(1 + 9.5 / 1.5), math.log(1 + 0.5 / 10.5)

    def part(tf, length):
        return tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / 4))

    expected = [
        idf_resnet * part(2, 5) + idf_pruned * part(1, 5) + idf_resnet * part(1, 5),
        idf_pruned * part(1, 3),
    ]
    assert scores == pytest.approx(expected)
    assert bm25({"absent"}, texts, {}, total=10).tolist() == [0.0, 0.0]
    assert words("Café SmolLM2-135M, rank_8!") == ["cafe", "smollm2", "135m", "rank", "8"]


def test_word_pairs_are_terms_with_their_own_counts(store):
    assert terms("SAE on layer 2") == ["sae", "on", "layer", "2", "sae on", "on layer", "layer 2"]
    store.add_many(
        [
            NewMemory(t, Kind.TOOL_RESULT, created=0.0)
            for t in ["SAE on layer 2: loss 0.05", "SAE on layer 12, 2 runs", "layer 2 probe"]
        ]
    )
    counts = store.document_frequencies(terms("layer 2 sae"))
    assert counts == {"layer": 3, "2": 3, "sae": 2, "layer 2": 2}
    added = store.add_many([NewMemory("layer 2 again, layer 2", Kind.OBSERVATION, created=0.0)])
    assert store.document_frequencies(["layer 2"]) == {"layer 2": 3}  # memories, not mentions
    store.forget(added[0].id)
    assert store.document_frequencies(["layer 2", "layer 12"]) == {"layer 2": 2, "layer 12": 1}
    asked = set(terms("SAE on layer 2"))
    texts = ["SAE on layer 12, 2 runs", "SAE on layer 2: loss 0.05"]
    scores = bm25(asked, texts, store.document_frequencies(asked), store.count())
    assert scores[1] > scores[0]  # the same words, but only one says "layer 2"


def test_an_older_store_gets_term_counts_and_loses_its_full_text_index(tmp_path):
    import sqlite3

    from memory.store import MIGRATIONS, MemoryStore, _migrate

    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / "memories.sqlite3", isolation_level=None)
    old = [m for m in MIGRATIONS if m.__name__ != "_m006_term_counts"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("memory.store.MIGRATIONS", old)
        _migrate(db)
    texts = ["Pruned SqueezeNet by 30 percent", "Trained an SAE on layer 3", "Read a paper"]
    db.executemany(
        "INSERT INTO memories (id, seq, kind, text, created, last_accessed) "
        "VALUES (?, ?, 'observation', ?, 0, 0)",
        [(f"a{n}", n, text) for n, text in enumerate(texts, start=1)],
    )
    db.close()
    store = MemoryStore(root, embedder=None)
    assert store.document_frequencies(["squeezenet", "layer", "layer 3"]) == {
        "squeezenet": 1,
        "layer": 1,
        "layer 3": 1,
    }
    leftovers = store.db.execute(
        "SELECT name FROM sqlite_master WHERE name LIKE 'memories_fts%'"
    ).fetchall()
    assert leftovers == []
    store.forget("a2")  # no trigger of the dropped index fires
    assert store.document_frequencies(["layer", "read"]) == {"read": 1}
    store.close()


def test_lexical_weight_must_be_a_share_and_needs_a_relevance_pool(store):
    with pytest.raises(ValueError, match="lexical_weight must be in"):
        Retriever(store, lexical_weight=1.5)
    with pytest.raises(ValueError, match="needs a relevance pool"):
        Retriever(store, relevance_pool=None, lexical_weight=0.5)
    assert Retriever(store, relevance_pool=None).lexical_weight == 0
