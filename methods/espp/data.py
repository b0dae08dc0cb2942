"""Spike-train data sets: scikit-learn's digits, the timing-only task, and files on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from methods.espp.encoders import latency, poisson_rate

ENCODINGS = ("poisson", "latency")


@dataclass
class SpikeDataset:
    """Spike trains x (time, samples, channels) with integer labels (samples,)."""

    x: torch.Tensor
    labels: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        if self.x.dim() != 3:
            raise ValueError(
                f"x must be (time, samples, channels), got shape {tuple(self.x.shape)}"
            )
        self.labels = np.asarray(self.labels).astype(np.int64)
        if self.labels.shape != (self.x.shape[1],):
            raise ValueError(
                f"labels must have shape ({self.x.shape[1]},) to match x, got {self.labels.shape}"
            )
        if self.labels.size == 0:
            raise ValueError("the data set is empty")

    @property
    def n_steps(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.x.shape[2])

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1

    def __len__(self) -> int:
        return int(self.labels.size)

    def subset(self, idx: np.ndarray) -> SpikeDataset:
        idx = np.asarray(idx)
        return SpikeDataset(self.x[:, torch.from_numpy(idx)], self.labels[idx], self.name)

    def split(self, test_fraction: float = 0.3, seed: int = 0) -> tuple[SpikeDataset, SpikeDataset]:
        """Stratified (train, test) split."""
        from sklearn.model_selection import train_test_split

        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        train, test = train_test_split(
            np.arange(len(self)), test_size=test_fraction, random_state=seed, stratify=self.labels
        )
        return self.subset(np.sort(train)), self.subset(np.sort(test))


def digits_spikes(
    n_steps: int = 20, encoding: str = "poisson", gain: float = 0.8, seed: int = 0
) -> SpikeDataset:
    """scikit-learn's bundled 8x8 digits (1797 samples, 64 channels) as spike trains."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    values = digits.data / 16.0
    if encoding == "poisson":
        x = poisson_rate(values, n_steps, gain=gain, seed=seed)
    elif encoding == "latency":
        x = latency(values, n_steps)
    else:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return SpikeDataset(x, digits.target, "digits")


def timing_task(
    n_samples: int = 2000,
    n_classes: int = 10,
    n_channels: int = 64,
    n_steps: int = 40,
    jitter: int = 1,
    drop: float = 0.1,
    noise: float = 0.01,
    seed: int = 0,
) -> SpikeDataset:
    """Every channel fires once, at a time set by the class; only timing tells classes apart.

    Each spike moves by up to +-jitter steps and is dropped with probability `drop`; noise
    spikes appear with probability `noise` per channel and step. Spike counts carry no class.
    """
    if n_samples < n_classes or n_classes < 2 or n_channels < 1 or n_steps < 2:
        raise ValueError(
            f"need n_samples >= n_classes >= 2, n_channels >= 1, n_steps >= 2; got "
            f"{n_samples}, {n_classes}, {n_channels}, {n_steps}"
        )
    if not (0 <= drop < 1 and 0 <= noise < 1 and jitter >= 0):
        raise ValueError(
            f"need 0 <= drop, noise < 1 and jitter >= 0; got {drop}, {noise}, {jitter}"
        )
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, n_steps, size=(n_classes, n_channels))
    labels = np.arange(n_samples) % n_classes
    rng.shuffle(labels)
    times = patterns[labels] + rng.integers(-jitter, jitter + 1, size=(n_samples, n_channels))
    times = np.clip(times, 0, n_steps - 1)
    keep = rng.random((n_samples, n_channels)) >= drop
    x = (rng.random((n_steps, n_samples, n_channels)) < noise).astype(np.float32)
    rows, cols = np.nonzero(keep)
    x[times[rows, cols], rows, cols] = 1.0
    return SpikeDataset(torch.from_numpy(x), labels, "timing")


def load_spike_file(path: str | Path, n_steps: int | None = None) -> SpikeDataset:
    """A data set a user has on disk (N-MNIST, SHD, ... converted to .npz; never downloaded).

    Two layouts: dense, `spikes` (samples, time, channels) plus `labels`; or events, `sample`,
    `time` (any unit), `channel` (one entry per event) plus `labels`, binned into `n_steps`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {path} does not exist")
    if path.suffix != ".npz":
        raise ValueError(f"path must be a .npz file (dense or event layout), got {path.name}")
    with np.load(path) as f:
        keys = set(f.files)
        if "labels" not in keys:
            raise ValueError(f"{path.name} has no 'labels' array (found {sorted(keys)})")
        labels = f["labels"]
        if "spikes" in keys:
            dense = np.asarray(f["spikes"], dtype=np.float32)
            if dense.ndim != 3:
                raise ValueError(f"'spikes' must be (samples, time, channels), got {dense.shape}")
            x = torch.from_numpy(np.ascontiguousarray(dense.transpose(1, 0, 2)))
        elif {"sample", "time", "channel"} <= keys:
            if n_steps is None or n_steps < 1:
                raise ValueError("n_steps (>= 1) is needed to bin an event file")
            sample, time, channel = (np.asarray(f[k]) for k in ("sample", "time", "channel"))
            span = float(time.max()) if time.size and time.max() > 0 else 1.0
            bins = np.minimum((time / span * n_steps).astype(np.int64), n_steps - 1)
            dense = np.zeros((n_steps, labels.size, int(channel.max()) + 1), dtype=np.float32)
            dense[bins, sample.astype(np.int64), channel.astype(np.int64)] = 1.0
            x = torch.from_numpy(dense)
        else:
            raise ValueError(
                f"{path.name} needs 'spikes' or 'sample'+'time'+'channel' arrays, "
                f"found {sorted(keys)}"
            )
    return SpikeDataset(x, labels, path.stem)
