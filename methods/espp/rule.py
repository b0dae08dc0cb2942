"""The ESPP learning rule, by hand: per-layer echo, predictive/contrastive hinge, local update.

Each layer keeps the L1-normalised mean of its own spikes over the previous sample (the
echo p). The current sample is scored against it, sim = sum_t S[t] . p, and a hinge decides
whether to learn: y = +1 (same class as the previous sample) learns while sim is too low, y = -1
(another class) while it is too high. The update is the gradient of -y sim through the arctan
surrogate with a presynaptic eligibility trace e[t] = beta e[t-1] + x[t]:

    dW_ij = lr * y * p_i * surrogate(U_i[t] - 1) * e_j[t]

Nothing crosses layers but spikes: layer l+1 reads layer l's spikes and layer l never sees
anything from above, so every update is strictly local.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from methods.espp.lif import THRESHOLD, SpikingNetwork, arctan_surrogate, lif_step


@dataclass(frozen=True)
class ESPPConfig:
    """Settings of the rule.

    Offline hinge thresholds are target p-weighted firing rates: the predictive hinge fires while
    mean_t S[t].p < rate_pos, the contrastive one while it exceeds rate_neg. In the paper's terms
    c_y = (rate_pos / N, -rate_neg / N), since the threshold there is c_y * T * N.
    Online: l_t = -y S[t].p + c(y) a_t with a_t the mean input activity, learning at steps with
    l_t > 0 and a_t > inp_thr; `online_c` is (c(+1), c(-1)).
    """

    lr: float = 3e-3
    rate_pos: float = 0.5
    rate_neg: float = 0.2
    online: bool = False
    online_c: tuple[float, float] = (2.0, -1.0)
    inp_thr: float = 0.02

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("rate_pos", "rate_neg", "inp_thr"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def echo_of(spike_sum: torch.Tensor) -> torch.Tensor:
    """The echo: spikes summed over a sample, L1-normalised per stream (norm 1 when silent)."""
    norm = spike_sum.sum(-1, keepdim=True)
    return spike_sum / torch.where(norm > 0, norm, torch.ones_like(norm))


@dataclass
class LayerUpdate:
    """One layer's learning signal for one sample batch (before the learning rate)."""

    dW: torch.Tensor  # (width, fan_in)
    similarity: torch.Tensor  # (batch,) sum_t S[t].p
    gate: torch.Tensor  # (batch,) the hinge was active
    rate: float  # mean firing rate of the layer on this sample


def offline_layer_update(
    echo: torch.Tensor,
    y: int,
    spikes: torch.Tensor,
    mems: torch.Tensor,
    pre: torch.Tensor,
    beta: float,
    rate_pos: float,
    rate_neg: float,
) -> LayerUpdate:
    """ESPP for one layer over one sample: spikes, mems (T, B, N); pre (T, B, n_in); echo (B, N)."""
    steps = spikes.shape[0]
    similarity = torch.einsum("tbn,bn->b", spikes, echo)
    # The paper's hinge max(0, c(y) - y sim) with c(y) = c_y T N = (+rate_pos, -rate_neg) T.
    threshold = (rate_pos if y > 0 else -rate_neg) * steps
    loss = threshold - y * similarity
    gate = (loss > 0).to(spikes.dtype)
    trace = torch.zeros_like(pre[0])
    traces = torch.empty_like(pre)
    for t in range(steps):
        trace = beta * trace + pre[t]
        traces[t] = trace
    post = echo.unsqueeze(0) * arctan_surrogate(mems - THRESHOLD)
    dW = float(y) * torch.einsum("tbi,tbj,b->ij", post, traces, gate)
    return LayerUpdate(dW, similarity, gate.bool(), float(spikes.mean()))


@dataclass
class SampleStats:
    """What one sample batch did, per layer."""

    y: int
    rates: list[float]
    similarity: list[float]  # mean over streams of sim / T
    gate_fraction: list[float]  # share of streams (offline) or stream-steps (online) that learned


