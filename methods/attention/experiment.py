"""The head-to-head: a ResNet-8 with and without each module on cluttered digits, over seeds.

For each seed, every model (the plain baseline and one per module) trains on the same canvases
from the same initial stem and block weights, so the module is the only difference. Training
draws fresh canvases every epoch (new positions and clutter around the fit digits); validation
canvases come from other digits and pick nothing but what the JSON says; accuracy is measured on
canvases built from held-out test digits. For modules with a spatial map, so is how often the
peak of an inserted module's map, upsampled to the canvas, falls inside the true digit's box;
which module's map (when there are several) is chosen on the validation canvases.

Placement follows the papers: gates (SE, CBAM: modules that rescale their input) sit inside
every residual block, after its last norm and before the addition; modules that start as the
identity and add their own residual (non-local, criss-cross, DANet) sit between blocks, after
the 10x10 stage, as one non-local block does after res4 in the non-local paper.
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
from methods.attention.data import ClutteredDigits, make_cluttered, split_sources, split_validation
from methods.attention.registry import build_attention, entry
from methods.attention.spatial import AttentionMining

BASELINE = "baseline"


@dataclass(frozen=True)
class CompareConfig:
    """Sizes of the head-to-head. The defaults are the benchmark's; tests use tiny ones."""

    train: int = 3000  # canvases per epoch, drawn afresh every epoch when `fresh`
    val: int = 500
    test: int = 1000
    epochs: int = 24
    batch: int = 64
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum 0.9, weight decay 5e-4)
    lr: float = 3e-3
    width: int = 16
    # Residual blocks (0, 1, 2 = the 20x20, 10x10, 5x5 stages) whose branch gets a gate.
    blocks: tuple[int, ...] = (0, 1, 2)
    # Blocks after which a residual module (identity at initialisation) goes, on the trunk.
    trunk_blocks: tuple[int, ...] = (1,)
    fresh: bool = True  # False: one fixed set of `train` canvases, seen every epoch
    mining_weight: float = 1.0  # GAIN's attention-mining loss, for modules that support it


@dataclass
class RunResult:
    module: str
    seed: int
    accuracy: float
    peak_in_box: float | None  # None when the module has no spatial map
    params: int
    train_s: float
    val_accuracy: float = float("nan")
    val_curve: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    train_accuracy: float = float("nan")  # on the last epoch's canvases, in eval mode
    placement: str = "-"
    map_layer: str | None = None  # the inserted module whose map is scored, chosen on validation
    val_peak_by_layer: dict[str, float] = field(default_factory=dict)


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
                    "val_accuracy": float(np.mean([r.val_accuracy for r in runs])),
                    "train_accuracy": float(np.mean([r.train_accuracy for r in runs])),
                    "delta_pp": float(100 * delta.mean()) if len(delta) else None,
                    "peak_in_box": float(np.mean(peaks)) if peaks else None,
                    "params": runs[0].params,
                    "placement": runs[0].placement,
                    "map_layers": sorted({r.map_layer for r in runs if r.map_layer}),
                    "train_s": float(np.mean([r.train_s for r in runs])),
                }
            )
        return rows


