"""The iterative pruning loop of the face papers on Torch-Pruning's dependency graph.

Each step: train on `batches_per_step` minibatches while the importance accumulates scores,
remove the globally lowest-ranked channels (physical surgery by Torch-Pruning, coupled layers
together), fine-tune for `finetune_batches`; after the last step, fine-tune for `final_epochs`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from methods.pruning.data import IdentitySet
from methods.pruning.importance import _BN_OUT, _FILTER_OUT, _Accumulating
from methods.pruning.models import EmbeddingNet, MarginHead
from methods.pruning.train import (
    TrainConfig,
    accuracy,
    batches,
    embed,
    make_optimizer,
    train,
    verification,
)

Progress = Callable[[float, str], None]


UNITS = ("channels", "filters", "params", "macs")
MAX_TOP_UPS = 6  # extra small steps allowed when the last step falls short of the target


@dataclass
class Schedule:
    """How much to prune and when, ranked globally over all prunable channels.

    `unit` says what `target` is a fraction of: "channels" (Torch-Pruning's count, a coupled group
    of channels counts once), "filters" (conv output channels, what the face papers count),
    "params" or "macs". For the last three the channel ratio of each step is re-estimated from
    the ratio achieved so far, so criteria compare at (nearly) equal filters, params or MACs.
    """

    target: float = 0.5  # fraction of `unit` removed after the last step
    unit: str = "filters"
    steps: int = 5  # pruning steps; each removes an equal share (linear, as the face papers)
    batches_per_step: int = 30  # minibatches of scores (and training) before each removal
    finetune_batches: int = 30  # minibatches of fine-tuning after each removal
    final_epochs: int = 5  # fine-tuning after the last step
    max_layer_fraction: float = 0.8  # no layer loses more: global ranking can empty a layer
    lr: float = 1e-3  # fine-tuning learning rate (Adam)
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.target < 1:
            raise ValueError(f"target must be a fraction in (0, 1), got {self.target}")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0 < self.max_layer_fraction <= 1:
            raise ValueError(f"max_layer_fraction must be in (0, 1], got {self.max_layer_fraction}")
        if self.batches_per_step < 1:
            raise ValueError(f"batches_per_step must be at least 1, got {self.batches_per_step}")

    def fractions(self) -> list[float]:
        """Cumulative fraction removed after each step."""
        return [self.target * (i + 1) / self.steps for i in range(self.steps)]

    def __call__(self, pruning_ratio: float, steps: int) -> list[float]:
        """Torch-Pruning's scheduler interface: the ratio before step 0 and after each step."""
        return [0.0, *self.fractions()]


@dataclass
class Measure:
    """One point of the accuracy/EER curve."""

    step: int
    stage: str  # "start", "pruned" (before fine-tuning), "finetuned", "final"
    filters_removed: float  # fraction of conv output channels removed so far
    params: int
    accuracy: float
    eer: float | None


@dataclass
class LayerChange:
    name: str
    width_before: int
    width_after: int

    @property
    def fraction_removed(self) -> float:
        return 1 - self.width_after / self.width_before


@dataclass
class Cost:
    params: int
    macs: int
    latency_ms: float  # median CPU forward time of one batch of `latency_batch` images
    filters: int


@dataclass
class PruneResult:
    curve: list[Measure]
    before: Cost
    after: Cost
    layers: list[LayerChange]
    mask_max_diff: float | None  # max |masked - pruned| output after the first step
    seconds: float
    width_correlation: float | None = None  # Spearman(width, fraction removed) over conv layers
    history: list[float] = field(default_factory=list)

    @property
    def filters_removed(self) -> float:
        return 1 - self.after.filters / self.before.filters


def conv_widths(model: nn.Module) -> dict[str, int]:
    """Output channels of every conv layer, by module name."""
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def cost(model: nn.Module, example_inputs: torch.Tensor, latency_batch: int = 64) -> Cost:
    """Parameters, multiply-accumulates per image, CPU latency and conv filter count."""
    was_training = model.training
    model.eval()
    macs, params = tp.utils.count_ops_and_params(model, example_inputs[:1])
    x = example_inputs[:1].expand(latency_batch, *example_inputs.shape[1:]).contiguous()
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(5):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    model.train(was_training)
    return Cost(
        int(params), int(macs), 1000 * float(np.median(times)), sum(conv_widths(model).values())
    )