@dataclass
class ESPP:
    """Trains a SpikingNetwork in place with ESPP, one sample batch at a time.

    Streams are the batch's rows: row b of each call continues stream b, so the echo of a row is
    its previous sample. Call `reset_echo()` when the streams restart.
    """

    net: SpikingNetwork
    config: ESPPConfig = field(default_factory=ESPPConfig)
    echoes: list[torch.Tensor] | None = None
    _pending: list[torch.Tensor] | None = None

    def reset_echo(self) -> None:
        self.echoes = None
        self._pending = None

    def _check(self, x: torch.Tensor, y: int) -> torch.Tensor:
        x = self.net.check_input(x)
        if y not in (-1, 0, 1):
            raise ValueError(f"y must be +1 (same class), -1 (other class) or 0 (start), got {y}")
        if self.echoes is not None and self.echoes[0].shape[0] != x.shape[1]:
            raise ValueError(
                f"x has {x.shape[1]} streams but the echo holds {self.echoes[0].shape[0]}; "
                "call reset_echo() before changing the batch size"
            )
        return x

    @torch.no_grad()
    def sample_updates(
        self, x: torch.Tensor, y: int
    ) -> tuple[list[LayerUpdate] | None, list[torch.Tensor]]:
        """Offline: run one sample batch, return each layer's update (None when y = 0 or no echo)
        and the per-layer spike sums (for the next echo). Weights are not changed."""
        x = self._check(x, y)
        net = self.net
        steps, batch = x.shape[0], x.shape[1]
        mems = [torch.zeros(batch, w) for w in net.widths]
        past = [torch.zeros(batch, w) for w in net.widths]
        spikes = [torch.empty(steps, batch, w) for w in net.widths]
        mem_hist = [torch.empty(steps, batch, w) for w in net.widths]
        pres = [torch.empty(steps, batch, net.fan_in(lay)) for lay in range(len(net.widths))]
        for t in range(steps):
            now: list[torch.Tensor] = []
            for lay, w in enumerate(net.weights):
                inp = net.layer_input(lay, x[t], now, past)
                spk, mems[lay] = lif_step(inp @ w.T, mems[lay], net.betas[lay])
                now.append(spk)
                spikes[lay][t], mem_hist[lay][t], pres[lay][t] = spk, mems[lay], inp
            past = now
        sums = [s.sum(0) for s in spikes]
        if y == 0 or self.echoes is None:
            return None, sums
        updates = [
            offline_layer_update(
                self.echoes[lay],
                y,
                spikes[lay],
                mem_hist[lay],
                pres[lay],
                net.betas[lay],
                self.config.rate_pos,
                self.config.rate_neg,
            )
            for lay in range(len(net.widths))
        ]
        return updates, sums

    @torch.no_grad()
    def train_sample(self, x: torch.Tensor, y: int) -> SampleStats:
        """Learn from one sample batch x (T, B, n_in) with pair label y for every stream."""
        if self.config.online:
            return self._train_online(x, y)
        updates, sums = self.sample_updates(x, y)
        steps = x.shape[0]
        rates = [float(s.mean()) / steps for s in sums]
        sim, frac = [0.0] * len(sums), [0.0] * len(sums)
        if updates is not None:
            if self._pending is None:
                self._pending = [torch.zeros_like(w) for w in self.net.weights]
            for lay, u in enumerate(updates):
                self._pending[lay] += u.dW
                sim[lay] = float(u.similarity.mean()) / steps
                frac[lay] = float(u.gate.float().mean())
            if y < 0:
                self.flush()  # one SGD step per predictive + contrastive pair
        self.echoes = [echo_of(s) for s in sums]
        return SampleStats(y, rates, sim, frac)

    def flush(self) -> None:
        """Apply the accumulated offline update (also called at the end of training)."""
        if self._pending is not None:
            for w, dw in zip(self.net.weights, self._pending, strict=True):
                w += self.config.lr * dw
            self._pending = None

    def _train_online(self, x: torch.Tensor, y: int) -> SampleStats:
        """Per-step learning with O(n_in + N) state per layer: no buffer of length T."""
        x = self._check(x, y)
        net, cfg = self.net, self.config
        steps, batch = x.shape[0], x.shape[1]
        n_layers = len(net.widths)
        mems = [torch.zeros(batch, w) for w in net.widths]
        past = [torch.zeros(batch, w) for w in net.widths]
        traces = [torch.zeros(batch, net.fan_in(lay)) for lay in range(n_layers)]
        sums = [torch.zeros(batch, w) for w in net.widths]
        sim = [0.0] * n_layers
        learned = [0.0] * n_layers
        learn = y != 0 and self.echoes is not None
        c = cfg.online_c[0] if y > 0 else cfg.online_c[1]
        for t in range(steps):
            activity = x[t].mean(-1)
            now: list[torch.Tensor] = []
            for lay, w in enumerate(net.weights):
                inp = net.layer_input(lay, x[t], now, past)
                spk, mems[lay] = lif_step(inp @ w.T, mems[lay], net.betas[lay])
                traces[lay].mul_(net.betas[lay]).add_(inp)
                sums[lay] += spk
                now.append(spk)
                if learn:
                    echo = self.echoes[lay]
                    s = (spk * echo).sum(-1)
                    gate = ((-y * s + c * activity > 0) & (activity > cfg.inp_thr)).float()
                    post = echo * arctan_surrogate(mems[lay] - THRESHOLD) * gate.unsqueeze(-1)
                    w += cfg.lr * y * (post.T @ traces[lay])
                    sim[lay] += float(s.mean()) / steps
                    learned[lay] += float(gate.mean()) / steps
            past = now
        self.echoes = [echo_of(s) for s in sums]
        rates = [float(s.mean()) / steps for s in sums]
        return SampleStats(y, rates, sim, learned)
