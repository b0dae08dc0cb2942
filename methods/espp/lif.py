"""Discrete-time LIF layers and a multi-layer spiking network with the reference's wirings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

WIRINGS = ("none", "stacked", "full", "dt", "dense")
THRESHOLD = 1.0


def arctan_surrogate(x: torch.Tensor) -> torch.Tensor:
    """dS/dU of the arctan surrogate, 1 / (pi (1 + (pi x)^2)), at x = U - threshold."""
    return 1.0 / (math.pi * (1.0 + (math.pi * x) ** 2))


def lif_step(
    current: torch.Tensor, mem: torch.Tensor, beta: float, threshold: float = THRESHOLD
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of snnTorch `Leaky` (subtractive reset): returns (spikes, membrane).

    U[t] = beta U[t-1] + I[t] - threshold H(U[t-1] - threshold);  S[t] = H(U[t] - threshold).
    """
    reset = (mem > threshold).to(mem.dtype)
    mem = beta * mem + current - threshold * reset
    return (mem > threshold).to(mem.dtype), mem


@dataclass(frozen=True)
class Source:
    """One block of a layer's input: the network input (layer -1) or a layer's spikes.

    `lag` is 0 for the current step, 1 for the previous one (recurrence).
    """

    layer: int
    lag: int = 0


def wiring_sources(wiring: str, n_layers: int) -> list[list[Source]]:
    """What each layer reads, in concatenation order, for one of WIRINGS.

    none: feed-forward; stacked: each layer also reads its own previous spikes; full: input,
    earlier layers now and this and later layers one step ago; dt: the last layer feeds back
    into the first; dense: input plus every earlier layer.
    """
    if wiring not in WIRINGS:
        raise ValueError(f"wiring must be one of {WIRINGS}, got {wiring!r}")
    if n_layers < 1:
        raise ValueError(f"widths must name at least one layer, got {n_layers}")
    out: list[list[Source]] = []
    for lay in range(n_layers):
        below = Source(-1) if lay == 0 else Source(lay - 1)
        if wiring == "none":
            out.append([below])
        elif wiring == "stacked":
            out.append([below, Source(lay, 1)])
        elif wiring == "full":
            now = [Source(k) for k in range(lay)]
            past = [Source(k, 1) for k in range(lay, n_layers)]
            out.append([Source(-1), *now, *past])
        elif wiring == "dt":
            out.append([below, Source(n_layers - 1, 1)] if lay == 0 else [below])
        else:
            out.append([Source(-1), *[Source(k) for k in range(lay)]])
    return out


class SpikingNetwork:
    """LIF layers with bias-free weights W ~ U(+-init_scale / sqrt(n_in)), threshold 1.

    Weights are plain tensors (no autograd): ESPP writes them by hand. `betas` is one value
    for every layer or one per layer.
    """

    def __init__(
        self,
        n_inputs: int,
        widths: Sequence[int],
        betas: float | Sequence[float] = 0.9,
        wiring: str = "none",
        init_scale: float = 3.0,
        seed: int = 0,
    ) -> None:
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive ints, got {widths}")
        if isinstance(betas, int | float):
            betas = [float(betas)] * len(widths)
        betas = [float(b) for b in betas]
        if len(betas) != len(widths) or not all(0.0 <= b <= 1.0 for b in betas):
            raise ValueError(
                f"betas must be one value or one per layer ({len(widths)}) in [0, 1], got {betas}"
            )
        self.n_inputs = n_inputs
        self.widths = widths
        self.betas = betas
        self.wiring = wiring
        self.sources = wiring_sources(wiring, len(widths))
        gen = torch.Generator().manual_seed(seed)
        self.weights: list[torch.Tensor] = []
        for lay, width in enumerate(widths):
            fan_in = self.fan_in(lay)
            bound = init_scale / math.sqrt(fan_in)
            w = (torch.rand(width, fan_in, generator=gen) * 2 - 1) * bound
            self.weights.append(w)

    def fan_in(self, layer: int) -> int:
        return sum(
            self.n_inputs if s.layer < 0 else self.widths[s.layer] for s in self.sources[layer]
        )

    def clone(self) -> SpikingNetwork:
        """A copy with the same weights (to train one and keep the other as the random SNN)."""
        other = object.__new__(SpikingNetwork)
        other.__dict__.update(self.__dict__)
        other.weights = [w.clone() for w in self.weights]
        return other

    def layer_input(
        self, layer: int, x_t: torch.Tensor, now: list[torch.Tensor], past: list[torch.Tensor]
    ) -> torch.Tensor:
        """The concatenated presynaptic spikes of `layer` at this step."""
        parts = []
        for s in self.sources[layer]:
            if s.layer < 0:
                parts.append(x_t)
            else:
                parts.append(now[s.layer] if s.lag == 0 else past[s.layer])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Validate a (time, batch, n_inputs) spike tensor and return it as float32."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.n_inputs:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a (time, batch, {self.n_inputs}) tensor, got {shape}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
        x = x.float()
        # A float64 sum is NaN or inf exactly when x holds one, and allocates nothing of x's size.
        if not torch.isfinite(x.sum(dtype=torch.float64)):
            raise ValueError(f"{name} contains NaN or inf")
        return x

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every layer, each (time, batch, width), for input x (time, batch, n_in)."""
        x = self.check_input(x)
        steps, batch = x.shape[0], x.shape[1]
        mems = [torch.zeros(batch, w) for w in self.widths]
        past = [torch.zeros(batch, w) for w in self.widths]
        out = [torch.zeros(steps, batch, w) for w in self.widths]
        for t in range(steps):
            now: list[torch.Tensor] = []
            for lay, w in enumerate(self.weights):
                inp = self.layer_input(lay, x[t], now, past)
                spk, mems[lay] = lif_step(inp @ w.T, mems[lay], self.betas[lay])
                now.append(spk)
                out[lay][t] = spk
            past = now
        return out

    def spike_counts(self, x: torch.Tensor, batch_size: int = 256) -> list[torch.Tensor]:
        """Spike counts per layer, each (samples, width), for x (time, samples, n_in)."""
        x = self.check_input(x)
        chunks = [self.run(x[:, i : i + batch_size]) for i in range(0, x.shape[1], batch_size)]
        return [torch.cat([c[lay].sum(0) for c in chunks]) for lay in range(len(self.widths))]

    def save(self, path: str | Path) -> Path:
        """Write the architecture and weights to a torch file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "n_inputs": self.n_inputs,
            "widths": self.widths,
            "betas": self.betas,
            "wiring": self.wiring,
            "weights": self.weights,
        }
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SpikingNetwork:
        """A network written by `save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path {path} does not exist")
        try:
            state = torch.load(path, weights_only=True)
            net = cls(state["n_inputs"], state["widths"], state["betas"], state["wiring"])
            weights = [w.float() for w in state["weights"]]
        except (KeyError, TypeError, RuntimeError, EOFError) as exc:
            raise ValueError(f"path {path} is not a saved SpikingNetwork: {exc}") from None
        for lay, (old, new) in enumerate(zip(net.weights, weights, strict=True)):
            if old.shape != new.shape:
                raise ValueError(f"{path}: layer {lay} weights {tuple(new.shape)} != {old.shape}")
        net.weights = weights
        return net
