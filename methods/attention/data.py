"""Cluttered digits: a scikit-learn digit pasted at a random place on a canvas full of fragments.

The task attention should help with: the label depends on one small region, and the rest of the
canvas holds pieces of other digits that look like strokes but carry no label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ClutteredDigits:
    """Images (N, 1, S, S) in [0, 1], labels (N,), and the digit's box (N, 4) as y0, x0, y1, x1."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # ships with scikit-learn; no download

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    return images, torch.tensor(data.target, dtype=torch.long)


def split_sources(seed: int, test_share: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Indices of scikit-learn digits for training and for testing (disjoint)."""
    order = np.random.default_rng(seed).permutation(1797)
    cut = int(round(1797 * (1 - test_share)))
    return order[:cut], order[cut:]


def make_cluttered(
    count: int,
    sources: np.ndarray,
    seed: int,
    canvas: int = 40,
    digit_size: int = 12,
    fragments: int = 6,
    fragment_size: int = 6,
) -> ClutteredDigits:
    """`count` canvases, each with one digit from `sources` and `fragments` crops of others."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if len(sources) < 2:
        raise ValueError(f"sources must hold at least 2 digit indices, got {len(sources)}")
    if not fragment_size <= digit_size <= canvas:
        raise ValueError(
            f"need fragment_size <= digit_size <= canvas, got "
            f"{fragment_size}, {digit_size}, {canvas}"
        )
    rng = np.random.default_rng(seed)
    all_images, all_labels = _digits()
    pool = F.interpolate(
        all_images[torch.as_tensor(sources)], size=(digit_size, digit_size), mode="bilinear"
    ).clamp(0, 1)
    labels = all_labels[torch.as_tensor(sources)]
    images = torch.zeros(count, 1, canvas, canvas)
    boxes = torch.zeros(count, 4, dtype=torch.long)
    picks = rng.integers(len(sources), size=count)
    for i, pick in enumerate(picks):
        for _ in range(fragments):
            other = pool[rng.integers(len(sources)), 0]
            fy, fx = rng.integers(digit_size - fragment_size + 1, size=2)
            piece = other[fy : fy + fragment_size, fx : fx + fragment_size]
            y, x = rng.integers(canvas - fragment_size + 1, size=2)
            region = images[i, 0, y : y + fragment_size, x : x + fragment_size]
            torch.maximum(region, piece, out=region)
        y, x = rng.integers(canvas - digit_size + 1, size=2)
        region = images[i, 0, y : y + digit_size, x : x + digit_size]
        torch.maximum(region, pool[pick, 0], out=region)
        boxes[i] = torch.tensor([y, x, y + digit_size, x + digit_size])
    return ClutteredDigits(images, labels[torch.as_tensor(picks)], boxes)
