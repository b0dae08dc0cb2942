"""Retrieval latency (p50/p95) at 1k-100k memories, and agreement of fast retrieval with exact.

Two ways to retrieve are timed, each against its own exact scoring (every memory scored):
- "pool", the agent's default: the paper's score over the memories most relevant to the query
  (the 15 best by cosine plus BM25 and any within 0.12 of the best), whose candidates come from
  chroma's vector index;
- "union", the paper's score over the whole stream (`relevance_pool = 0`): the union of the
  nearest memories and the most recent-and-important, scored with global bounds. The issue's
  targets are this method's (p95 <= 50 ms at 100k, top-10 agreement >= 0.95).
The pool's agreement with exact depends on the vector index's recall of the 100 nearest
memories, which varies from one index build to the next (0.93-1.00 at 100k over six runs).

    python -m benchmarks.retrieval_speed [--sizes 1000 10000 100000] [--quick] [--out DIR]

Memories get synthetic unit vectors instead of MiniLM embeddings, and queries are timed as
vectors with their wording (`Retriever.retrieve_vector`, which also queries the text index), so
the numbers are retrieval's own cost: embedding a query with MiniLM adds roughly 5-10 ms on one
CPU thread. The vectors are clustered the way a
research history is (topics, subtopics within them), so many memories are moderately relevant
to a query and the candidate lists have real competition; times spread over weeks, some
memories were re-accessed later, and importances are skewed towards the low end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    RESULTS,
    Target,
    at_least,
    at_most,
    percentile_ms,
    print_targets,
    write_json,
)
from memory.records import Kind, NewMemory
from memory.retrieval import Retriever
from memory.store import MemoryStore

SEED = 1337
DIM = 384  # all-MiniLM-L6-v2's
TOPICS, SUBTOPICS = 40, 6
SPAN_HOURS = 8 * 7 * 24  # eight weeks of history
REACCESSED = 0.1  # share of memories retrieved again after they were written
UNRATED = 0.01  # share whose importance rating failed (importance None)
# Bookkeeping (tool calls, plan steps) is common and dull; real findings are rarer.
IMPORTANCE_P = np.array([8, 14, 16, 15, 12, 10, 9, 7, 5, 4], dtype=float) / 100
KINDS = [Kind.TOOL_RESULT, Kind.ACTION, Kind.OBSERVATION, Kind.PLAN, Kind.REFLECTION, Kind.CHAT]
INSERT_BATCH = 5000
K = 10


@dataclass
class Stream:
    memories: list[NewMemory]
    vectors: np.ndarray
    reaccess: dict[float, list[str]]  # access time -> ids retrieved then
    end: float  # the newest time in the stream


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def noise(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    """Gaussian noise whose rows have norm about `size`."""
    return rng.standard_normal((n, DIM)) * (size / np.sqrt(DIM))


def synthetic_stream(n: int, rng: np.random.Generator) -> Stream:
    topics = unit(rng.standard_normal((TOPICS, DIM)))
    subtopics = unit(rng.standard_normal((TOPICS, SUBTOPICS, DIM)))
    topic = rng.integers(TOPICS, size=n)
    sub = rng.integers(SUBTOPICS, size=n)
    # Same subtopic: cosine about 0.6; same topic: about 0.35; unrelated: about 0.
    vectors = unit(topics[topic] + 0.8 * subtopics[topic, sub] + noise(rng, n, 0.8))
    start = 1.7e9
    created = np.sort(start + rng.uniform(0, SPAN_HOURS * 3600.0, size=n))
    importance = rng.choice(np.arange(1, 11), size=n, p=IMPORTANCE_P)
    unrated = rng.random(n) < UNRATED
    kinds = rng.choice(len(KINDS), size=n)
    memories = [
        NewMemory(
            f"synthetic memory {i} (topic {topic[i]}.{sub[i]})",
            KINDS[kinds[i]],
            importance=None if unrated[i] else int(importance[i]),
            created=float(created[i]),
            id=f"m{i:06d}",
        )
        for i in range(n)
    ]
    return Stream(memories, vectors, _reaccess(created, rng), float(created[-1]))


def _reaccess(created: np.ndarray, rng: np.random.Generator) -> dict[float, list[str]]:
    """Some memories were retrieved again later; bucket those times by the hour (one touch each)."""
    chosen = np.flatnonzero(rng.random(created.size) < REACCESSED)
    end = created[-1]
    when = created[chosen] + rng.uniform(0, 1, chosen.size) * (end - created[chosen])
    buckets: dict[float, list[str]] = {}
    for i, t in zip(chosen, when, strict=True):
        buckets.setdefault(float(np.floor(t / 3600.0) * 3600.0), []).append(f"m{i:06d}")
    return buckets


@dataclass
class Queries:
    vectors: np.ndarray
    texts: list[str]

    def __getitem__(self, chosen: slice) -> Queries:
        return Queries(self.vectors[chosen], self.texts[chosen])

    def __len__(self) -> int:
        return len(self.texts)


def queries(stream: Stream, count: int, rng: np.random.Generator) -> Queries:
    """Paraphrases of random memories: each query sits near one memory and its subtopic, and
    names them ("results on 3.2"), so the text index has a third of the stream to rank."""
    picked = rng.integers(len(stream.memories), size=count)
    texts = ["results on " + stream.memories[i].text.split("(")[1].rstrip(")") for i in picked]
    return Queries(unit(stream.vectors[picked] + noise(rng, count, 0.6)), texts)


def fill(store: MemoryStore, stream: Stream) -> float:
    """Insert the stream in batches, showing progress; returns seconds spent."""
    started = time.perf_counter()
    n = len(stream.memories)
    for lo in range(0, n, INSERT_BATCH):
        hi = min(lo + INSERT_BATCH, n)
        store.add_many(stream.memories[lo:hi], vectors=stream.vectors[lo:hi])
        _progress(f"  inserting {hi}/{n} ({time.perf_counter() - started:.0f} s)")
    for when in sorted(stream.reaccess):
        store.touch(stream.reaccess[when], when)
    elapsed = time.perf_counter() - started
    _progress(f"  inserted {n} in {elapsed:.1f} s", done=True)
    return elapsed


def _progress(line: str, *, done: bool = False) -> None:
    print(f"\r{line:<60}", end="\n" if done else "", file=sys.stderr, flush=True)


def timed(
    retriever: Retriever, asked: Queries, now: float, *, exact: bool
) -> tuple[list[float], list[list[str]]]:
    """Seconds per query and the returned ids; touch=False keeps the store unchanged."""
    seconds, ids = [], []
    for q, text in zip(asked.vectors, asked.texts, strict=True):
        started = time.perf_counter()
        top = retriever.retrieve_vector(q, K, text=text, now=now, touch=False, exact=exact)
        seconds.append(time.perf_counter() - started)
        ids.append([s.record.id for s in top])
    return seconds, ids


def agreement(exact: list[list[str]], union: list[list[str]]) -> float:
    """Mean share of the exact top-k ids that the candidate union's top-k also returns."""
    shares = [len(set(e) & set(u)) / max(len(e), 1) for e, u in zip(exact, union, strict=False)]
    return float(np.mean(shares))