def compare_latency(
    a: nn.Module, b: nn.Module, x: torch.Tensor, repeats: int = 10
) -> tuple[float, float]:
    """Median forward time (ms) of two models, interleaved so machine load hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    a.eval()
    b.eval()
    with torch.no_grad():
        a(x), b(x)  # warm-up
        for _ in range(repeats):
            for model, out in ((a, times[0]), (b, times[1])):
                t0 = time.perf_counter()
                model(x)
                out.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times[0])), 1000 * float(np.median(times[1]))


def _default_ignored(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, EmbeddingNet):
        return [model.head]
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return last[-1:]  # the output layer keeps its width


def _mask_copy(model: nn.Module) -> tuple[nn.Module, dict[int, str]]:
    names = {id(m): n for n, m in model.named_modules()}
    return copy.deepcopy(model), names


@torch.no_grad()
def _mask_group(copy_model: nn.Module, names: dict[int, str], group) -> None:
    """Zero, in the unpruned copy, every output the group's surgery removes."""
    modules = dict(copy_model.named_modules())
    for dep, idxs in group:
        if dep.handler in _BN_OUT + _FILTER_OUT:
            m = modules[names[id(dep.target.module)]]
            m.weight[list(idxs)] = 0
            if m.bias is not None:
                m.bias[list(idxs)] = 0


def _evaluate(
    model: nn.Module, head: MarginHead, test: IdentitySet, verify: IdentitySet | None
) -> tuple[float, float | None]:
    acc = accuracy(model, head, test)
    eer = verification(embed(model, verify.images), verify.labels).eer if verify else None
    return acc, eer


