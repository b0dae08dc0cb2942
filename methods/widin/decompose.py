"""WIDIn's decomposition and stage 2: remove the worded domain part, then learn to predict it.

The domain-specific part of an image is estimated in language space as Delta = t_x - t_c (its
wording minus its class sentence) and removed: x_e = G(x) - k * Delta. Stage 2 trains a
disentangler F_D and classifier F_C on source images only, with cross-entropy on F_C(F_D(x))
and a cosine pull of F_D(x) towards x_e; at test time only E_v -> F_D -> F_C runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def decompose(img_text: np.ndarray, t_x: np.ndarray, t_c: np.ndarray, k: float) -> np.ndarray:
    """x_e = G(x) - k (t_x - t_c); all (N, dim) rows in the text space."""
    if not (img_text.shape == t_x.shape == t_c.shape):
        raise ValueError(
            f"img_text {img_text.shape}, t_x {t_x.shape} and t_c {t_c.shape} must share a shape"
        )
    return (img_text - k * (t_x - t_c)).astype(np.float32)


class Stage2(nn.Module):
    """F_D (features -> text-space embedding) then F_C (linear classifier)."""

    def __init__(self, dim_in: int, dim_out: int, n_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.disentangler = nn.Sequential(
            nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, dim_out)
        )
        self.classifier = nn.Linear(dim_out, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.disentangler(x)
        return z, self.classifier(z)


@dataclass(frozen=True)
class Stage2Config:
    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 1e-3
    lambda_feat: float = 1.0
    hidden: int = 256
    k_grid: tuple[float, ...] = (0.5, 1.0, 2.0)


class Standardizer:
    """Feature scaling fitted on the source only (so nothing is learned from targets)."""

    def __init__(self, feats: np.ndarray) -> None:
        self.mean = feats.mean(0)
        self.std = feats.std(0) + 1e-6

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        return ((feats - self.mean) / self.std).astype(np.float32)


def train_stage2(
    feats: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    config: Stage2Config,
    target: np.ndarray | None = None,
    dim_out: int = 384,
    seed: int = 0,
) -> Stage2:
    """Full-batch training on standardised source features; no target means an MLP probe."""
    if target is not None and target.shape[0] != feats.shape[0]:
        raise ValueError(f"target rows ({target.shape[0]}) must match feats ({feats.shape[0]})")
    torch.manual_seed(seed)
    model = Stage2(feats.shape[1], target.shape[1] if target is not None else dim_out, n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x, y = torch.from_numpy(feats), torch.from_numpy(labels)
    goal = None if target is None else torch.from_numpy(target)
    for _ in range(config.epochs):
        z, logits = model(x)
        loss = F.cross_entropy(logits, y)
        if goal is not None and config.lambda_feat > 0:
            loss = loss + config.lambda_feat * (1 - F.cosine_similarity(z, goal, dim=1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: Stage2, feats: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(feats))[1].argmax(1).numpy()


@torch.no_grad()
def disentangle(model: Stage2, feats: np.ndarray) -> np.ndarray:
    """F_D(x): the domain-invariant embedding, (N, dim_text)."""
    return model(torch.from_numpy(feats))[0].numpy()
