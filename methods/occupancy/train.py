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
    at a higher rate and decay it (cosine) to `lr_final`."""

    steps: int = 1000
    batch_size: int = 16
    points_per_shape: int = 1024
    lr: float = 1e-3
    lr_final: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "points_per_shape"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.lr_final > 0):
            raise ValueError(f"lr: expected positive rates, got {self.lr} and {self.lr_final}")


@dataclass
class TrainHistory:
    losses: list[float] = field(default_factory=list)  # per step, per shape
    seconds: float = 0.0

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
    """Train `model` on `data` for `config.steps` steps; `progress(fraction, message)` ~1%."""
    if data.task != model.config.task:
        raise ValueError(f"data: a {data.task!r} set cannot train a {model.config.task!r} model")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    ratio = config.lr_final / config.lr
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * s / config.steps)),
    )
    history = TrainHistory()
    model.train()
    started = time.perf_counter()
    every = max(config.steps // 100, 1)
    order = np.empty(0, int)
    for step in range(config.steps):
        if len(order) < config.batch_size:  # epochs: every shape once before any twice
            order = np.concatenate([order, rng.permutation(len(data))])
        index, order = order[: config.batch_size], order[config.batch_size :]
        batch = data.batch(index, config.points_per_shape, rng)
        loss = occupancy_loss(model(batch.inputs, batch.points), batch.occupancy)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.losses.append(float(loss.detach()) / config.points_per_shape)
        if not math.isfinite(history.losses[-1]):
            raise FloatingPointError(f"loss became {history.losses[-1]} at step {step}")
        if progress is not None and (step % every == 0 or step == config.steps - 1):
            progress(
                (step + 1) / config.steps,
                f"step {step + 1}/{config.steps} loss {history.tail_loss(every):.4f}",
            )
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