def _spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def prune(
    model: nn.Module,
    head: MarginHead,
    train_data: IdentitySet,
    test_data: IdentitySet,
    importance: tp.importance.Importance,
    schedule: Schedule,
    verify_data: IdentitySet | None = None,
    ignored_layers: list[nn.Module] | None = None,
    seed: int = 0,
    latency_batch: int = 64,
    progress: Progress | None = None,
) -> PruneResult:
    """Prune `model` in place with `importance` on `schedule`; returns the curve and costs.

    `model` maps images to embeddings and `head` is its trained margin head; `verify_data`
    (optional) holds unseen identities for EER. Any nn.Module works: pass `ignored_layers` for
    layers whose output width must stay (by default the last conv/linear layer).
    """
    if len(train_data) < schedule.batch_size:
        raise ValueError(
            f"train_data has {len(train_data)} images, fewer than one batch ({schedule.batch_size})"
        )
    t0 = time.perf_counter()
    example = test_data.images[:2]
    ignored = ignored_layers if ignored_layers is not None else _default_ignored(model)
    pruner = tp.pruner.BasePruner(
        model,
        example,
        importance,
        global_pruning=True,
        pruning_ratio=schedule.target,
        iterative_steps=schedule.steps,
        iterative_pruning_ratio_scheduler=schedule,
        max_pruning_ratio=schedule.max_layer_fraction,
        ignored_layers=ignored,
    )
    accumulating = isinstance(importance, _Accumulating)
    if accumulating:
        importance.attach(model)
    widths0 = conv_widths(model)
    before = cost(model, example, latency_batch)
    generator = torch.Generator().manual_seed(seed)

    def stream():
        while True:
            yield from batches(train_data, schedule.batch_size, generator, shift=3)

    data = stream()

    def run_batches(n: int, collect: bool) -> None:
        model.train()
        opt = make_optimizer(model, head, schedule.lr, 0.0)
        for _ in range(n):
            x, y = next(data)
            loss = head(model(x), y)
            opt.zero_grad()
            loss.backward()
            if collect:
                importance.accumulate()
            opt.step()
        model.eval()

    def amount(m: nn.Module) -> float:
        """The schedule's unit, counted on a model."""
        if schedule.unit == "filters":
            return float(sum(conv_widths(m).values()))
        if schedule.unit == "params":
            return float(sum(p.numel() for p in m.parameters()))
        return float(tp.utils.count_ops_and_params(m, example[:1])[0])

    amount0 = amount(model)

    def measure(step: int, stage: str) -> None:
        acc, eer = _evaluate(model, head, test_data, verify_data)
        removed = 1 - sum(conv_widths(model).values()) / sum(widths0.values())
        params = sum(p.numel() for p in model.parameters())
        curve.append(Measure(step, stage, removed, params, acc, eer))

    curve: list[Measure] = []
    measure(0, "start")
    mask_diff = None
    total = schedule.steps + 1

    def prune_step(step: int) -> None:
        """Score, remove the step's share, fine-tune; the first step also checks the mask."""
        nonlocal mask_diff
        if accumulating:
            importance.reset()
        run_batches(schedule.batches_per_step, collect=accumulating)
        check = _mask_copy(model) if step == 1 else None
        for i, group in enumerate(pruner.step(interactive=True)):
            if i == 0 and accumulating:
                importance.commit()
            if check:
                _mask_group(*check, group)
            if accumulating:
                importance.pruned(group)
            group.prune()
        if check:
            with torch.no_grad():
                check[0].eval()
                model.eval()
                mask_diff = float((check[0](example) - model(example)).abs().max())
        measure(step, "pruned")
        run_batches(schedule.finetune_batches, collect=False)
        measure(step, "finetuned")

    def achieved() -> float:
        return 1 - amount(model) / amount0

    for step in range(1, schedule.steps + 1):
        if progress:
            progress((step - 1) / total, f"step {step}/{schedule.steps}: scoring")
        prune_step(step)
        if schedule.unit != "channels" and step < schedule.steps:
            # channel ratio achieved per unit removed so far predicts the next step's ratio
            ratios = pruner.per_step_pruning_ratio
            per_unit = ratios[step] / max(achieved(), 1e-6)
            for k in range(step + 1, schedule.steps + 1):
                want = schedule.fractions()[k - 1]
                ratios[k] = min(0.95, max(ratios[step], want * per_unit))
    # The target can be undershot: the channel-to-unit estimate drifts on coupled groups (a
    # residual group removes several filters per channel), and Torch-Pruning counts a global
    # step's channels against the initial total while layers at max_layer_fraction drop out of
    # the ranking. The target is a floor, so top up with extra steps, raising the channel ratio
    # until the unit count moves (doubling the raise after a step that removed nothing).
    step = schedule.steps
    counted = schedule.unit != "channels"
    raise_by = 0.01
    while counted and achieved() < schedule.target and step < schedule.steps + MAX_TOP_UPS:
        step += 1
        ratios = pruner.per_step_pruning_ratio
        gap, per_unit = schedule.target - achieved(), ratios[-1] / max(achieved(), 1e-6)
        ratios.append(min(0.95, ratios[-1] + max(gap * per_unit, raise_by)))
        pruner.iterative_steps += 1
        if progress:
            progress(schedule.steps / total, f"top-up step {step}: {gap:.1%} short of target")
        before_step = achieved()
        prune_step(step)
        if achieved() == before_step:
            raise_by *= 2
    if counted and achieved() < schedule.target:
        warnings.warn(
            f"pruning stopped at {achieved():.1%} of {schedule.unit} removed, short of the "
            f"target {schedule.target:.0%}: max_layer_fraction ({schedule.max_layer_fraction}) "
            "leaves too few prunable channels",
            stacklevel=2,
        )
    if progress:
        progress(schedule.steps / total, "final fine-tuning")
    history = []
    if schedule.final_epochs:
        history = train(
            model,
            head,
            train_data,
            TrainConfig(
                epochs=schedule.final_epochs,
                batch_size=schedule.batch_size,
                lr=schedule.lr,
                weight_decay=0.0,
                seed=seed,
            ),
        )
    measure(step, "final")
    widths1 = conv_widths(model)
    layers = [LayerChange(n, w, widths1[n]) for n, w in widths0.items()]
    correlation = _spearman([c.width_before for c in layers], [c.fraction_removed for c in layers])
    if accumulating and hasattr(importance, "detach"):
        importance.detach()
    if progress:
        progress(1.0, "done")
    return PruneResult(
        curve=curve,
        before=before,
        after=cost(model, example, latency_batch),
        layers=layers,
        mask_max_diff=mask_diff,
        seconds=time.perf_counter() - t0,
        width_correlation=correlation,
        history=history,
    )
