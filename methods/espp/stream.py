"""The training stream: samples alternate same-class and other-class, the only use of labels."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def pair_stream(
    labels: np.ndarray, n_batches: int, batch_size: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (indices (batch_size,), y) for `n_batches` steps of `batch_size` parallel streams.

    The first sample of each stream is random (y = 0, no update). Then y alternates +1 (a random
    sample of the previous sample's class) and -1 (a random sample of another class).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"labels must hold at least 2 classes for the pair stream, got {classes}")
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1, got {batch_size}, {n_batches}")
    pools = [np.flatnonzero(labels == c) for c in classes]
    class_index = np.searchsorted(classes, labels)
    current = rng.integers(labels.size, size=batch_size)
    y = 0
    for _ in range(n_batches):
        if y != 0:
            prev = class_index[current]
            if y > 0:
                target = prev
            else:  # a uniformly drawn class other than the previous one
                shift = rng.integers(1, classes.size, size=batch_size)
                target = (prev + shift) % classes.size
            current = np.array([pools[c][rng.integers(pools[c].size)] for c in target])
        yield current, y
        y = 1 if y != 1 else -1
