"""Attention through a few latents: slots, Perceiver latents, set-transformer inducing points, and
EM bases. Each reads the H*W positions into K latents and writes them back to every position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.attention.base import (
    AttentionModule,
    check_heads,
    image,
    merge_heads,
    softmax_attention,
    split_heads,
    tokens,
)
from methods.attention.registry import register
from methods.attention.self_attention import _zero_linear, sincos_2d


class SlotAttention(AttentionModule):
    """Slot attention: K slots compete for positions (softmax over slots), updated by a GRU for
    `iterations` rounds; each position then receives the slots in proportion to its assignment."""

    map_kind = "latent"

    def __init__(self, channels: int, slots: int = 4, iterations: int = 3) -> None:
        super().__init__(channels)
        self.iterations = iterations
        self.init = nn.Parameter(torch.randn(slots, channels) * channels**-0.5)
        self.norm_in, self.norm_slot = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.q = nn.Linear(channels, channels, bias=False)
        self.kv = nn.Linear(channels, 2 * channels, bias=False)
        self.gru = nn.GRUCell(channels, channels)
        self.mlp = nn.Sequential(
            nn.LayerNorm(channels),
            nn.Linear(channels, channels),
            nn.ReLU(),
            nn.Linear(channels, channels),
        )
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        k, v = self.kv(self.norm_in(t)).chunk(2, dim=-1)
        slots = self.init.expand(b, -1, -1)
        for _ in range(self.iterations):
            logits = self.q(self.norm_slot(slots)) @ k.transpose(1, 2) * c**-0.5  # (B, K, N)
            assign = logits.softmax(dim=1)  # slots compete for each position
            weights = assign / assign.sum(dim=-1, keepdim=True).clamp_min(1e-8)
            updates = weights @ v
            slots = self.gru(updates.reshape(-1, c), slots.reshape(-1, c)).reshape(b, -1, c)
            slots = slots + self.mlp(slots)
        y = t + self.proj(assign.transpose(1, 2) @ slots)
        return image(y, (h, w)), assign


class PerceiverAttention(AttentionModule):
    """Perceiver-style: learned latents cross-attend to the positions (with 2-D position codes),
    self-attend once, and the positions read them back with a second cross-attention."""

    map_kind = "latent"

    def __init__(self, channels: int, latents: int = 16, heads: int = 4) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads = heads
        self.latents = nn.Parameter(torch.randn(latents, channels) * 0.02)
        self.norm_in, self.norm_lat = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.enc_q, self.enc_kv = nn.Linear(channels, channels), nn.Linear(channels, 2 * channels)
        self.norm_self = nn.LayerNorm(channels)
        self.self_qkv = nn.Linear(channels, 3 * channels)
        self.norm_dec = nn.LayerNorm(channels)
        self.dec_q, self.dec_kv = nn.Linear(channels, channels), nn.Linear(channels, 2 * channels)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        hd = self.heads
        t = tokens(x)
        inp = self.norm_in(t) + sincos_2d(h, w, c, x)
        lat = self.latents.expand(b, -1, -1)
        k, v = self.enc_kv(inp).chunk(2, dim=-1)
        q = self.enc_q(self.norm_lat(lat))
        out, enc_weights = softmax_attention(*(split_heads(z, hd) for z in (q, k, v)))
        lat = lat + merge_heads(out)
        q, k, v = self.self_qkv(self.norm_self(lat)).chunk(3, dim=-1)
        lat = lat + merge_heads(softmax_attention(*(split_heads(z, hd) for z in (q, k, v)))[0])
        k, v = self.dec_kv(self.norm_dec(lat)).chunk(2, dim=-1)
        q = self.dec_q(inp)
        out, _ = softmax_attention(*(split_heads(z, hd) for z in (q, k, v)))
        return image(t + self.proj(merge_heads(out)), (h, w)), enc_weights.mean(dim=1)


class InducedSetAttention(AttentionModule):
    """Set Transformer ISAB: ISAB(X) = MAB(X, MAB(I, X)) with m learned inducing points; no
    positions, so it is permutation-equivariant over the H*W positions."""

    map_kind = "latent"

    def __init__(self, channels: int, inducing: int = 8, heads: int = 4) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads = heads
        self.inducing = nn.Parameter(torch.randn(inducing, channels) * 0.02)
        self.mab1 = _MultiheadAttentionBlock(channels, heads)
        self.mab2 = _MultiheadAttentionBlock(channels, heads)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        hidden, weights = self.mab1(self.inducing.expand(b, -1, -1), t)
        out, _ = self.mab2(t, hidden)
        return image(t + self.proj(out), (h, w)), weights.mean(dim=1)


class _MultiheadAttentionBlock(nn.Module):
    """MAB(X, Y) = LN(H + rFF(H)), H = LN(X + Multihead(X, Y, Y))."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.kv = nn.Linear(channels, channels), nn.Linear(channels, 2 * channels)
        self.o = nn.Linear(channels, channels)
        self.ln1, self.ln2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.ff = nn.Sequential(
            nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(y).chunk(2, dim=-1)
        q, k, v = (split_heads(z, self.heads) for z in (self.q(x), k, v))
        out, weights = softmax_attention(q, k, v)
        hidden = self.ln1(x + self.o(merge_heads(out)))
        return self.ln2(hidden + self.ff(hidden)), weights


class ExpectationMaximizationAttention(AttentionModule):
    """EMANet: T rounds of EM find K bases (E: responsibilities softmax over bases; M: bases as
    responsibility-weighted means); positions are rebuilt from the bases and added back. The
    starting bases follow a moving average of the converged ones, as in the paper."""

    map_kind = "latent"

    def __init__(
        self, channels: int, bases: int = 16, iterations: int = 3, momentum: float = 0.9
    ) -> None:
        super().__init__(channels)
        self.iterations, self.momentum = iterations, momentum
        self.register_buffer("mu", F.normalize(torch.randn(bases, channels), dim=1))
        self.conv_in = nn.Conv2d(channels, channels, 1)
        self.conv_out = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)
        )
        nn.init.zeros_(self.conv_out[1].weight)  # residual branch starts closed

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        feats = tokens(self.conv_in(x))  # (B, N, C)
        mu = self.mu.expand(b, -1, -1)  # (B, K, C)
        with torch.no_grad():  # EMANet runs the first T-1 rounds without gradients
            for _ in range(self.iterations - 1):
                z = (feats @ mu.transpose(1, 2)).softmax(dim=2)
                mu = F.normalize(
                    (z / (z.sum(dim=1, keepdim=True) + 1e-6)).transpose(1, 2) @ feats, dim=2
                )
        z = (feats @ mu.transpose(1, 2)).softmax(dim=2)  # (B, N, K)
        mu = F.normalize((z / (z.sum(dim=1, keepdim=True) + 1e-6)).transpose(1, 2) @ feats, dim=2)
        if self.training:
            with torch.no_grad():
                new = F.normalize(mu.mean(dim=0), dim=1)
                self.mu.mul_(self.momentum).add_((1 - self.momentum) * new)
                self.mu.copy_(F.normalize(self.mu, dim=1))
        rebuilt = F.relu(image(z @ mu, (h, w)))
        return x + self.conv_out(rebuilt), z.transpose(1, 2)