def starts_as_identity(name: str, channels: int = 32) -> bool:
    """Whether module `name` returns its input unchanged at initialisation (it adds its own
    zero-initialised residual, like a non-local block) rather than rescaling it (a gate)."""
    module = build_attention(name, channels).eval()
    x = torch.randn(2, channels, 6, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return bool(torch.allclose(module(x), x, atol=1e-6))


def build_model(module: str, seed: int, config: CompareConfig) -> tuple[nn.Module, list[str]]:
    """The seed's ResNet-8 with `module` placed as its paper does (none for the baseline)."""
    torch.manual_seed(seed)
    model = resnet8(width=config.width)
    if module == BASELINE:
        return model, []
    blocks = block_outputs(model)
    trunk = starts_as_identity(module)
    chosen = config.trunk_blocks if trunk else config.blocks
    try:
        where = [blocks[i] for i in chosen]
    except IndexError:
        raise ValueError(
            f"blocks must index the {len(blocks)} residual blocks, got {chosen}"
        ) from None
    if trunk:  # after the whole block ("1.bn2" -> "1"), not inside its branch
        where = [w.rpartition(".")[0] for w in where]
    torch.manual_seed(seed + 10_000)  # module weights: same across runs, apart from the CNN's
    return model, insert_attention(model, module, where=where)


def placement(module: str) -> str:
    if module == BASELINE:
        return "-"
    return "after block" if starts_as_identity(module) else "in block branch"


def epoch_data(
    sources: np.ndarray, seed: int, config: CompareConfig
) -> Callable[[int], ClutteredDigits]:
    """Training canvases for each epoch: fresh ones (seeded by seed and epoch), or one fixed set."""
    if not config.fresh:
        fixed = make_cluttered(config.train, sources, seed)
        return lambda epoch: fixed
    return lambda epoch: make_cluttered(config.train, sources, seed * 1000 + epoch)


def train(
    model: nn.Module,
    data: ClutteredDigits | Callable[[int], ClutteredDigits],
    config: CompareConfig,
    seed: int,
    on_batch: Callable[[], None] = lambda: None,
    on_epoch: Callable[[int], None] = lambda epoch: None,
) -> None:
    """AdamW with a one-cycle schedule (linear warm-up, cosine decay) over `config.epochs`.
    `data` is one set of canvases for every epoch, or a function from epoch to canvases."""
    draw = data if callable(data) else (lambda epoch: data)
    gen = torch.Generator().manual_seed(seed)
    miners = [m for m in model.modules() if isinstance(m, AttentionMining)]
    opt = _optimizer(model, config)
    steps = config.epochs * -(-len(draw(0)) // config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=steps)
    for epoch in range(config.epochs):
        model.train()
        batch_data = draw(epoch)
        order = torch.randperm(len(batch_data), generator=gen)
        for lo in range(0, len(batch_data), config.batch):
            idx = order[lo : lo + config.batch]
            x, y = batch_data.images[idx], batch_data.labels[idx]
            loss = F.cross_entropy(model(x), y)
            if miners and config.mining_weight > 0:
                loss = loss + config.mining_weight * _mining_loss(model, miners, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            on_batch()
        on_epoch(epoch)


def _optimizer(model: nn.Module, config: CompareConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {config.optimizer!r}")


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
    model: nn.Module,
    data: ClutteredDigits,
    inserted: list[str],
    batch: int = 250,
    layer: str | None = None,
) -> tuple[float, float | None]:
    """Accuracy, and the share of images whose spatial map at `layer` (default: the finest
    inserted map) peaks inside the digit box; None when no inserted module has a spatial map."""
    accuracy, peaks = evaluate_layers(model, data, inserted, batch)
    if layer is None:
        layer = next(iter(peaks), None)
    elif layer not in peaks:
        raise ValueError(f"layer must be an inserted module with a spatial map {list(peaks)}")
    return accuracy, (peaks[layer] if layer is not None else None)


@torch.no_grad()
def evaluate_layers(
    model: nn.Module, data: ClutteredDigits, inserted: list[str], batch: int = 250
) -> tuple[float, dict[str, float]]:
    """Accuracy, and peak-in-box per inserted module with a spatial map, finest map first."""
    model.eval()
    correct = 0
    inside: dict[str, int] = {}
    sizes: dict[str, int] = {}
    canvas = data.images.shape[-1]
    with collect_maps(model) as mods:
        for lo in range(0, len(data), batch):
            x = data.images[lo : lo + batch]
            correct += int((model(x).argmax(1) == data.labels[lo : lo + batch]).sum())
            for name in inserted:
                m = mods[name]
                spatial = m.spatial_map(m.last_map, m.last_size)
                if spatial is None:
                    continue
                hits = peak_inside(spatial, data.boxes[lo : lo + batch], canvas)
                inside[name] = inside.get(name, 0) + int(hits.sum())
                sizes[name] = spatial[0].numel()
    order = sorted(inside, key=lambda name: -sizes[name])  # stable: ties keep insertion order
    return correct / len(data), {name: inside[name] / len(data) for name in order}


def peak_inside(spatial: torch.Tensor, boxes: torch.Tensor, canvas: int) -> torch.Tensor:
    """Whether each map's peak, after bilinear upsampling to the canvas, lies inside its box.

    The (H, W) map covers the canvas (stride canvas / H), so upsampling with
    align_corners=False puts cell (i, j)'s value at its centre, ((i + 0.5) * canvas / H, ...).
    """
    b = spatial.shape[0]
    up = F.interpolate(spatial[:, None].float(), size=(canvas, canvas), mode="bilinear")
    flat = up.reshape(b, -1).argmax(dim=1)
    cy, cx = flat // canvas, flat % canvas
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
        fit_src, val_src = split_validation(train_src, seed)
        draw = epoch_data(fit_src, seed, config)
        val_data = make_cluttered(config.val, val_src, seed + 2000)
        test_data = make_cluttered(config.test, test_src, seed + 1000)
        for mi, name in enumerate(names):
            done = si * len(names) + mi
            progress(done / total, f"seed {seed}: training {name}")
            model, inserted = build_model(name, seed, config)
            curve: list[float] = []
            started = time.perf_counter()
            train(
                model,
                draw,
                config,
                seed,
                on_epoch=lambda _, m=model, c=curve, v=val_data: c.append(evaluate(m, v, [])[0]),
            )
            elapsed = time.perf_counter() - started
            # The map to score: the inserted module whose peak best finds the digit on the
            # validation canvases (early maps see little context, late ones are coarse).
            _, val_peaks = evaluate_layers(model, val_data, inserted)
            layer = max(val_peaks, key=val_peaks.get) if val_peaks else None
            acc, peak = evaluate(model, test_data, inserted, layer=layer)
            result.runs.append(
                RunResult(
                    name,
                    seed,
                    acc,
                    peak,
                    sum(p.numel() for p in model.parameters()),
                    elapsed,
                    val_accuracy=curve[-1],
                    val_curve=curve,
                    train_accuracy=evaluate(model, draw(config.epochs - 1), [])[0],
                    placement=placement(name),
                    map_layer=layer,
                    val_peak_by_layer=val_peaks,
                )
            )
            progress((done + 1) / total, f"seed {seed}: {name} test {acc:.3f} val {curve[-1]:.3f}")
    progress(1.0, "done")
    return result
