"""The head-to-head: a ResNet-8 with and without each module on cluttered digits, over seeds.

For each seed, every model (the plain baseline and one per module) trains on the same canvases
from the same initial stem and block weights, so the module is the only difference. Accuracy is
measured on canvases built from held-out digits; for modules with a spatial map, so is how often
the map's peak at the deepest inserted module falls inside the true digit's box.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.attention.base import collect_maps
from methods.attention.cnn import block_outputs, insert_attention, resnet8
from methods.attention.data import ClutteredDigits, make_cluttered, split_sources
from methods.attention.registry import entry
from methods.attention.spatial import AttentionMining

BASELINE = "baseline"


@dataclass(frozen=True)
class CompareConfig:
    """Sizes of the head-to-head. The defaults are the benchmark's; tests use tiny ones."""

    train: int = 3000
    test: int = 1000
    epochs: int = 8
    batch: int = 64
    lr: float = 3e-3
    width: int = 16
    # Residual blocks that get a module, by index (0, 1, 2 = the 20x20, 10x10, 5x5 stages).
    blocks: tuple[int, ...] = (1, 2)
    mining_weight: float = 1.0  # GAIN's attention-mining loss, for modules that support it


@dataclass
class RunResult:
    module: str
    seed: int
    accuracy: float
    peak_in_box: float | None  # None when the module has no spatial map
    params: int
    train_s: float


@dataclass
class CompareResult:
    config: CompareConfig
    seeds: list[int]
    runs: list[RunResult] = field(default_factory=list)

    def summary(self) -> list[dict[str, float | str | None]]:
        """Per module: mean and std accuracy, difference from the baseline, peak-in-box."""
        base = {r.seed: r.accuracy for r in self.runs if r.module == BASELINE}
        rows = []
        for module in dict.fromkeys(r.module for r in self.runs):
            runs = [r for r in self.runs if r.module == module]
            acc = np.array([r.accuracy for r in runs])
            delta = np.array([r.accuracy - base[r.seed] for r in runs if r.seed in base])
            peaks = [r.peak_in_box for r in runs if r.peak_in_box is not None]
            rows.append(
                {
                    "module": module,
                    "category": "-" if module == BASELINE else entry(module).category,
                    "accuracy": float(acc.mean()),
                    "accuracy_std": float(acc.std()),
                    "delta_pp": float(100 * delta.mean()) if len(delta) else None,
                    "peak_in_box": float(np.mean(peaks)) if peaks else None,
                    "params": runs[0].params,
                    "train_s": float(np.mean([r.train_s for r in runs])),
                }
            )
        return rows


def build_model(module: str, seed: int, config: CompareConfig) -> tuple[nn.Module, list[str]]:
    """The seed's ResNet-8 with `module` after the chosen blocks (none for the baseline)."""
    torch.manual_seed(seed)
    model = resnet8(width=config.width)
    if module == BASELINE:
        return model, []
    blocks = block_outputs(model)
    try:
        where = [blocks[i] for i in config.blocks]
    except IndexError:
        raise ValueError(
            f"blocks must index the {len(blocks)} residual blocks, got {config.blocks}"
        ) from None
    torch.manual_seed(seed + 10_000)  # module weights: same across runs, apart from the CNN's
    return model, insert_attention(model, module, where=where)


def train(
    model: nn.Module,
    data: ClutteredDigits,
    config: CompareConfig,
    seed: int,
    on_batch: Callable[[], None] = lambda: None,
) -> None:
    gen = torch.Generator().manual_seed(seed)
    miners = [m for m in model.modules() if isinstance(m, AttentionMining)]
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * -(-len(data) // config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=steps)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(data), generator=gen)
        for lo in range(0, len(data), config.batch):
            idx = order[lo : lo + config.batch]
            x, y = data.images[idx], data.labels[idx]
            loss = F.cross_entropy(model(x), y)
            if miners and config.mining_weight > 0:
                loss = loss + config.mining_weight * _mining_loss(model, miners, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            on_batch()


def _mining_loss(
    model: nn.Module, miners: list[AttentionMining], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """GAIN's L_am: the true class's probability once the attended features are erased."""
    for m in miners:
        m.mining = True
    try:
        erased = model(x).softmax(dim=1)
    finally:
        for m in miners:
            m.mining = False
    return erased.gather(1, y[:, None]).mean()


@torch.no_grad()
def evaluate(
    model: nn.Module, data: ClutteredDigits, inserted: list[str], batch: int = 250
) -> tuple[float, float | None]:
    """Accuracy, and the share of images whose deepest spatial map peaks inside the digit box."""
    model.eval()
    correct, inside, counted = 0, 0, 0
    canvas = data.images.shape[-1]
    with collect_maps(model) as mods:
        for lo in range(0, len(data), batch):
            x = data.images[lo : lo + batch]
            correct += int((model(x).argmax(1) == data.labels[lo : lo + batch]).sum())
            if not inserted:
                continue
            deepest = mods[inserted[-1]]
            spatial = deepest.spatial_map(deepest.last_map, deepest.last_size)
            if spatial is None:
                continue
            hits = peak_inside(spatial, data.boxes[lo : lo + batch], canvas)
            inside += int(hits.sum())
            counted += len(hits)
    return correct / len(data), (inside / counted if counted else None)


def peak_inside(spatial: torch.Tensor, boxes: torch.Tensor, canvas: int) -> torch.Tensor:
    """Whether each map's argmax cell centre, in canvas pixels, lies inside its box."""
    b, h, w = spatial.shape
    flat = spatial.reshape(b, -1).argmax(dim=1)
    cy = ((flat // w).float() + 0.5) * canvas / h
    cx = ((flat % w).float() + 0.5) * canvas / w
    return (cy >= boxes[:, 0]) & (cy < boxes[:, 2]) & (cx >= boxes[:, 1]) & (cx < boxes[:, 3])


def compare(
    modules: Sequence[str],
    seeds: Sequence[int] = (0, 1, 2),
    config: CompareConfig | None = None,
    progress: Callable[[float, str], None] = lambda fraction, message: None,
) -> CompareResult:
    """Train the baseline and a model per module on each seed's cluttered digits; evaluate."""
    config = config or CompareConfig()
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    names = [BASELINE] + [m for m in modules if m != BASELINE]
    for name in names[1:]:
        entry(name)  # unknown names fail before any training
    result = CompareResult(config, list(seeds))
    total = len(names) * len(seeds)
    for si, seed in enumerate(seeds):
        train_src, test_src = split_sources(seed)
        train_data = make_cluttered(config.train, train_src, seed)
        test_data = make_cluttered(config.test, test_src, seed + 1000)
        for mi, name in enumerate(names):
            done = si * len(names) + mi
            progress(done / total, f"seed {seed}: training {name}")
            model, inserted = build_model(name, seed, config)
            started = time.perf_counter()
            train(model, train_data, config, seed)
            elapsed = time.perf_counter() - started
            acc, peak = evaluate(model, test_data, inserted)
            result.runs.append(
                RunResult(
                    name, seed, acc, peak, sum(p.numel() for p in model.parameters()), elapsed
                )
            )
    progress(1.0, "done")
    return result
