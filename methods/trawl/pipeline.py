"""TRAWL end to end on one split: backbone, adapter, projection, enhanced backbone, and the
warm and cold metrics of each against pure CF and a no-adapter content baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.trawl.data import RecData, Split
from methods.trawl.metrics import rank_metrics
from methods.trawl.models import (
    BPRMF,
    Adapter,
    AdapterConfig,
    LightGCN,
    TrainConfig,
    _bpr_batches,
    fit_knowledge_taste,
    fit_knowledge_weight,
    train_adapter,
    train_backbone,
)


@dataclass
class TrawlConfig:
    """One TRAWL run: backbone, adapter, and the two short stages that follow them."""

    backbone: str = "mf"
    train: TrainConfig = field(default_factory=TrainConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    projection_epochs: int = 20  # fit W so that <user, W adapter(knowledge)> ranks alone
    taste_epochs: int = 40  # users' taste vectors over the projected knowledge
    taste_reg: float = 1e-2
    stage_batch_size: int = 2048  # BPR batch of the projection and taste stages
    k: int = 20


@dataclass
class TrawlModel:
    """What a trained TRAWL run keeps: user vectors, ID item vectors and adapted knowledge."""

    users: torch.Tensor  # (n_users, d), of the enhanced model
    item_ids: torch.Tensor  # (n_items, d), zero for cold items
    knowledge: torch.Tensor  # (n_items, d), W adapter(sem)
    cold_items: np.ndarray

    def item_vectors(self) -> torch.Tensor:
        return self.item_ids + self.knowledge

    def scores(self) -> np.ndarray:
        return (self.users @ self.item_vectors().T).numpy()  # (n_users, n_items)


@dataclass
class TrawlResult:
    """Metrics per system on warm and cold items, and the trained model."""

    metrics: dict[str, dict[str, float]]
    model: TrawlModel


def _fit_projection(users, adapted, train, warm_items, epochs, seed, batch_size) -> nn.Linear:
    """W (d x d) so that <user, W a_i> ranks items from knowledge alone (users frozen)."""
    torch.manual_seed(seed)
    d = adapted.shape[1]
    proj = nn.Linear(d, d, bias=False)
    scale = float(users.norm(dim=1).mean() / adapted.norm(dim=1).mean().clamp_min(1e-6))
    with torch.no_grad():
        proj.weight.copy_(torch.eye(d) * scale)
    opt = torch.optim.Adam(proj.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for u, pos, neg in _bpr_batches(train, warm_items, batch_size, rng):
            k = proj(adapted)
            loss = -F.logsigmoid((users[u] * (k[pos] - k[neg])).sum(-1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return proj


def content_knn_scores(
    sem: np.ndarray, train: np.ndarray, n_users: int, *, center: bool = False
) -> np.ndarray:
    """The no-adapter baseline: cosine between an item's knowledge and the mean knowledge of the
    user's training items. `center` first removes the mean vector, which a sentence encoder's
    vectors share (without it every item looks alike)."""
    if center:
        sem = sem - sem.mean(axis=0)
    unit = sem / np.linalg.norm(sem, axis=1, keepdims=True).clip(1e-12)
    profile = np.zeros((n_users, sem.shape[1]), dtype=np.float64)
    np.add.at(profile, train[:, 0], unit[train[:, 1]])
    profile /= np.linalg.norm(profile, axis=1, keepdims=True).clip(1e-12)
    return profile @ unit.T


def run_trawl(
    data: RecData,
    split: Split,
    sem: np.ndarray,
    config: TrawlConfig | None = None,
    *,
    seed: int = 0,
    backbone: BPRMF | LightGCN | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> TrawlResult:
    """Train TRAWL on `split` with item knowledge vectors `sem` (n_items, d_sem); report
    Recall/NDCG@k for warm items (backbone vs enhanced) and for cold items, ranked among cold
    items (pure CF vs content kNN vs TRAWL). A `backbone` already trained on this split is
    reused (comparing knowledge sources on one backbone); it is not modified."""
    config = config or TrawlConfig()
    sem = np.asarray(sem, dtype=np.float32)
    if sem.ndim != 2 or len(sem) != data.n_items:
        raise ValueError(f"sem must be (n_items={data.n_items}, d), got shape {sem.shape}")
    if not np.isfinite(sem).all():
        raise ValueError("sem holds NaN or infinite values")
    report = progress or (lambda f, m: None)
    k = config.k
    if backbone is None:
        backbone = train_backbone(
            config.backbone,
            data.n_users,
            data.n_items,
            split.train,
            split.warm_items,
            config.train,
            seed,
            lambda f, m: report(0.5 * f, m),
        )
    with torch.no_grad():
        users, items = (x.detach().clone() for x in backbone.embeddings())
    if users.shape[0] != data.n_users or items.shape[0] != data.n_items:
        raise ValueError(
            f"backbone has {users.shape[0]} users and {items.shape[0]} items, data has "
            f"{data.n_users} and {data.n_items}"
        )
    metrics = {
        "backbone_warm": rank_metrics(
            (users @ items.T).numpy(), split.warm_test, split.warm_items, split.train, k
        ),
        # An untrained ID embedding is all pure CF has for a cold item: a random vector.
        "pure_cf_cold": rank_metrics(
            (users @ items.T).numpy(), split.cold_test, split.cold_items, None, k
        ),
        "knn_cold": rank_metrics(
            content_knn_scores(sem, split.train, data.n_users),
            split.cold_test,
            split.cold_items,
            None,
            k,
        ),
        "knn_centered_cold": rank_metrics(
            content_knn_scores(sem, split.train, data.n_users, center=True),
            split.cold_test,
            split.cold_items,
            None,
            k,
        ),
    }
    sem_t = torch.as_tensor(sem)
    adapter = train_adapter(
        sem_t,
        users,
        items,
        split.train,
        split.warm_items,
        config.adapter,
        seed,
        lambda f, m: report(0.5 + 0.3 * f, m),
    )
    with torch.no_grad():
        adapted = adapter(sem_t)
    report(0.8, "projection")
    proj = _fit_projection(
        users,
        adapted,
        split.train,
        split.warm_items,
        config.projection_epochs,
        seed,
        config.stage_batch_size,
    )
    with torch.no_grad():
        knowledge = proj(adapted)
    report(0.85, "knowledge taste")
    taste = fit_knowledge_taste(
        users,
        knowledge,
        split.train,
        split.warm_items,
        config.taste_epochs,
        config.taste_reg,
        seed=seed,
        batch_size=config.stage_batch_size,
    )
    weight = fit_knowledge_weight(
        users @ items.T, taste @ knowledge.T, split.train, split.warm_items, seed=seed
    )
    knowledge = weight * knowledge
    ids = items.clone()
    ids[torch.as_tensor(split.cold_items)] = 0.0  # a cold item has no ID part
    d, d_k = ids.shape[1], knowledge.shape[1]
    model = TrawlModel(
        torch.cat([users, taste], 1),  # (n_users, d + d_k): CF vector ; knowledge taste
        F.pad(ids, (0, d_k)),  # [ID ; 0]
        F.pad(knowledge, (d, 0)),  # [0 ; weight W adapter(knowledge)]
        split.cold_items,
    )
    metrics["trawl_cold"] = rank_metrics(model.scores(), split.cold_test, split.cold_items, None, k)
    metrics["trawl_warm"] = rank_metrics(
        model.scores(), split.warm_test, split.warm_items, split.train, k
    )
    report(1.0, "done")
    return TrawlResult(metrics, model)


__all__ = ["Adapter", "TrawlConfig", "TrawlResult", "content_knn_scores", "run_trawl"]
