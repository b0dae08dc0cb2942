"""Spike encoders: values in [0, 1] to (time, samples, channels) spike trains."""

from __future__ import annotations

import numpy as np
import torch


def _check_values(values: np.ndarray, n_steps: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"values must be a non-empty (samples, channels) array, got {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or inf")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(f"values must lie in [0, 1], got [{values.min()}, {values.max()}]")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return values


def poisson_rate(
    values: np.ndarray, n_steps: int, gain: float = 0.8, seed: int = 0
) -> torch.Tensor:
    """Bernoulli spikes with probability gain * value at every step."""
    values = _check_values(values, n_steps)
    if not 0 < gain <= 1:
        raise ValueError(f"gain must be in (0, 1], got {gain}")
    rng = np.random.default_rng(seed)
    spikes = rng.random((n_steps, *values.shape), dtype=np.float32) < gain * values
    return torch.from_numpy(spikes.astype(np.float32))


def latency(values: np.ndarray, n_steps: int, threshold: float = 0.05) -> torch.Tensor:
    """One spike per channel, earlier for larger values; values below threshold stay silent."""
    values = _check_values(values, n_steps)
    times = np.round((1.0 - values) * (n_steps - 1)).astype(np.int64)
    spikes = np.zeros((n_steps, *values.shape), dtype=np.float32)
    rows, cols = np.nonzero(values >= threshold)
    spikes[times[rows, cols], rows, cols] = 1.0
    return torch.from_numpy(spikes)