METHODS = {"pool": {}, "union": {"relevance_pool": None}}  # name: Retriever settings


def bench_size(size: int, n_queries: int, n_exact: int, warmup: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + size)
    stream = synthetic_stream(size, rng)
    asked = queries(stream, warmup + n_queries, rng)
    measured = asked[warmup:]
    now = stream.end + 3600.0
    row: dict[str, Any] = {"size": size, "queries": len(measured), "exact_queries": n_exact}
    with tempfile.TemporaryDirectory(prefix="ponder-bench-") as tmp:
        # No embedder: every vector is supplied, and queries are vectors too.
        store = MemoryStore(Path(tmp), embedder=None)  # type: ignore[arg-type]
        try:
            row["insert_s"] = fill(store, stream)
            for name, settings in METHODS.items():
                retriever = Retriever(store, **settings)
                timed(retriever, asked[:warmup], now, exact=False)  # warm caches
                timed(retriever, asked[:1], now, exact=True)
                fast_s, fast_ids = timed(retriever, measured, now, exact=False)
                _progress(f"  {name}: exact scoring of {n_exact} queries at {size} memories...")
                exact_s, exact_ids = timed(retriever, measured[:n_exact], now, exact=True)
                row[name] = {
                    "p50_ms": percentile_ms(fast_s, 50),
                    "p95_ms": percentile_ms(fast_s, 95),
                    "exact_p50_ms": percentile_ms(exact_s, 50),
                    "exact_p95_ms": percentile_ms(exact_s, 95),
                    "agreement_at_10": agreement(exact_ids, fast_ids[:n_exact]),
                }
            row["union"]["candidates_per_list"] = Retriever(store, **METHODS["union"]).depth(size)
            _progress(f"  done at {size} memories", done=True)
        finally:
            store.close()
        for name, settings in METHODS.items():
            row[name]["cold_ms"] = first_query_cold(Path(tmp), measured[:1], now, settings)
    return row


