"""One comparison run: random-weight SNN vs the same SNN after ESPP vs BPTT, per-layer readouts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from methods.espp.bptt import train_bptt
from methods.espp.data import SpikeDataset
from methods.espp.lif import SpikingNetwork
from methods.espp.readout import linear_readout
from methods.espp.rule import ESPPConfig
from methods.espp.train import TrainHistory, train_espp


@dataclass
class LayerReport:
    """Readout accuracies of one network, per hidden layer, and its mean firing rates."""

    accuracy: list[float]
    accuracy_cat: list[float]  # readout from input + layers <= l
    rates: list[float]  # mean spikes per neuron and step, on the training set


@dataclass
class Comparison:
    """What `compare` measured; accuracies are fractions on the test split."""

    dataset: str
    widths: list[int]
    online: bool
    seed: int
    input_accuracy: float
    random: LayerReport
    espp: LayerReport
    bptt_accuracy: float | None = None
    bptt_layers: list[float] | None = None
    history: TrainHistory = field(default_factory=TrainHistory)
    seconds: float = 0.0
    network: SpikingNetwork | None = None

    @property
    def gain(self) -> list[float]:
        """ESPP minus random-weight accuracy, per layer."""
        return [a - b for a, b in zip(self.espp.accuracy, self.random.accuracy, strict=True)]


def layer_report(
    net: SpikingNetwork, train: SpikeDataset, test: SpikeDataset, readout: str = "logistic"
) -> LayerReport:
    """Per-layer and concatenated readouts of a frozen network."""
    tr_counts, te_counts = net.spike_counts(train.x), net.spike_counts(test.x)
    tr_feats, te_feats = [train.x.sum(0)], [test.x.sum(0)]
    acc, acc_cat = [], []
    for a, b in zip(tr_counts, te_counts, strict=True):
        acc.append(linear_readout(a, train.labels, b, test.labels, readout))
        tr_feats.append(a)
        te_feats.append(b)
        acc_cat.append(
            linear_readout(
                torch.cat(tr_feats, 1), train.labels, torch.cat(te_feats, 1), test.labels, readout
            )
        )
    rates = [float(c.mean()) / train.n_steps for c in tr_counts]
    return LayerReport(acc, acc_cat, rates)


def compare(
    train: SpikeDataset,
    test: SpikeDataset,
    widths: Sequence[int] = (64, 64),
    betas: float | Sequence[float] = 0.9,
    config: ESPPConfig | None = None,
    epochs: int = 30,
    batch_size: int = 32,
    seed: int = 0,
    readout: str = "logistic",
    bptt_epochs: int = 30,
    progress: Callable[[float, str], None] | None = None,
) -> Comparison:
    """Train ESPP from the random network's own initial weights and read both out the same way.

    `bptt_epochs=0` skips the supervised reference.
    """
    start = time.perf_counter()
    config = config or ESPPConfig()
    report = progress or (lambda fraction, message: None)
    net = SpikingNetwork(train.n_channels, widths, betas, seed=seed)
    report(0.0, "readouts of the random-weight SNN")
    input_acc = linear_readout(train.x.sum(0), train.labels, test.x.sum(0), test.labels, readout)
    random = layer_report(net, train, test, readout)
    trained = net.clone()
    history = train_espp(
        trained,
        train,
        config,
        epochs,
        batch_size,
        seed,
        progress=lambda f, m: report(0.05 + 0.65 * f, m),
    )
    espp = layer_report(trained, train, test, readout)
    result = Comparison(
        train.name,
        list(widths),
        config.online,
        seed,
        input_acc,
        random,
        espp,
        history=history,
        network=trained,
    )
    if bptt_epochs > 0:
        model = train_bptt(
            train,
            widths,
            betas,
            bptt_epochs,
            seed=seed,
            init_weights=net.weights,
            progress=lambda f, m: report(0.75 + 0.25 * f, m),
        )
        result.bptt_accuracy, test_counts = model.evaluate(test)
        _, train_counts = model.evaluate(train)
        result.bptt_layers = [
            linear_readout(a, train.labels, b, test.labels, readout)
            for a, b in zip(train_counts, test_counts, strict=True)
        ]
    result.seconds = time.perf_counter() - start
    report(1.0, f"done in {result.seconds:.1f} s")
    return result


def mean_gain(runs: Sequence[Comparison]) -> np.ndarray:
    """Mean per-layer ESPP gain over runs."""
    return np.mean([r.gain for r in runs], axis=0)
