"""The uni-modal image encoder: a small CNN trained with SimCLR on unlabelled source images."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Progress = Callable[[float, str], None]


class SmallCNN(nn.Module):
    """Three stride-2 conv blocks and global pooling: about 0.1M parameters for 32x32 RGB."""

    def __init__(self, width: int = 32, dim: int = 128) -> None:
        super().__init__()
        chans = [3, width, 2 * width, dim]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans, chans[1:], strict=False):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        self.dim = dim
        self.width = width

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, dim)
        return self.body(images).mean(dim=(2, 3))


@dataclass(frozen=True)
class SimCLRConfig:
    epochs: int = 20
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.2
    width: int = 32
    dim: int = 128


def geometric_augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random scale, rotation and shift; colours untouched (they are the style for a caption)."""
    b = len(images)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=gen)

    scale = uniform(0.7, 1.0, 1)  # a crop of 49-100% of the area, resized back
    angle = uniform(-0.2, 0.2, 1)
    shift = uniform(-0.15, 0.15, 2)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.cat([cos, -sin, shift[:, :1]], 1), torch.cat([sin, cos, shift[:, 1:]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """SimCLR's views for small images: random resized crop, colour jitter, grayscale."""
    b = len(images)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=gen)

    out = geometric_augment(images, gen)
    out = out * uniform(0.6, 1.4, 1, 1, 1)  # brightness
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * uniform(0.6, 1.4, 1, 1, 1) + mean  # contrast
    gray = out.mean(dim=1, keepdim=True)
    out = (out - gray) * uniform(0.0, 1.6, 1, 1, 1) + gray  # saturation
    out = torch.where(uniform(0, 1, 1, 1, 1) < 0.2, out.mean(dim=1, keepdim=True), out)
    return out.clamp(0.0, 1.0)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the 2B - 1 other views."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(-math.inf)
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def train_simclr(
    images: np.ndarray,
    config: SimCLRConfig = SimCLRConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> SmallCNN:
    """Train a SmallCNN on unlabelled images (N, 3, H, W) with SimCLR; returns it in eval mode."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {images.shape}")
    if len(images) < 2:
        raise ValueError(f"images needs at least 2 images for contrastive pairs, got {len(images)}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    encoder = SmallCNN(config.width, config.dim)
    head = nn.Sequential(nn.Linear(config.dim, config.dim), nn.ReLU(), nn.Linear(config.dim, 64))
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    data = torch.from_numpy(images)
    batch = min(config.batch_size, len(data))
    steps_per_epoch = max(1, len(data) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs * steps_per_epoch)
    encoder.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for step in range(steps_per_epoch):
            x = data[order[step * batch : (step + 1) * batch]]
            loss = nt_xent(
                head(encoder(augment(x, gen))), head(encoder(augment(x, gen))), config.temperature
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if progress:
            progress(
                (epoch + 1) / config.epochs,
                f"SimCLR epoch {epoch + 1}: {total / steps_per_epoch:.3f}",
            )
    return encoder.eval()


@torch.no_grad()
def embed_images(encoder: nn.Module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Encoder features (N, dim) for images (N, 3, H, W), in eval mode."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {images.shape}")
    encoder.eval()
    parts = [
        encoder(torch.from_numpy(images[i : i + batch_size])).numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)