def first_query_cold(root: Path, query: Queries, now: float, settings: dict[str, Any]) -> float:
    """Milliseconds of one query on a reopened store, whose vector cache starts empty."""
    store = MemoryStore(root, embedder=None)  # type: ignore[arg-type]
    try:
        # Opening the database and the vector index is not retrieval's cost.
        store.count()
        store.nearest(query.vectors[0], 1)
        seconds, _ = timed(Retriever(store, **settings), query, now, exact=False)
    finally:
        store.close()
    return seconds[0] * 1000.0


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'memories':>9} {'method':>7} {'insert s':>9} {'p50':>8} {'p95':>8} {'cold 1st':>9} "
        f"{'exact p50':>10} {'exact p95':>10} {'agree@10':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        for name in METHODS:
            m = r[name]
            print(
                f"{r['size']:>9} {name:>7} {r['insert_s']:>9.1f} {m['p50_ms']:>6.1f}ms "
                f"{m['p95_ms']:>6.1f}ms {m['cold_ms']:>7.1f}ms {m['exact_p50_ms']:>8.1f}ms "
                f"{m['exact_p95_ms']:>8.1f}ms {m['agreement_at_10']:>9.3f}"
            )


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    largest = max(rows, key=lambda r: r["size"])
    worst = min(rows, key=lambda r: r["union"]["agreement_at_10"])
    return [
        at_most(
            f"candidate-union p95 at {largest['size']} memories (ms)",
            largest["union"]["p95_ms"],
            50,
        ),
        at_least(
            f"candidate-union top-10 agreement with exact (worst: {worst['size']})",
            worst["union"]["agreement_at_10"],
            0.95,
        ),
        at_most(
            f"default (relevance pool) p95 at {largest['size']} memories (ms)",
            largest["pool"]["p95_ms"],
            50,
        ),
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--queries", type=int, default=100, help="timed queries per method")
    parser.add_argument("--exact-queries", type=int, default=20, help="of those, also run exactly")
    parser.add_argument("--quick", action="store_true", help="1000 memories, 20 queries")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or [1000]
        args.queries, args.exact_queries = min(args.queries, 20), min(args.exact_queries, 10)
    args.sizes = args.sizes or [1000, 10_000, 100_000]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.perf_counter()
    rows = []
    for size in args.sizes:
        print(f"{size} memories", file=sys.stderr)
        rows.append(bench_size(size, args.queries, min(args.exact_queries, args.queries), 5))
    print()
    print_table(rows)
    checks = targets(rows)
    print_targets(checks)
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")
    result = {
        "benchmark": "retrieval_speed",
        "seed": SEED,
        "k": K,
        "sizes": rows,
        "targets": checks,
        "runtime_s": runtime,
    }
    path = write_json(result, args.out, "retrieval_speed")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
