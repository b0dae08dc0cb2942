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


def split_validation(
    sources: np.ndarray, seed: int, share: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Split training digit indices into fit and validation digits (disjoint), for choices
    made without looking at the test digits."""
    if not 0 < share < 1:
        raise ValueError(f"share must lie strictly between 0 and 1, got {share}")
    order = np.random.default_rng(seed + 7).permutation(np.asarray(sources))
    cut = int(round(len(order) * (1 - share)))
    if cut < 2 or len(order) - cut < 2:
        raise ValueError(f"sources: {len(order)} digits are too few to split with share {share}")
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
    """`count` canvases, each with one digit from `sources` and `fragments` crops of others.

    Cheap enough (about 0.1 ms a canvas) to draw fresh canvases every epoch.
    """
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
    index = torch.as_tensor(np.asarray(sources))
    pool = (
        F.interpolate(all_images[index], size=(digit_size, digit_size), mode="bilinear")
        .clamp(0, 1)[:, 0]
        .numpy()
    )
    labels = all_labels[index]
    # Every random draw up front, then numpy slices: the pasting loop is the only Python work.
    picks = rng.integers(len(sources), size=count)
    others = rng.integers(len(sources), size=(count, fragments))
    crops = rng.integers(digit_size - fragment_size + 1, size=(count, fragments, 2))
    spots = rng.integers(canvas - fragment_size + 1, size=(count, fragments, 2))
    places = rng.integers(canvas - digit_size + 1, size=(count, 2))
    images = np.zeros((count, canvas, canvas), dtype=np.float32)
    f, d = fragment_size, digit_size
    for i in range(count):
        img = images[i]
        for j in range(fragments):
            (fy, fx), (y, x) = crops[i, j], spots[i, j]
            piece = pool[others[i, j], fy : fy + f, fx : fx + f]
            np.maximum(img[y : y + f, x : x + f], piece, out=img[y : y + f, x : x + f])
        y, x = places[i]
        np.maximum(img[y : y + d, x : x + d], pool[picks[i]], out=img[y : y + d, x : x + d])
    boxes = torch.as_tensor(np.concatenate([places, places + digit_size], axis=1))
    return ClutteredDigits(
        torch.from_numpy(images)[:, None], labels[torch.as_tensor(picks)], boxes.long()
    )
