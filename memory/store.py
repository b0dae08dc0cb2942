"""The memory store: scalar fields in SQLite, vectors in an embedded chromadb collection.

    store = MemoryStore(home / "memory", embedder)
    record = store.add(NewMemory("SHIFT removed the gender probe's shortcut.", Kind.TOOL_RESULT))

A write is durable when `add` returns: the vector is upserted first, then the row is committed
(a failed commit removes the vector again). Adding with an id that exists returns the stored
record unchanged, which makes replays of a resumed run idempotent. The SQLite schema evolves
through numbered migrations, so an old PONDER_HOME is upgraded, never lost.

Retrieval reads only what it scores: `scalars` (id, kind, last_accessed, importance, without
parsing JSON), `ranges` (each term's global min and max, from index seeks) and
`recent_at_importance` (one importance level's most recently accessed memories, from the
(importance, last_accessed) index that migration 3 adds). `vectors` keeps the last
`VECTOR_CACHE` vectors it read or wrote in memory: fetching from chroma costs about 30 us per
vector, and the recent, important memories that retrieval scores for every query are the same
from one query to the next. These keep retrieval at 100k memories within a few tens of
milliseconds; see `memory/retrieval.py` and `benchmarks/retrieval_speed.py`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memory.embeddings import Embedder
from memory.lexical import terms
from memory.records import Kind, MemoryRecord, NewMemory

COLLECTION = "memories"
UPSERT_BATCH = 5000  # chroma refuses batches above its max batch size (about 5400)
IMPORTANCE_LEVELS: tuple[int | None, ...] = (None, *range(1, 11))  # NewMemory enforces 1-10
# About 30 MB of 384-dim vectors. An id's vector never changes (add never overwrites an id), so a
# cached vector can only go stale by being forgotten, and `forget` drops it.
VECTOR_CACHE = 20_000

# What retrieval scores a memory on: id, kind, last_accessed, importance (None = unrated), and
# the id of the newer memory that superseded it (None while it is current).
ScalarRow = tuple[str, str, float, int | None, str | None]
SCALAR_COLUMNS = "id, kind, last_accessed, importance, superseded_by"


class MemoryStoreError(Exception):
    """The store could not be opened or written; the message says what to do."""


class MemoryNotFound(KeyError):
    """No memory has this id."""

    def __str__(self) -> str:
        return f"no memory with id {self.args[0]!r}; `ponder memory list` shows the ids"


def _m001_create_memories(db: sqlite3.Connection) -> None:
    _execute_all(
        db,
        """
        CREATE TABLE memories (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            created REAL NOT NULL,
            last_accessed REAL NOT NULL,
            importance INTEGER,
            needs_rescore INTEGER NOT NULL DEFAULT 0,
            evidence TEXT NOT NULL DEFAULT '[]',
            run_id TEXT,
            artifacts TEXT NOT NULL DEFAULT '[]',
            superseded INTEGER NOT NULL DEFAULT 0,
            meta TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX memories_last_accessed ON memories (last_accessed);
        CREATE INDEX memories_importance ON memories (importance);
        CREATE INDEX memories_seq ON memories (seq);
        CREATE INDEX memories_run ON memories (run_id);
        """,
    )


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    # Not executescript: it commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m002_reflection_marks(db: sqlite3.Connection) -> None:
    # Where the last reflection stopped, so "importance since the last reflection" is cheap.
    db.execute("CREATE TABLE marks (name TEXT PRIMARY KEY, value REAL NOT NULL)")


def _m003_importance_recency_index(db: sqlite3.Connection) -> None:
    # Retrieval's candidates by recency and importance: per importance level, the most recently
    # accessed memories, read straight off this index instead of sorting the whole table.
    db.execute("CREATE INDEX memories_importance_accessed ON memories (importance, last_accessed)")


def _m004_full_text_index(db: sqlite3.Connection) -> None:
    # Lexical relevance (BM25) for retrieval: an FTS5 index over the text, keyed by seq and
    # kept in step with the table by triggers ('rebuild' indexes what an older store holds);
    # retrieval reads its vocabulary's document frequencies (memories_fts_terms). Migration 6
    # replaces it with a table of counts.
    db.execute(
        "CREATE VIRTUAL TABLE memories_fts USING fts5("
        "text, content='memories', content_rowid='seq')"
    )
    db.execute("CREATE VIRTUAL TABLE memories_fts_terms USING fts5vocab(memories_fts, 'row')")
    remove = (
        "INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.seq, old.text);"
    )
    add = "INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);"
    db.execute(f"CREATE TRIGGER memories_fts_add AFTER INSERT ON memories BEGIN {add} END")
    db.execute(f"CREATE TRIGGER memories_fts_remove AFTER DELETE ON memories BEGIN {remove} END")
    db.execute(
        f"CREATE TRIGGER memories_fts_change AFTER UPDATE OF text, seq ON memories "
        f"BEGIN {remove} {add} END"
    )
    db.execute("INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')")


def _m005_supersession(db: sqlite3.Connection) -> None:
    # A newer memory can replace an older one (a tool re-run with the same arguments replaces
    # its earlier result): the old row keeps its text and points at its successor, so retrieval
    # can rank it below the successor. Tool results carry their call in meta.call; the index
    # finds an earlier result of the same call without a scan.
    db.execute("ALTER TABLE memories ADD COLUMN superseded_by TEXT")
    db.execute("CREATE INDEX memories_call ON memories (json_extract(meta, '$.call'))")


def _m006_term_counts(db: sqlite3.Connection) -> None:
    # Lexical relevance needs, for each word and each pair of adjacent words, how many memories
    # hold it. A table of counts, kept in step as memories are added and forgotten, answers that
    # with one index seek per term. It replaces migration 4's FTS5 index: its vocabulary reads
    # every posting of a word (about 2.5 ms at 100k memories for a word most memories share, and
    # an agent's query holds dozens), and it can count a pair only by a phrase query (~10 ms).
    db.execute(
        "CREATE TABLE term_counts (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID"
    )
    _count_terms(db, [text for (text,) in db.execute("SELECT text FROM memories")], +1)
    for trigger in ("memories_fts_add", "memories_fts_remove", "memories_fts_change"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE IF EXISTS memories_fts_terms")
    db.execute("DROP TABLE IF EXISTS memories_fts")


def _count_terms(db: sqlite3.Connection, texts: Iterable[str], step: int) -> None:
    """Add (step +1) or remove (-1) the texts' terms (`memory.lexical.terms`) to `term_counts`."""
    counts = Counter(term for text in texts for term in set(terms(text)))
    db.executemany(
        "INSERT INTO term_counts (term, docs) VALUES (?, ?)"
        " ON CONFLICT (term) DO UPDATE SET docs = docs + excluded.docs",
        [(term, step * n) for term, n in counts.items()],
    )
    if step < 0:
        db.execute("DELETE FROM term_counts WHERE docs <= 0")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_create_memories,
    _m002_reflection_marks,
    _m003_importance_recency_index,
    _m004_full_text_index,
    _m005_supersession,
    _m006_term_counts,
]


