"""The supervised reference: the same widths trained end to end with BPTT in snnTorch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import torch
from torch import nn

from methods.espp.data import SpikeDataset


class BPTTNetwork(nn.Module):
    """Feed-forward snnTorch `Leaky` layers (ATan surrogate) and a linear non-leaky readout.

    The logits are the readout's input summed over time, i.e. softmax on an integrator.
    """

    def __init__(
        self,
        n_inputs: int,
        widths: Sequence[int],
        n_classes: int,
        betas: float | Sequence[float] = 0.9,
        init_weights: Sequence[torch.Tensor] | None = None,
    ) -> None:
        import snntorch as snn

        super().__init__()
        if isinstance(betas, int | float):
            betas = [float(betas)] * len(widths)
        if len(betas) != len(widths):
            raise ValueError(
                f"betas must be one value or one per layer ({len(widths)}), got {betas}"
            )
        sizes = [n_inputs, *widths]
        self.fcs = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in pairwise(sizes))
        self.lifs = nn.ModuleList(snn.Leaky(beta=b) for b in betas)
        self.readout = nn.Linear(sizes[-1], n_classes)
        if init_weights is not None:
            with torch.no_grad():
                for fc, w in zip(self.fcs, init_weights, strict=True):
                    if fc.weight.shape != w.shape:
                        raise ValueError(
                            f"init_weights shape {tuple(w.shape)} != layer {tuple(fc.weight.shape)}"
                        )
                    fc.weight.copy_(w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (batch, classes) and each layer's spike counts, for x (time, batch, n_in)."""
        mems = [lif.init_leaky() for lif in self.lifs]
        counts = [torch.zeros(()) for _ in self.lifs]
        logits = torch.zeros(())
        for t in range(x.shape[0]):
            h = x[t]
            for lay, (fc, lif) in enumerate(zip(self.fcs, self.lifs, strict=True)):
                h, mems[lay] = lif(fc(h), mems[lay])
                counts[lay] = counts[lay] + h
            logits = logits + self.readout(h)
        return logits, counts

    @torch.no_grad()
    def evaluate(self, data: SpikeDataset, batch_size: int = 256) -> tuple[float, list[np.ndarray]]:
        """Accuracy of the trained readout and each layer's spike counts on `data`."""
        self.eval()
        preds, counts = [], []
        for i in range(0, len(data), batch_size):
            logits, c = self(data.x[:, i : i + batch_size])
            preds.append(logits.argmax(1))
            counts.append([k.numpy() for k in c])
        pred = torch.cat(preds).numpy()
        per_layer = [np.concatenate([c[lay] for c in counts]) for lay in range(len(self.lifs))]
        return float((pred == data.labels).mean()), per_layer


def train_bptt(
    train: SpikeDataset,
    widths: Sequence[int],
    betas: float | Sequence[float] = 0.9,
    epochs: int = 30,
    lr: float = 2e-3,
    batch_size: int = 64,
    seed: int = 0,
    init_weights: Sequence[torch.Tensor] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> BPTTNetwork:
    """Train a BPTTNetwork with Adam on cross-entropy of the integrated readout."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    torch.manual_seed(seed)
    model = BPTTNetwork(train.n_channels, widths, train.n_classes, betas, init_weights)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    labels = torch.from_numpy(train.labels)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for i in range(0, len(train), batch_size):
            idx = order[i : i + batch_size]
            logits, _ = model(train.x[:, idx])
            loss = nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        if progress is not None:
            progress(
                (epoch + 1) / epochs,
                f"BPTT epoch {epoch + 1}/{epochs}, loss {total / len(train):.3f}",
            )
    return model
