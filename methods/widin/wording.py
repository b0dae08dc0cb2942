"""WIDIn stage 1: map image features into the text space and word each image with a pseudo-word.

A projector F_p turns an image feature x into one token v = F_p(x) of the text encoder's
input space; the wording t_x = E_t("an image of the digit [V]" with v at [V]) is trained with
instance alignment (InfoNCE between t_x and the image's own text-space embedding, so a wording
names *its* image) and class alignment (t_x classified among the class sentences t_c).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.widin.text import TextTower

Progress = Callable[[float, str], None]


class TextMap(nn.Module):
    """G: image features to the text encoder's sentence space (the uni-modal bridge)."""

    def __init__(self, dim_in: int, dim_text: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, dim_text))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, dim_in) -> (B, dim_text), unit
        return F.normalize(self.net(x), dim=1)


class Projector(nn.Module):
    """F_p: an image feature to a pseudo-word token, centred on the vocabulary's mean word."""

    def __init__(self, dim_in: int, word_mean: torch.Tensor, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, len(word_mean))
        )
        self.register_buffer("word_mean", word_mean.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, dim_in) -> (B, dim_word)
        return self.word_mean + self.net(x)


@dataclass(frozen=True)
class WordingConfig:
    template: str = "an image of the digit [V]"
    class_template: str = "an image of the digit {}"
    map_epochs: int = 60
    steps: int = 80
    batch_size: int = 64
    lr: float = 1e-3
    temperature: float = 0.07
    lambda_ia: float = 1.0  # 0 is the "without instance alignment" ablation
    lambda_ca: float = 0.3


def class_embeddings(text: TextTower, class_names: tuple[str, ...], template: str) -> torch.Tensor:
    """t_c for every class: the sentence embedding of the class prompt, (C, dim)."""
    if "{}" not in template:
        raise ValueError(f"class_template must contain '{{}}' for the class name, got {template!r}")
    return text.encode([template.format(name) for name in class_names])


def train_text_map(
    feats: np.ndarray, labels: np.ndarray, t_c: torch.Tensor, config: WordingConfig, seed: int = 0
) -> TextMap:
    """Fit G so that G(x) is nearest to its class sentence (contrastive over the classes)."""
    _check_features(feats, labels)
    torch.manual_seed(seed)
    g = TextMap(feats.shape[1], t_c.shape[1])
    logit_scale = nn.Parameter(torch.tensor(np.log(1 / config.temperature), dtype=torch.float32))
    opt = torch.optim.AdamW([*g.parameters(), logit_scale], lr=config.lr, weight_decay=1e-4)
    x, y = torch.from_numpy(feats), torch.from_numpy(labels)
    for _ in range(config.map_epochs):
        loss = F.cross_entropy(logit_scale.exp() * g(x) @ t_c.T, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return g.eval()


def train_wording(
    feats: np.ndarray,
    labels: np.ndarray,
    text_map: TextMap,
    t_c: torch.Tensor,
    text: TextTower,
    config: WordingConfig,
    seed: int = 0,
    progress: Progress | None = None,
) -> Projector:
    """Train F_p with L_ia (instance InfoNCE, t_x vs G(x)) + lambda_ca * L_ca (t_x vs t_c)."""
    _check_features(feats, labels)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    word_mean = text.word_embeddings.detach().mean(0)
    proj = Projector(feats.shape[1], word_mean)
    logit_scale = nn.Parameter(torch.tensor(np.log(1 / config.temperature), dtype=torch.float32))
    opt = torch.optim.AdamW([*proj.parameters(), logit_scale], lr=config.lr, weight_decay=1e-4)
    x_all, y_all = torch.from_numpy(feats), torch.from_numpy(labels)
    with torch.no_grad():
        img_all = text_map(x_all)
    batch = min(config.batch_size, len(feats))
    for step in range(config.steps):
        rows = torch.randperm(len(feats), generator=gen)[:batch]
        t_x = text.word(config.template, proj(x_all[rows]))
        scale = logit_scale.exp().clamp(max=100.0)
        loss = torch.zeros(())
        if config.lambda_ia > 0:
            sim = scale * t_x @ img_all[rows].T
            target = torch.arange(len(rows))
            l_ia = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
            loss = loss + config.lambda_ia * l_ia
        if config.lambda_ca > 0:
            loss = loss + config.lambda_ca * F.cross_entropy(scale * t_x @ t_c.T, y_all[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress and (step + 1) % 10 == 0:
            progress((step + 1) / config.steps, f"wording step {step + 1}: {loss.item():.3f}")
    return proj.eval()


@torch.no_grad()
def word_images(
    projector: Projector, feats: np.ndarray, text: TextTower, template: str, batch: int = 256
) -> np.ndarray:
    """t_x (N, dim_text) for image features (N, dim_in)."""
    x = torch.from_numpy(feats)
    parts = [text.word(template, projector(x[i : i + batch])) for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy()


def _check_features(feats: np.ndarray, labels: np.ndarray) -> None:
    if feats.ndim != 2:
        raise ValueError(f"feats must have shape (N, dim), got {feats.shape}")
    if len(feats) == 0:
        raise ValueError("feats is empty")
    if len(labels) != len(feats):
        raise ValueError(f"labels ({len(labels)}) must match feats ({len(feats)})")
    if not np.isfinite(feats).all():
        raise ValueError("feats contains NaN or infinite values")