class MemoryStore:
    """Memories of every run, in `root/memories.sqlite3` and `root/chroma/`."""

    def __init__(self, root: Path, embedder: Embedder) -> None:
        self.root = Path(root)
        self.embedder = embedder
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._collection: Any = None
        self._vector_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    # --- opening ---------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.root / "memories.sqlite3"
            try:
                db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                _migrate(db)
            except sqlite3.DatabaseError as exc:
                raise MemoryStoreError(
                    f"{path} is not a usable SQLite database ({exc}); move it aside to start a "
                    f"fresh memory, or restore it from a backup"
                ) from None
            self._db = db
        return self._db

    @property
    def collection(self) -> Any:
        if self._collection is None:
            import chromadb
            from chromadb.config import Settings

            client = chromadb.PersistentClient(
                path=str(self.root / "chroma"),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
            # embedding_function=None: we always pass our own vectors, so chroma never needs
            # (and never downloads) its default ONNX model.
            self._collection = client.get_or_create_collection(
                COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        return self._collection

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._collection = None
            self._vector_cache.clear()

    # --- writing ---------------------------------------------------------------------------

    def add(self, memory: NewMemory) -> MemoryRecord:
        """Store one memory (see `add_many`)."""
        return self.add_many([memory])[0]

    def add_many(
        self, memories: Sequence[NewMemory], *, vectors: np.ndarray | None = None
    ) -> list[MemoryRecord]:
        """Embed and store memories in one batch; existing ids are returned as stored.

        `vectors` (one unit-norm row per memory, in order) skips the embedder: for memories
        whose embedding is already known, and for benchmarks that need many memories fast.
        """
        if vectors is not None:
            vectors = _checked_vectors(vectors, len(memories))
        with self._lock:
            ids = [m.id or uuid.uuid4().hex[:12] for m in memories]
            existing = self.existing_ids(ids)
            fresh = [n for n, i in enumerate(ids) if i not in existing]
            self._check_supersedes(ids, memories)
            if fresh:
                now = time.time()
                rows = [(ids[n], memories[n]) for n in fresh]
                if vectors is None:
                    new_vectors = self.embedder.embed([m.text for _, m in rows])
                else:
                    new_vectors = vectors[fresh]
                fresh_ids = [i for i, _ in rows]
                self._upsert_vectors(fresh_ids, new_vectors)
                try:
                    self._insert_rows(rows, now)
                except Exception:
                    self.collection.delete(ids=fresh_ids)
                    raise
                # New memories are the most recent ones, which retrieval scores first.
                self._remember_vectors(fresh_ids[-VECTOR_CACHE:], new_vectors[-VECTOR_CACHE:])
            return self.get_many(ids)

    def _check_supersedes(self, ids: list[str], memories: Sequence[NewMemory]) -> None:
        """A new memory may supersede only memories stored before it (or earlier in the batch)."""
        wanted = {old for m in memories for old in m.supersedes}
        if not wanted:
            return
        stored = self.existing_ids(wanted)
        for n, m in enumerate(memories):
            for old in m.supersedes:
                if old not in stored and old not in ids[:n]:
                    raise ValueError(
                        f"memory {ids[n]!r} supersedes {old!r}, which is not stored before it; "
                        "a memory can only replace an older one"
                    )

    def _upsert_vectors(self, ids: list[str], vectors: np.ndarray) -> None:
        for start in range(0, len(ids), UPSERT_BATCH):
            end = start + UPSERT_BATCH
            self.collection.upsert(ids=ids[start:end], embeddings=vectors[start:end])

    def _insert_rows(self, fresh: list[tuple[str, NewMemory]], now: float) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM memories").fetchone()[0]
            for offset, (memory_id, m) in enumerate(fresh, start=1):
                created = m.created if m.created is not None else now
                db.execute(
                    "INSERT INTO memories (id, seq, kind, text, created, last_accessed, importance,"
                    " needs_rescore, evidence, run_id, artifacts, superseded, meta)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (
                        memory_id,
                        seq + offset,
                        m.kind.value,
                        m.text,
                        created,
                        created,
                        m.importance,
                        int(m.needs_rescore or m.importance is None),
                        json.dumps(m.evidence),
                        m.run_id,
                        json.dumps([str(a) for a in m.artifacts]),
                        json.dumps(m.meta),
                    ),
                )
                db.executemany(
                    "UPDATE memories SET superseded = 1, superseded_by = ? WHERE id = ?",
                    [(memory_id, old) for old in m.supersedes],
                )
            _count_terms(db, (m.text for _, m in fresh), +1)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def set_importance(self, memory_id: str, importance: int) -> None:
        if not 1 <= importance <= 10:
            raise ValueError(f"importance must be 1-10, got {importance}")
        self._update(
            "UPDATE memories SET importance = ?, needs_rescore = 0 WHERE id = ?",
            [(importance, memory_id)],
        )

    def touch(self, memory_ids: Iterable[str], when: float | None = None) -> None:
        """Set last_accessed (retrieval does this for what it returns)."""
        when = time.time() if when is None else when
        self._update(
            "UPDATE memories SET last_accessed = ? WHERE id = ?", [(when, i) for i in memory_ids]
        )

    def supersede(self, memory_ids: Iterable[str]) -> None:
        """Mark plan steps as replaced by a re-plan; they stay in the stream."""
        self._update("UPDATE memories SET superseded = 1 WHERE id = ?", [(i,) for i in memory_ids])

    def current_results_of(self, call: str) -> list[str]:
        """Ids of the stored results of a tool call (meta.call) that nothing supersedes yet."""
        rows = self.db.execute(
            "SELECT id FROM memories WHERE json_extract(meta, '$.call') = ?"
            " AND superseded_by IS NULL ORDER BY seq",
            (call,),
        )
        return [row[0] for row in rows]

    def forget(self, memory_id: str) -> MemoryRecord:
        """Delete one memory (row and vector) and return what it was."""
        with self._lock:
            record = self.get(memory_id)
            self.collection.delete(ids=[memory_id])
            self._vector_cache.pop(memory_id, None)
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
                _count_terms(db, [record.text], -1)
                # What the forgotten memory had replaced is current again (same transaction).
                db.execute(
                    "UPDATE memories SET superseded = 0, superseded_by = NULL"
                    " WHERE superseded_by = ?",
                    (memory_id,),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return record

    def set_mark(self, name: str, value: float) -> None:
        self._update("INSERT OR REPLACE INTO marks (name, value) VALUES (?, ?)", [(name, value)])

    def mark(self, name: str, default: float = 0.0) -> float:
        row = self.db.execute("SELECT value FROM marks WHERE name = ?", (name,)).fetchone()
        return row[0] if row else default

    def _update(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --- reading ---------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryRecord:
        records = self.get_many([memory_id], missing_ok=True)
        if not records:
            raise MemoryNotFound(memory_id)
        return records[0]

    def get_many(
        self, memory_ids: Sequence[str], *, missing_ok: bool = False
    ) -> list[MemoryRecord]:
        """Records in the order of `memory_ids`."""
        if not memory_ids:
            return []
        found: dict[str, MemoryRecord] = {}
        for chunk in _chunks(list(dict.fromkeys(memory_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT * FROM memories WHERE id IN ({marks})", chunk):
                record = _record(row)
                found[record.id] = record
        if not missing_ok:
            for memory_id in memory_ids:
                if memory_id not in found:
                    raise MemoryNotFound(memory_id)
        return [found[i] for i in memory_ids if i in found]

    def existing_ids(self, memory_ids: Iterable[str]) -> set[str]:
        return {r.id for r in self.get_many(list(memory_ids), missing_ok=True)}

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM memories").fetchone()[0]

    def list(
        self,
        *,
        kind: Kind | str | None = None,
        run_id: str | None = None,
        limit: int | None = 50,
        newest_first: bool = True,
        after_seq: int | None = None,
    ) -> list[MemoryRecord]:
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(Kind(kind).value)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        sql = "SELECT * FROM memories"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_record(row) for row in self.db.execute(sql, params)]

    def seq_of(self, memory_id: str) -> int:
        row = self.db.execute("SELECT seq FROM memories WHERE id = ?", (memory_id,)).fetchone()
        if row is None:
            raise MemoryNotFound(memory_id)
        return row[0]

    def scalars(self, memory_ids: Sequence[str] | None = None) -> list[ScalarRow]:
        """ScalarRows of the given memories, or of all by seq.

        What retrieval scores on, without building records (JSON parsing dominates that).
        Unknown ids are skipped; the order is not that of `memory_ids`.
        """
        sql = f"SELECT {SCALAR_COLUMNS} FROM memories"
        if memory_ids is None:
            return list(self.db.execute(sql + " ORDER BY seq"))
        rows: list[ScalarRow] = []
        for chunk in _chunks(list(dict.fromkeys(memory_ids)), 500):
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(f"{sql} WHERE id IN ({marks})", chunk)
        return rows

    def ranges(self) -> tuple[tuple[float, float], tuple[int, int]]:
        """((oldest, newest) last_accessed, (least, most) importance) over all memories.

        Unrated memories count as importance 0, as retrieval ranks them. Each bound is one
        index seek, so this stays cheap however large the store grows. ((0, 0), (0, 0)) when
        the store is empty.
        """
        row = self.db.execute(
            "SELECT (SELECT MIN(last_accessed) FROM memories),"
            " (SELECT MAX(last_accessed) FROM memories),"
            " (SELECT MIN(importance) FROM memories WHERE importance IS NOT NULL),"
            " (SELECT MAX(importance) FROM memories),"
            " EXISTS (SELECT 1 FROM memories WHERE importance IS NULL)"
        ).fetchone()
        oldest, newest, least, most, any_unrated = row
        least = 0 if any_unrated or least is None else least
        return (oldest or 0.0, newest or 0.0), (least, most or 0)

    def recent_at_importance(
        self, importance: int | None, n: int, *, since: float | None = None
    ) -> list[ScalarRow]:
        """Up to n memories rated `importance` (None: unrated), most recently accessed first.

        `since` keeps only those accessed at or after it. One range scan of the (importance,
        last_accessed) index, however many memories share the rating.
        """
        return list(
            self.db.execute(
                f"SELECT {SCALAR_COLUMNS} FROM memories"
                " WHERE importance IS ? AND last_accessed >= ? ORDER BY last_accessed DESC LIMIT ?",
                (importance, float("-inf") if since is None else since, n),
            )
        )

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many memories contain each term (a word, or two adjacent words joined by a space,
        as `memory.lexical.terms` splits text); terms no memory contains are absent. One index
        seek per term in `term_counts`."""
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(terms)), 500):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(
                    f"SELECT term, docs FROM term_counts WHERE term IN ({marks})", chunk
                )
            )
        return found

    def texts(self, memory_ids: Sequence[str]) -> dict[str, str]:
        """The text of each given memory, by id (unknown ids are skipped)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(memory_ids)), 500):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(f"SELECT id, text FROM memories WHERE id IN ({marks})", chunk)
            )
        return found

    def vectors(self, memory_ids: Sequence[str]) -> np.ndarray:
        """Stored embeddings, shape (len(ids), dim), in the order of `memory_ids`.

        The last VECTOR_CACHE vectors read or written are served from memory.
        """
        if not memory_ids:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            cache = self._vector_cache
            found: dict[str, np.ndarray] = {}
            for memory_id in dict.fromkeys(memory_ids):
                if memory_id in cache:
                    cache.move_to_end(memory_id)
                    found[memory_id] = cache[memory_id]
            unknown = [i for i in dict.fromkeys(memory_ids) if i not in found]
            if unknown:
                got = self.collection.get(ids=unknown, include=["embeddings"])
                by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
                missing = [i for i in unknown if i not in by_id]
                if missing:
                    raise MemoryStoreError(
                        f"{len(missing)} memories have no vector (first: {missing[0]}); the "
                        f"chroma folder under {self.root} is out of step with the database"
                    )
                fetched = np.asarray([by_id[i] for i in unknown], dtype=np.float32)
                found.update(zip(unknown, fetched, strict=True))
                self._remember_vectors(unknown[-VECTOR_CACHE:], fetched[-VECTOR_CACHE:])
            return np.stack([found[i] for i in memory_ids]).astype(np.float32, copy=False)

    def _remember_vectors(self, memory_ids: Sequence[str], vectors: np.ndarray) -> None:
        cache = self._vector_cache
        for memory_id, vector in zip(memory_ids, np.asarray(vectors, np.float32), strict=True):
            cache[memory_id] = vector
            cache.move_to_end(memory_id)
        while len(cache) > VECTOR_CACHE:
            cache.popitem(last=False)

    def vectors_of_all(self) -> tuple[list[str], np.ndarray]:
        """Every stored id and embedding (exact retrieval scores them all)."""
        got = self.collection.get(include=["embeddings"])
        if not got["ids"]:
            return [], np.zeros((0, 0), dtype=np.float32)
        return list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32)

    def nearest(self, query: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Approximate nearest neighbours by cosine similarity: [(id, similarity)]."""
        total = self.count()
        if total == 0:
            return []
        result = self.collection.query(
            query_embeddings=np.asarray(query, dtype=np.float32).reshape(1, -1),
            n_results=min(n, total),
            include=["distances"],
        )
        return [(i, 1.0 - d) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]


def _migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL)")
    applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for migration in MIGRATIONS:
        if migration.__name__ in applied:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            db.execute(
                "INSERT INTO migrations (name, applied) VALUES (?, ?)",
                (migration.__name__, time.time()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _record(row: tuple[Any, ...]) -> MemoryRecord:
    (
        memory_id,
        _seq,
        kind,
        text,
        created,
        last_accessed,
        importance,
        needs_rescore,
        evidence,
        run_id,
        artifacts,
        superseded,
        meta,
        superseded_by,
    ) = row
    return MemoryRecord(
        id=memory_id,
        kind=Kind(kind),
        text=text,
        created=created,
        last_accessed=last_accessed,
        importance=importance,
        needs_rescore=bool(needs_rescore),
        evidence=json.loads(evidence),
        run_id=run_id,
        artifacts=json.loads(artifacts),
        superseded=bool(superseded),
        meta=json.loads(meta),
        superseded_by=superseded_by,
    )


def _checked_vectors(vectors: np.ndarray, count: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise ValueError(
            f"expected {count} vectors as an ({count}, dim) array, got {vectors.shape}"
        )
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        # Relevance is a dot product, which is the cosine only for unit vectors.
        raise ValueError("vectors must be L2-normalised (unit length), as the embedder's are")
    return vectors


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
