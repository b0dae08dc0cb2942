"""Channel attention written here: FcaNet, second-order (SOCA), double attention (A^2), DANet."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods.attention.base import AttentionModule
from methods.attention.registry import register


def _hidden(channels: int, ratio: int) -> int:
    return max(channels // ratio, 4)


class _Gate(nn.Module):
    """The SE excitation: W2 relu(W1 s) -> sigmoid, on a (B, C) descriptor."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def _dct_frequencies(count: int) -> list[tuple[int, int]]:
    """The `count` lowest 2-D frequencies, in zig-zag order (FcaNet's 'low' selection)."""
    pairs = sorted(((u, v) for u in range(8) for v in range(8)), key=lambda p: (p[0] + p[1], p))
    return pairs[:count]


class FcaAttention(AttentionModule):
    """FcaNet: channel groups are squeezed by different 2-D DCT bases instead of one mean."""

    map_kind = "channel"

    def __init__(self, channels: int, frequencies: int = 16, reduction: int = 16) -> None:
        super().__init__(channels)
        self.freqs = _dct_frequencies(min(frequencies, channels, 64))
        # Channel c uses frequency group[c]: consecutive, near-equal groups as in the paper.
        group = torch.arange(channels) * len(self.freqs) // channels
        self.register_buffer("group", group, persistent=False)
        self.gate = _Gate(channels, reduction)
        self._basis_cache: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def basis(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """(C, H, W): each channel's DCT basis; divided by H*W so (0, 0) is the plain mean."""
        key = (h, w, like.device, like.dtype)
        if key not in self._basis_cache:
            ys = torch.arange(h, device=like.device, dtype=like.dtype) + 0.5
            xs = torch.arange(w, device=like.device, dtype=like.dtype) + 0.5
            bases = torch.stack(
                [
                    torch.outer(torch.cos(math.pi * u * ys / h), torch.cos(math.pi * v * xs / w))
                    for u, v in self.freqs
                ]
            )
            self._basis_cache[key] = bases[self.group] / (h * w)
        return self._basis_cache[key]

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        squeezed = (x * self.basis(x.shape[2], x.shape[3], x)).sum(dim=(2, 3))
        gate = self.gate(squeezed)
        return x * gate[:, :, None, None], gate


class SecondOrderChannelAttention(AttentionModule):
    """SAN's SOCA: the gate reads the square root of the channel covariance, not the mean."""

    map_kind = "channel"

    def __init__(self, channels: int, reduction: int = 8, iterations: int = 5) -> None:
        super().__init__(channels)
        self.iterations = iterations
        self.gate = _Gate(channels, reduction)

    def sqrtm(self, cov: torch.Tensor) -> torch.Tensor:
        """Newton-Schulz square root (SAN's choice: differentiable, no eigendecomposition)."""
        eye = torch.eye(cov.shape[-1], device=cov.device, dtype=cov.dtype).expand_as(cov)
        norm = cov.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-8)[:, None, None]
        y, z = cov / norm, eye
        for _ in range(self.iterations):
            t = 0.5 * (3.0 * eye - z @ y)
            y, z = y @ t, t @ z
        return y * norm.sqrt()

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        feats = x.reshape(b, c, h * w)
        feats = feats - feats.mean(dim=2, keepdim=True)
        cov = feats @ feats.transpose(1, 2) / (h * w)
        cov = cov + 1e-5 * torch.eye(c, device=x.device, dtype=x.dtype)
        gate = self.gate(self.sqrtm(cov).mean(dim=2))  # global covariance pooling
        return x * gate[:, :, None, None], gate


class DoubleAttention(AttentionModule):
    """A^2-Nets: gather global descriptors with n attention maps, distribute them per position."""

    map_kind = "latent"

    def __init__(self, channels: int, features: int | None = None, descriptors: int = 8) -> None:
        super().__init__(channels)
        m = features or max(channels // 4, 4)
        self.conv_a = nn.Conv2d(channels, m, 1)
        self.conv_b = nn.Conv2d(channels, descriptors, 1)
        self.conv_v = nn.Conv2d(channels, descriptors, 1)
        self.proj = nn.Conv2d(m, channels, 1)
        nn.init.zeros_(self.proj.weight)  # starts as identity, like the paper's residual use
        nn.init.zeros_(self.proj.bias)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        feats = self.conv_a(x).flatten(2)  # (B, m, N)
        gather = self.conv_b(x).flatten(2).softmax(dim=-1)  # (B, n, N): over positions
        descriptors = feats @ gather.transpose(1, 2)  # (B, m, n)
        distribute = self.conv_v(x).flatten(2).softmax(dim=1)  # (B, n, N): over descriptors
        z = (descriptors @ distribute).reshape(b, -1, h, w)
        return x + self.proj(z), gather


class DualAttention(AttentionModule):
    """DANet: a position attention module (PAM) and a channel attention module (CAM), summed."""

    map_kind = "tokens"

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__(channels)
        inner = max(channels // reduction, 4)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        # Both branches start switched off (gamma = 0) and learn how much to add, as in DANet.
        self.gamma_pos = nn.Parameter(torch.zeros(1))
        self.gamma_chan = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, N, c')
        k = self.key(x).flatten(2)  # (B, c', N)
        pos = (q @ k).softmax(dim=-1)  # (B, N, N); DANet does not scale the logits
        pam = (self.value(x).flatten(2) @ pos.transpose(1, 2)).reshape(b, c, h, w)
        flat = x.flatten(2)
        energy = flat @ flat.transpose(1, 2)  # (B, C, C)
        # DANet subtracts the energy from its row max before the softmax (its "max - energy").
        chan = (energy.amax(dim=-1, keepdim=True) - energy).softmax(dim=-1)
        cam = (chan @ flat).reshape(b, c, h, w)
        return x + self.gamma_pos * pam + self.gamma_chan * cam, pos


register(
    "fca",
    category="channel",
    paper="Qin et al. 2021, FcaNet: Frequency Channel Attention Networks",
    year=2021,
    formula="y = x * sigmoid(MLP([DCT_{u_g,v_g}(x_g)]_g)), groups g use the lowest frequencies",
)(FcaAttention)

register(
    "soca",
    category="channel",
    paper="Dai et al. 2019, Second-order Attention Network for Single Image Super-Resolution",
    year=2019,
    formula="y = x * sigmoid(MLP(rowmean(Sigma^{1/2}))), Sigma = channel covariance",
    invariance="gate_spatial_perm",
)(SecondOrderChannelAttention)

register(
    "double",
    category="channel",
    paper="Chen et al. 2018, A^2-Nets: Double Attention Networks",
    year=2018,
    formula="y = x + W (A softmax_N(B)^T) softmax_n(V): gather then distribute",
    invariance="token_perm_equivariant",
)(DoubleAttention)

register(
    "danet",
    category="channel",
    paper="Fu et al. 2019, Dual Attention Network for Scene Segmentation",
    year=2019,
    formula="y = x + a PAM(x) + b CAM(x); PAM = V softmax(Q^T K), CAM = softmax(max-XX^T) X",
    invariance="token_perm_equivariant",
)(DualAttention)
