"""Training with the paper's loss (per shape, the sum of BCE over sampled points), checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from methods.occupancy.data import ShapeSet
from methods.occupancy.models import ModelConfig, OccupancyModel

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainConfig:
    """The paper: K = 2048 points (1024 for voxels), batch 64, Adam 1e-4. Small runs here start
    at a higher rate and decay it (cosine) to `lr_final`.

    With `max_seconds`, training stops when that much time is spent (or after `steps`, if
    sooner) and the cosine follows whichever of time and steps is further along, so a
    time-budgeted run still ends at `lr_final`."""

    steps: int = 1000
    batch_size: int = 16
    points_per_shape: int = 1024
    lr: float = 1e-3
    lr_final: float = 1e-4
    seed: int = 0
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "points_per_shape"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.lr_final > 0):
            raise ValueError(f"lr: expected positive rates, got {self.lr} and {self.lr_final}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds: expected a positive time, got {self.max_seconds}")

    def progress(self, step: int, seconds: float) -> float:
        """How far along a run is after `step` steps and `seconds` seconds, in [0, 1]."""
        done = step / self.steps
        if self.max_seconds is not None:
            done = max(done, seconds / self.max_seconds)
        return min(done, 1.0)

    def rate(self, progress: float) -> float:
        """The learning rate at `progress`: cosine from `lr` down to `lr_final`."""
        return self.lr_final + (self.lr - self.lr_final) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class TrainHistory:
    losses: list[float] = field(default_factory=list)  # per step, per shape
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    def tail_loss(self, n: int = 50) -> float:
        return float(np.mean(self.losses[-n:])) if self.losses else float("nan")


def occupancy_loss(logits: torch.Tensor, occupancy: torch.Tensor) -> torch.Tensor:
    """Sum over a shape's points of BCE-with-logits, averaged over the shapes in the batch."""
    bce = F.binary_cross_entropy_with_logits(logits, occupancy, reduction="none")
    return bce.sum(-1).mean()


def train(
    model: OccupancyModel,
    data: ShapeSet,
    config: TrainConfig,
    progress: Progress | None = None,
) -> TrainHistory:
    """Train `model` on `data` for `config.steps` steps or `config.max_seconds`, whichever
    ends first; `progress(fraction, message)` about every 1%."""
    if data.task != model.config.task:
        raise ValueError(f"data: a {data.task!r} set cannot train a {model.config.task!r} model")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = TrainHistory()
    model.train()
    started = time.perf_counter()
    reported = -1.0
    order = np.empty(0, int)
    for step in range(config.steps):
        done = config.progress(step, time.perf_counter() - started)
        if done >= 1.0:  # the time budget is spent
            break
        for group in optimizer.param_groups:
            group["lr"] = config.rate(done)
        if len(order) < config.batch_size:  # epochs: every shape once before any twice
            order = np.concatenate([order, rng.permutation(len(data))])
        index, order = order[: config.batch_size], order[config.batch_size :]
        batch = data.batch(index, config.points_per_shape, rng)
        loss = occupancy_loss(model(batch.inputs, batch.points), batch.occupancy)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.losses.append(float(loss.detach()) / config.points_per_shape)
        if not math.isfinite(history.losses[-1]):
            raise FloatingPointError(f"loss became {history.losses[-1]} at step {step}")
        done = config.progress(step + 1, time.perf_counter() - started)
        if progress is not None and (done - reported >= 0.01 or step == config.steps - 1):
            reported = done
            progress(done, f"step {step + 1} ({100 * done:.0f}%) loss {history.tail_loss():.4f}")
    if progress is not None and reported < 1.0:
        progress(1.0, f"step {history.steps} (time budget spent) loss {history.tail_loss():.4f}")
    history.seconds = time.perf_counter() - started
    model.eval()
    return history


def save(model: OccupancyModel, path: Path | str, extra: dict | None = None) -> Path:
    """A checkpoint: the model's config and weights (and any `extra` JSON-able facts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"config": model.config.as_dict(), "state": model.state_dict(), "extra": extra or {}},
        path,
    )
    return path


def load(path: Path | str) -> OccupancyModel:
    """A model saved by `save`, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state" not in blob:
        raise ValueError(f"path: {path} is not an occupancy checkpoint (no config/state)")
    model = OccupancyModel(ModelConfig(**blob["config"]))
    model.load_state_dict(blob["state"])
    model.eval()
    return model


def config_dict(config: TrainConfig) -> dict[str, object]:
    return asdict(config)