register(
    "slot",
    category="self",
    paper="Locatello et al. 2020, Object-Centric Learning with Slot Attention",
    year=2020,
    formula="A = softmax_K(q(S) k(x)^T / sqrt(D)); S <- GRU(S, A_norm v(x)), T=3; y = x + W A^T S",
    invariance="token_perm_equivariant",
)(SlotAttention)

register(
    "perceiver",
    category="multi-modal",
    paper="Jaegle et al. 2021, Perceiver: General Perception with Iterative Attention",
    year=2021,
    formula="L <- L + CA(L, x+pos); L <- L + SA(L); y = x + W CA(x+pos, L)",
)(PerceiverAttention)

register(
    "isab",
    category="logical",
    paper="Lee et al. 2019, Set Transformer (induced set attention block)",
    year=2019,
    formula="ISAB(X) = MAB(X, MAB(I, X)), MAB(X,Y) = LN(H + rFF(H)), H = LN(X + MHA(X,Y,Y))",
    invariance="token_perm_equivariant",
)(InducedSetAttention)

register(
    "ema",
    category="clustering",
    paper="Li et al. 2019, Expectation-Maximization Attention Networks for Semantic Segmentation",
    year=2019,
    formula="E: z = softmax_k(x_n^T mu_k); M: mu_k = sum_n z_nk x_n / sum_n z_nk; y = x+BN(W z mu)",
    invariance="token_perm_equivariant",
)(ExpectationMaximizationAttention)
