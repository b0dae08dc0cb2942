"""Full-ranking Recall@K and NDCG@K over a candidate set, with each user's training items masked."""

from __future__ import annotations

import numpy as np


def rank_metrics(
    scores: np.ndarray,
    test: np.ndarray,
    candidates: np.ndarray,
    seen: np.ndarray | None = None,
    k: int = 20,
) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over users with at least one test item among `candidates`.

    `scores` (n_users, n_items); `test` and `seen` are (n, 2) (user, item) pairs; `seen` items
    (training positives) are never ranked. Recall divides hits by the user's test-item count;
    NDCG's ideal ranking puts min(count, k) hits first."""
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_users, n_items), got shape {scores.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values")
    n_users, n_items = scores.shape
    allowed = np.zeros(n_items, dtype=bool)
    allowed[candidates] = True
    test = test[allowed[test[:, 1]]]
    if len(test) == 0:
        raise ValueError("no test pair falls among the candidates")
    masked = np.where(allowed[None, :], scores, -np.inf)
    if seen is not None and len(seen):
        masked[seen[:, 0], seen[:, 1]] = -np.inf
    users = np.unique(test[:, 0])
    relevant = np.zeros((len(users), n_items), dtype=bool)
    row_of = np.full(n_users, -1)
    row_of[users] = np.arange(len(users))
    relevant[row_of[test[:, 0]], test[:, 1]] = True
    name, k = k, min(k, len(candidates))
    sub = masked[users]
    top = np.argpartition(-sub, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(sub, top, axis=1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, axis=1)  # (n_eval_users, k), best first
    hits = np.take_along_axis(relevant, top, axis=1)
    n_rel = relevant.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts).sum(axis=1)
    idcg = np.cumsum(discounts)[np.minimum(n_rel, k) - 1]
    return {
        f"recall@{name}": float((hits.sum(axis=1) / n_rel).mean()),
        f"ndcg@{name}": float((dcg / idcg).mean()),
        "users": int(len(users)),
    }
