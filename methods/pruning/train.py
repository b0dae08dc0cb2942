"""Training with a margin loss, closed-set accuracy, and verification (EER, TAR@FAR) on pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from methods.pruning.data import IdentitySet, augment
from methods.pruning.models import MarginHead

Progress = Callable[[float, str], None]


@dataclass
class TrainConfig:
    """Adam with a cosine decay; the margin head learns with the backbone."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    shift: int = 3  # augmentation: random translation in px (the face papers use random crops)
    seed: int = 0


def batches(
    data: IdentitySet, batch_size: int, generator: torch.Generator, shift: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled, augmented epoch."""
    order = torch.randperm(len(data), generator=generator)
    for i in range(0, len(data), batch_size):
        idx = order[i : i + batch_size]
        if len(idx) < 2:  # BatchNorm cannot train on a single image
            continue
        x = data.images[idx]
        yield (augment(x, generator, shift) if shift else x), data.labels[idx]


def make_optimizer(
    model: nn.Module, head: MarginHead, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """A fresh optimizer: pruning replaces parameters, so old state would point at dead tensors."""
    return torch.optim.Adam(
        [*model.parameters(), *head.parameters()], lr=lr, weight_decay=weight_decay
    )


def train(
    model: nn.Module,
    head: MarginHead,
    data: IdentitySet,
    config: TrainConfig,
    progress: Progress | None = None,
) -> list[float]:
    """Train model and head on `data`; returns the mean loss of each epoch."""
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {config.epochs}")
    generator = torch.Generator().manual_seed(config.seed)
    opt = make_optimizer(model, head, config.lr, config.weight_decay)
    n_steps = config.epochs * (len(data) // config.batch_size + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=n_steps + 10)
    losses = []
    model.train()
    head.train()
    for epoch in range(config.epochs):
        total, count = 0.0, 0
        for x, y in batches(data, config.batch_size, generator, config.shift):
            loss = head(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + float(loss.detach()) * len(y), count + len(y)
        losses.append(total / max(count, 1))
        if progress:
            progress((epoch + 1) / config.epochs, f"epoch {epoch + 1}: loss {losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Embeddings (N, D) of images, in eval mode."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def accuracy(model: nn.Module, head: MarginHead, data: IdentitySet) -> float:
    """Closed-set identification: the class whose weight has the largest cosine, no margin."""
    pred = head.cosine(embed(model, data.images)).argmax(1)
    return float((pred == data.labels).float().mean())


@dataclass
class Verification:
    """Verification on all pairs of a set: EER and TAR at fixed FARs (as fractions)."""

    eer: float
    tar_at_far: dict[float, float]
    n_genuine: int
    n_impostor: int


def verification(
    embeddings: torch.Tensor, labels: torch.Tensor, fars: tuple[float, ...] = (1e-2, 1e-3)
) -> Verification:
    """Cosine scores on every pair; EER where false accept and false reject rates cross."""
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(
            f"embeddings must be (N, D) with N == len(labels) ({len(labels)}), "
            f"got {tuple(embeddings.shape)}"
        )
    if not torch.isfinite(embeddings).all():
        raise ValueError("embeddings contains NaN or infinite values")
    e = torch.nn.functional.normalize(embeddings.double(), dim=1)
    sim = (e @ e.T).numpy()
    lab = labels.numpy()
    iu = np.triu_indices(len(lab), k=1)
    scores, same = sim[iu], (lab[:, None] == lab[None, :])[iu]
    genuine, impostor = np.sort(scores[same]), np.sort(scores[~same])
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("labels must contain at least two identities with two images each")
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    far = 1 - np.searchsorted(impostor, thresholds, side="left") / len(impostor)
    frr = np.searchsorted(genuine, thresholds, side="left") / len(genuine)
    i = int(np.argmin(np.abs(far - frr)))
    eer = float((far[i] + frr[i]) / 2)
    tar = {}
    for f in fars:
        thr = impostor[min(len(impostor) - 1, int(np.ceil((1 - f) * len(impostor))))]
        tar[f] = float((genuine > thr).mean())
    return Verification(eer, tar, len(genuine), len(impostor))
