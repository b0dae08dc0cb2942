"""Readers for neuromorphic data sets a user already has on disk: N-MNIST and SHD (never fetched).

- N-MNIST (Orchard et al., 2015): a folder with `Train/` and `Test/`, each holding one folder per
  digit of `.bin` files. A file is a list of 5-byte events: x, y, then one bit of polarity and
  23 bits of timestamp in microseconds. Channels are (polarity, y, x) on the 34 x 34 sensor.
- SHD, the Spiking Heidelberg Digits (Cramer et al., 2020): one `.h5` file per split with
  `spikes/times` (seconds) and `spikes/units` (0-699) per sample, and `labels` (20 classes).
  Reading it needs h5py, the optional extra `pip install 'ponder[snn-data]'`.

Both bin every sample's events into `n_steps` equal slices of `duration_s` (the reference
repository's choice: 300 ms for N-MNIST, 1 s for SHD); an event after the window is dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.espp.data import SpikeDataset

NMNIST_SIDE = 34
NMNIST_CHANNELS = 2 * NMNIST_SIDE * NMNIST_SIDE
SHD_CHANNELS = 700


def read_nmnist_events(path: str | Path) -> np.ndarray:
    """One N-MNIST `.bin` file as an (events, 4) int64 array of x, y, polarity, time (us)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(
            f"{path} is not an N-MNIST event file: its size ({raw.size} bytes) is not a "
            "multiple of 5"
        )
    b = raw.reshape(-1, 5).astype(np.int64)
    polarity = b[:, 2] >> 7
    time_us = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    events = np.stack([b[:, 0], b[:, 1], polarity, time_us], axis=1)
    if events.size and (events[:, 0].max() >= NMNIST_SIDE or events[:, 1].max() >= NMNIST_SIDE):
        raise ValueError(f"{path} has addresses outside the 34 x 34 N-MNIST sensor")
    return events


def load_nmnist(
    root: str | Path,
    split: str = "Test",
    n_steps: int = 100,
    duration_s: float = 0.3,
    max_per_class: int | None = None,
) -> SpikeDataset:
    """N-MNIST from its unpacked folder: `root/<split>/<digit>/*.bin`, binned to n_steps."""
    _check_binning(n_steps, duration_s)
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"root must hold the unpacked N-MNIST folders; {folder} does not exist "
            "(expected root/Train and root/Test with one folder per digit)"
        )
    files: list[tuple[Path, int]] = []
    for digit in range(10):
        found = sorted((folder / str(digit)).glob("*.bin"))[:max_per_class]
        files += [(f, digit) for f in found]
    if not files:
        raise ValueError(f"no .bin files under {folder}/<digit>/ (digits 0-9)")
    x = torch.zeros(n_steps, len(files), NMNIST_CHANNELS)
    for n, (path, _) in enumerate(files):
        ev = read_nmnist_events(path)
        channel = (ev[:, 2] * NMNIST_SIDE + ev[:, 1]) * NMNIST_SIDE + ev[:, 0]
        _bin_into(x, n, ev[:, 3] * 1e-6, channel, n_steps, duration_s)
    return SpikeDataset(x, np.array([d for _, d in files]), f"nmnist-{split.lower()}")


def load_shd(
    path: str | Path,
    n_steps: int = 100,
    duration_s: float = 1.0,
    max_samples: int | None = None,
) -> SpikeDataset:
    """The Spiking Heidelberg Digits from one of its `.h5` files, binned to n_steps."""
    _check_binning(n_steps, duration_s)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {path} does not exist (expected an SHD .h5 file)")
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "reading SHD's .h5 files needs h5py: pip install 'ponder[snn-data]'"
        ) from None
    with h5py.File(path, "r") as f:
        missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in f]
        if missing:
            raise ValueError(f"{path.name} is not an SHD file: it has no {', '.join(missing)}")
        times, units = f["spikes/times"], f["spikes/units"]
        labels = np.asarray(f["labels"][:max_samples], dtype=np.int64)
        x = torch.zeros(n_steps, labels.size, SHD_CHANNELS)
        for n in range(labels.size):
            unit = np.asarray(units[n], dtype=np.int64)
            if unit.size and unit.max() >= SHD_CHANNELS:
                raise ValueError(f"{path.name}: sample {n} has a unit >= {SHD_CHANNELS}")
            _bin_into(x, n, np.asarray(times[n], dtype=np.float64), unit, n_steps, duration_s)
    return SpikeDataset(x, labels, path.stem)


def _bin_into(
    x: torch.Tensor,
    sample: int,
    time_s: np.ndarray,
    channel: np.ndarray,
    n_steps: int,
    duration_s: float,
) -> None:
    """Mark x[step, sample, channel] = 1 for each event inside the window."""
    step = np.floor(time_s / duration_s * n_steps).astype(np.int64)
    inside = (step >= 0) & (step < n_steps)
    x[torch.from_numpy(step[inside]), sample, torch.from_numpy(channel[inside])] = 1.0


def _check_binning(n_steps: int, duration_s: float) -> None:
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
