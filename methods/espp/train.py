"""The ESPP training loop: the pair stream over a data set, epoch by epoch, with rate monitoring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from methods.espp.data import SpikeDataset
from methods.espp.lif import SpikingNetwork
from methods.espp.monitor import check_rates
from methods.espp.rule import ESPP, ESPPConfig
from methods.espp.stream import pair_stream


@dataclass
class TrainHistory:
    """Per-epoch means, one list entry per layer."""

    rates: list[list[float]] = field(default_factory=list)
    similarity_pos: list[list[float]] = field(default_factory=list)
    similarity_neg: list[list[float]] = field(default_factory=list)
    gate_pos: list[list[float]] = field(default_factory=list)
    gate_neg: list[list[float]] = field(default_factory=list)


def train_espp(
    net: SpikingNetwork,
    data: SpikeDataset,
    config: ESPPConfig | None = None,
    epochs: int = 20,
    batch_size: int = 32,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> TrainHistory:
    """Train `net` in place on the pair stream over `data`; one epoch is len(data) samples.

    Labels only order the stream; the layers never see them.
    """
    config = config or ESPPConfig()
    if data.n_channels != net.n_inputs:
        raise ValueError(
            f"data has {data.n_channels} channels but the network expects {net.n_inputs}"
        )
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    rule = ESPP(net, config)
    rng = np.random.default_rng(seed)
    per_epoch = max(1, len(data) // batch_size)
    stream = pair_stream(data.labels, per_epoch * epochs, batch_size, rng)
    history = TrainHistory()
    for epoch in range(epochs):
        stats = []
        for _ in range(per_epoch):
            idx, y = next(stream)
            stats.append(rule.train_sample(data.x[:, idx], y))
        history.rates.append(np.mean([s.rates for s in stats], axis=0).tolist())
        for sign, sim, gate in (
            (1, history.similarity_pos, history.gate_pos),
            (-1, history.similarity_neg, history.gate_neg),
        ):
            chosen = [s for s in stats if s.y == sign]
            if chosen:
                sim.append(np.mean([s.similarity for s in chosen], axis=0).tolist())
                gate.append(np.mean([s.gate_fraction for s in chosen], axis=0).tolist())
        if progress is not None:
            rates = ", ".join(f"{r:.3f}" for r in history.rates[-1])
            progress((epoch + 1) / epochs, f"ESPP epoch {epoch + 1}/{epochs}, rates {rates}")
    rule.flush()
    check_rates(history.rates[-1], where="after ESPP training")
    return history
