"""Spatial, arithmetic, category-based and Gaussian attention written here.

BAM, triplet attention and SimAM gate positions; reverse attention erases what a coarse map has
found; GAIN-style attention mining erases the attended region during training; uncertainty-aware
attention samples its gate from a learned Gaussian.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.attention.base import AttentionModule
from methods.attention.registry import register


class BottleneckAttentionModule(AttentionModule):
    """BAM: y = x + x * sigmoid(M_c(x) + M_s(x)), channel and dilated spatial branches."""

    map_kind = "spatial"

    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4) -> None:
        super().__init__(channels)
        hidden = max(channels // reduction, 4)
        self.channel = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, 1, 1),
        )

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        m_c = self.channel(x.mean(dim=(2, 3)))[:, :, None, None]
        m_s = self.spatial(x)
        gate = torch.sigmoid(m_c + m_s)
        return x + x * gate, gate.mean(dim=1)


class _ZPoolGate(nn.Module):
    """Triplet attention's branch: [max; mean] over dim 1 -> conv k x k -> BN -> sigmoid."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.bn(self.conv(pooled)))


class TripletAttention(AttentionModule):
    """Triplet attention: three rotated views gate (C,W), (C,H) and (H,W); outputs averaged."""

    map_kind = "spatial"

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__(channels)
        self.cw = _ZPoolGate(kernel_size)
        self.ch = _ZPoolGate(kernel_size)
        self.hw = _ZPoolGate(kernel_size)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        xh = x.permute(0, 2, 1, 3)  # H takes the channel's place: the gate spans (C, W)
        y_cw = (xh * self.cw(xh)).permute(0, 2, 1, 3)
        xw = x.permute(0, 3, 2, 1)  # W takes the channel's place: the gate spans (H, C)
        y_ch = (xw * self.ch(xw)).permute(0, 3, 2, 1)
        gate = self.hw(x)
        return (y_cw + y_ch + x * gate) / 3.0, gate[:, 0]


class SimAM(AttentionModule):
    """SimAM: a parameter-free gate from each neuron's energy against its channel's others."""

    map_kind = "spatial"

    def __init__(self, channels: int, lam: float = 1e-4) -> None:
        super().__init__(channels)
        self.lam = lam

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        var = d.sum(dim=(2, 3), keepdim=True) / max(n, 1)
        gate = torch.sigmoid(
            d / (4 * (var + self.lam)) + 0.5
        )  # 1 / e*: distinct neurons score high
        return x * gate, gate.mean(dim=1)


class ReverseAttention(AttentionModule):
    """Reverse attention: features weighted by 1 - sigmoid(coarse map) refine what it missed."""

    map_kind = "spatial"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.coarse = nn.Conv2d(channels, 1, 3, padding=1)
        self.refine = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.refine.weight)  # residual branch starts closed
        nn.init.zeros_(self.refine.bias)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        reverse = 1.0 - torch.sigmoid(self.coarse(x))
        return x + self.refine(x * reverse), reverse[:, 0]


class AttentionMining(AttentionModule):
    """GAIN-style attention: a soft mask T(A) = sigmoid(w (A - s)) over a CAM-like map A.

    With `mining` set, the module outputs the features with the attended region erased,
    x * (1 - T(A)); a trainer penalises the true class's score on that pass (GAIN's L_am),
    which pushes the mask to cover everything that supports the class.
    """

    map_kind = "spatial"

    def __init__(self, channels: int, sharpness: float = 10.0, threshold: float = 0.5) -> None:
        super().__init__(channels)
        self.cam = nn.Conv2d(channels, 1, 1)
        self.sharpness, self.threshold = sharpness, threshold
        self.mining = False

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.relu(self.cam(x))
        peak = a.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        mask = torch.sigmoid(self.sharpness * (a / peak - self.threshold))
        if self.mining:
            return x * (1.0 - mask), mask[:, 0]
        # Attended positions pass at full strength, the rest at half: the mask adds, not gates.
        return x * (0.5 + 0.5 * mask), mask[:, 0]


class UncertaintyAttention(AttentionModule):
    """Uncertainty-aware attention: gate logits ~ N(mu(x), sigma(x)^2), sampled in training."""

    map_kind = "spatial"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.mu = nn.Conv2d(channels, 1, 3, padding=1)
        self.log_sigma = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.constant_(self.log_sigma.bias, -2.0)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.mu(x)
        if self.training:  # reparameterised sample; the mean at evaluation
            logits = logits + self.log_sigma(x).exp() * torch.randn_like(logits)
        gate = torch.sigmoid(logits)
        return x * gate, gate[:, 0]


register(
    "bam",
    category="spatial",
    paper="Park et al. 2018, BAM: Bottleneck Attention Module",
    year=2018,
    formula="y = x + x * sigmoid(M_c(x) + M_s(x)), M_s: dilated 3x3 convs",
)(BottleneckAttentionModule)

register(
    "triplet",
    category="spatial",
    paper="Misra et al. 2021, Rotate to Attend: Convolutional Triplet Attention Module",
    year=2021,
    formula="y = mean over (C,W), (C,H), (H,W) views of x * sigmoid(conv7(ZPool(x_view)))",
)(TripletAttention)

register(
    "simam",
    category="spatial",
    paper="Yang et al. 2021, SimAM: A Simple, Parameter-Free Attention Module",
    year=2021,
    formula="y = x * sigmoid((x - mu)^2 / (4 (var + lambda)) + 1/2)",
    invariance="token_perm_equivariant",
)(SimAM)

register(
    "reverse",
    category="arithmetic",
    paper="Chen et al. 2018, Reverse Attention for Salient Object Detection",
    year=2018,
    formula="y = x + W (x * (1 - sigmoid(S(x))))",
)(ReverseAttention)

register(
    "gain",
    category="category-based",
    paper="Li et al. 2018, Tell Me Where to Look: Guided Attention Inference Network",
    year=2018,
    formula="T(A) = sigmoid(w (A - s)); L_am = score_c(x * (1 - T(A)))",
)(AttentionMining)

register(
    "uncertainty",
    category="gaussian",
    paper="Heo et al. 2018, Uncertainty-Aware Attention for Reliable Interpretation",
    year=2018,
    formula="a ~ N(mu(x), sigma(x)^2) (reparameterised); y = x * sigmoid(a)",
    stochastic=True,
)(UncertaintyAttention)
