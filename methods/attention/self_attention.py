"""Self-attention over the positions of a feature map, in its global, local and efficient forms.

Each module reads (B, C, H, W) as H*W tokens of C channels, attends, and adds its result back
through an output projection that starts at zero, so an inserted module begins as the identity
(the non-local paper's initialisation, used here for every residual attention branch).
"""

from __future__ import annotations

import math

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


def _zero_linear(d_in: int, d_out: int) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def sincos_2d(h: int, w: int, channels: int, like: torch.Tensor) -> torch.Tensor:
    """Fixed 2-D sine-cosine position codes, (H*W, C): a quarter of C each for sin/cos of y, x."""
    if channels % 4:
        raise ValueError(f"sine-cosine positions need channels divisible by 4, got {channels}")
    quarter = channels // 4
    freq = 1.0 / (10000 ** (torch.arange(quarter, device=like.device, dtype=like.dtype) / quarter))
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=like.dtype),
        torch.arange(w, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    ay, ax = ys.reshape(-1, 1) * freq, xs.reshape(-1, 1) * freq
    return torch.cat([ay.sin(), ay.cos(), ax.sin(), ax.cos()], dim=1)


class MultiHeadSelfAttention(AttentionModule):
    """Transformer/ViT attention over all positions; optional positions, optional noisy weights.

    `position="sincos"` adds fixed 2-D codes to queries and keys (any H, W). `noise > 0` makes
    the weights log-normal in training (Bayesian attention modules): logits + noise * eps.
    """

    map_kind = "tokens"

    def __init__(
        self, channels: int, heads: int = 4, position: str = "none", noise: float = 0.0
    ) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        if position not in ("none", "sincos"):
            raise ValueError(f"position must be 'none' or 'sincos', got {position!r}")
        self.heads, self.position, self.noise = heads, position, noise
        self.norm = nn.LayerNorm(channels)
        self.qk = nn.Linear(channels, 2 * channels)
        self.v = nn.Linear(channels, channels)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        n = self.norm(t)
        qk_in = n + sincos_2d(h, w, c, x) if self.position == "sincos" else n
        q, k = self.qk(qk_in).chunk(2, dim=-1)
        q, k, v = (split_heads(z, self.heads) for z in (q, k, self.v(n)))
        bias = None
        if self.noise > 0 and self.training:
            # Log-normal weights w ~ LogNormal(log phi - s^2/2, s^2), then normalised, is a
            # softmax over logits plus Gaussian noise (the -s^2/2 cancels in the softmax).
            bias = self.noise * torch.randn(b, self.heads, h * w, h * w, device=x.device)
        out, weights = softmax_attention(q, k, v, bias=bias)
        return image(t + self.proj(merge_heads(out)), (h, w)), weights


class LocalSelfAttention(AttentionModule):
    """Stand-alone self-attention: each position attends to its k x k neighbourhood, with
    learned relative (row, column) embeddings added to the keys. The map is the attention each
    position receives, summed over the windows that contain it."""

    map_kind = "spatial"

    def __init__(self, channels: int, heads: int = 4, kernel_size: int = 7) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        d = channels // heads
        if d % 2:
            raise ValueError(f"channels/heads must be even for row+column embeddings, got {d}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.heads, self.k = heads, kernel_size
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.rel_h = nn.Parameter(torch.randn(d // 2, kernel_size) * 0.02)
        self.rel_w = nn.Parameter(torch.randn(d // 2, kernel_size) * 0.02)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        heads, k, d = self.heads, self.k, c // self.heads
        t = tokens(x)
        q, key, v = self.qkv(self.norm(t)).chunk(3, dim=-1)
        q = q.transpose(1, 2).reshape(b, heads, d, h * w)

        def windows(z: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, heads, d, k*k, N)
            cols = F.unfold(image(z, (h, w)), k, padding=k // 2)
            return cols.reshape(b, heads, d, k * k, h * w)

        rel = torch.cat(
            [
                self.rel_h[:, :, None].expand(-1, k, k),  # row offset, same along a row
                self.rel_w[:, None, :].expand(-1, k, k),
            ]
        ).reshape(d, k * k)
        logits = torch.einsum("bhdn,bhdkn->bhkn", q, windows(key) + rel[None, None, :, :, None])
        inside = F.unfold(x.new_ones(1, 1, h, w), k, padding=k // 2) > 0  # (1, k*k, N)
        logits = (logits * d**-0.5).masked_fill(~inside[:, None], float("-inf"))
        weights = logits.softmax(dim=2)
        out = torch.einsum("bhkn,bhdkn->bhdn", weights, windows(v)).reshape(b, c, h * w)
        y = t + self.proj(out.transpose(1, 2))
        received = F.fold(weights.mean(dim=1), (h, w), k, padding=k // 2)
        return image(y, (h, w)), received[:, 0] / (k * k)


class WindowAttention(AttentionModule):
    """Swin: attention inside non-overlapping windows, with a learned relative-position bias;
    `shift=True` moves the windows by half their size (with the mask Swin uses). Inputs whose
    sides are not a multiple of the window are padded, and padding is masked out."""

    map_kind = "spatial"

    def __init__(self, channels: int, heads: int = 4, window: int = 7, shift: bool = False) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads, self.window, self.shift = heads, window, window // 2 if shift else 0
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = _zero_linear(channels, channels)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)
        self.register_buffer("bias_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)

    def _windows(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Hp, Wp, ...) -> (B*nW, ws*ws, ...)."""
        b, hp, wp = z.shape[:3]
        ws = self.window
        z = z.reshape(b, hp // ws, ws, wp // ws, ws, *z.shape[3:]).transpose(2, 3)
        return z.reshape(b * (hp // ws) * (wp // ws), ws * ws, *z.shape[5:])

    def _unwindows(self, z: torch.Tensor, b: int, hp: int, wp: int) -> torch.Tensor:
        ws = self.window
        z = z.reshape(b, hp // ws, wp // ws, ws, ws, *z.shape[2:]).transpose(2, 3)
        return z.reshape(b, hp, wp, *z.shape[5:])

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        ws, s = self.window, self.shift
        hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
        t = tokens(x)
        z = self.norm(t).reshape(b, h, w, c)
        z = F.pad(z, (0, 0, 0, wp - w, 0, hp - h))
        valid = F.pad(x.new_ones(h, w, dtype=torch.bool), (0, wp - w, 0, hp - h))
        region = torch.zeros(hp, wp, dtype=torch.long, device=x.device)
        if s:
            z = torch.roll(z, (-s, -s), dims=(1, 2))
            valid = torch.roll(valid, (-s, -s), dims=(0, 1))
            cuts = (slice(0, -ws), slice(-ws, -s), slice(-s, None))
            for i, rows in enumerate(cuts):
                for j, cols in enumerate(cuts):
                    region[rows, cols] = 3 * i + j
        key_ok = self._windows(valid[None])  # (nW, N)
        same = self._windows(region[None])
        same = same[:, :, None] == same[:, None, :]
        # Padded queries may look anywhere in their region (their output is cropped away).
        mask = same & (key_ok[:, None, :] | ~key_ok[:, :, None])  # (nW, N, N)
        win = self._windows(z)  # (B*nW, N, C)
        q, k, v = (split_heads(p, self.heads) for p in self.qkv(win).chunk(3, dim=-1))
        bias = self.bias_table[self.bias_index].permute(2, 0, 1)  # (heads, N, N)
        mask = mask.repeat(b, 1, 1)[:, None]
        out, weights = softmax_attention(q, k, v, mask=mask, bias=bias)
        out = self._unwindows(merge_heads(out), b, hp, wp)
        received = weights.mean(dim=1) * key_ok.repeat(b, 1)[:, :, None]
        received = self._unwindows(received.sum(dim=1)[..., None], b, hp, wp)[..., 0]
        if s:
            out = torch.roll(out, (s, s), dims=(1, 2))
            received = torch.roll(received, (s, s), dims=(1, 2))
        out = out[:, :h, :w].reshape(b, h * w, c)
        return image(t + self.proj(out), (h, w)), received[:, :h, :w] / (ws * ws)


class AxialAttention(AttentionModule):
    """Axial attention: multi-head attention along each column, then along each row."""

    map_kind = "spatial"

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads = heads
        self.norm_h, self.norm_w = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.qkv_h, self.qkv_w = (
            nn.Linear(channels, 3 * channels),
            nn.Linear(channels, 3 * channels),
        )
        self.proj_h, self.proj_w = (
            _zero_linear(channels, channels),
            _zero_linear(channels, channels),
        )

    def _axis(
        self, seq: torch.Tensor, norm: nn.Module, qkv: nn.Module, proj: nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        q, k, v = (split_heads(p, self.heads) for p in qkv(norm(seq)).chunk(3, dim=-1))
        out, weights = softmax_attention(q, k, v)
        return seq + proj(merge_heads(out)), weights.mean(dim=(1, 2))  # received per position

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        cols = x.permute(0, 3, 2, 1).reshape(b * w, h, c)
        cols, rec_h = self._axis(cols, self.norm_h, self.qkv_h, self.proj_h)
        rows = cols.reshape(b, w, h, c).transpose(1, 2).reshape(b * h, w, c)
        rows, rec_w = self._axis(rows, self.norm_w, self.qkv_w, self.proj_w)
        y = rows.reshape(b, h, w, c).permute(0, 3, 1, 2)
        received = 0.5 * (rec_h.reshape(b, w, h).transpose(1, 2) + rec_w.reshape(b, h, w))
        return y.contiguous(), received


class CrissCrossAttention(AttentionModule):
    """CCNet: each position attends to its row and column (one softmax over both), applied
    `recurrence` times with shared weights so information reaches every position in two."""

    map_kind = "spatial"

    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2) -> None:
        super().__init__(channels)
        inner = max(channels // reduction, 4)
        self.query, self.key = nn.Conv2d(channels, inner, 1), nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.recurrence = recurrence

    def _once(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)
        e_h = torch.einsum("bchw,bcgw->bhwg", q, k)  # query (h, w), key (g, w) in its column
        self_pos = torch.eye(h, dtype=torch.bool, device=x.device)[:, None, :]
        e_h = e_h.masked_fill(self_pos, float("-inf"))  # the position itself is counted in rows
        e_w = torch.einsum("bchw,bchg->bhwg", q, k)  # key (h, g) in its row
        att = torch.cat([e_h, e_w], dim=-1).softmax(dim=-1)
        a_h, a_w = att[..., :h], att[..., h:]
        out = torch.einsum("bhwg,bcgw->bchw", a_h, v) + torch.einsum("bhwg,bchg->bchw", a_w, v)
        received = a_h.sum(dim=1).transpose(1, 2) + a_w.sum(dim=2)  # (B, H, W)
        return x + self.gamma * out, received / (h + w - 1)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.recurrence):
            x, received = self._once(x)
        return x, received


class EfficientAttention(AttentionModule):
    """Efficient attention: softmax(Q) (softmax_N(K)^T V), linear in the number of positions.
    Each key channel is a global attention map over positions; those are the map."""

    map_kind = "latent"

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        q, k, v = (split_heads(p, self.heads) for p in self.qkv(self.norm(t)).chunk(3, dim=-1))
        q, k = q.softmax(dim=-1), k.softmax(dim=2)  # q over its channels, k over positions
        out = q @ (k.transpose(-2, -1) @ v)
        key_maps = k.permute(0, 1, 3, 2).reshape(b, c, h * w)
        return image(t + self.proj(merge_heads(out)), (h, w)), key_maps


class RandomFeatureAttention(AttentionModule):
    """Random-feature attention: exp(q.k) ~ phi(q).phi(k) with fixed random projections, so
    attention costs O(N) instead of O(N^2). The (B, heads, N, N) map is built only on request."""

    map_kind = "tokens"

    def __init__(self, channels: int, heads: int = 4, features: int = 64, seed: int = 0) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = _zero_linear(channels, channels)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("omega", torch.randn(channels // heads, features, generator=gen))

    def _phi(self, z: torch.Tensor, stabiliser: torch.Tensor) -> torch.Tensor:
        proj = z @ self.omega
        sq = 0.5 * z.pow(2).sum(dim=-1, keepdim=True)
        return torch.exp(proj - sq - stabiliser) / math.sqrt(self.omega.shape[1])

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, c, h, w = x.shape
        t = tokens(x)
        q, k, v = (split_heads(p, self.heads) for p in self.qkv(self.norm(t)).chunk(3, dim=-1))
        scale = (c // self.heads) ** -0.25  # q.k / sqrt(d), split between q and k
        q, k = q * scale, k * scale
        # Constants subtracted in the exponent cancel between numerator and denominator.
        phi_q = self._phi(q, (q @ self.omega).amax(dim=-1, keepdim=True).detach())
        phi_k = self._phi(k, (k @ self.omega).amax(dim=(-2, -1), keepdim=True).detach())
        num = phi_q @ (phi_k.transpose(-2, -1) @ v)
        den = phi_q @ phi_k.sum(dim=2, keepdim=True).transpose(-2, -1)
        out = num / den.clamp_min(1e-6)
        amap = None
        if need_map:
            kernel = phi_q @ phi_k.transpose(-2, -1)
            amap = kernel / kernel.sum(dim=-1, keepdim=True).clamp_min(1e-6)
        return image(t + self.proj(merge_heads(out)), (h, w)), amap


class ExternalAttention(AttentionModule):
    """External attention: tokens attend to S learned memory units shared across inputs, with
    softmax over positions then l1 over units (the paper's double normalisation)."""

    map_kind = "latent"

    def __init__(self, channels: int, units: int = 32) -> None:
        super().__init__(channels)
        self.norm = nn.LayerNorm(channels)
        self.memory_k = nn.Linear(channels, units, bias=False)
        self.memory_v = nn.Linear(units, channels, bias=False)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        attn = self.memory_k(self.norm(t)).softmax(dim=1)
        attn = attn / attn.sum(dim=2, keepdim=True).clamp_min(1e-9)
        return image(t + self.proj(self.memory_v(attn)), (h, w)), attn.transpose(1, 2)


class DeformableAttention(AttentionModule):
    """DAT: keys and values are sampled at a coarse grid of reference points moved by offsets
    that a small network predicts from the queries; every query attends to those samples. The
    map splats the attention each sample receives onto the pixel it was taken from."""

    map_kind = "spatial"

    def __init__(
        self, channels: int, heads: int = 4, stride: int = 2, offset_range: float = 2.0
    ) -> None:
        super().__init__(channels)
        check_heads(channels, heads, type(self).__name__)
        self.heads, self.stride, self.offset_range = heads, stride, offset_range
        self.norm = nn.LayerNorm(channels)
        self.q, self.kv = nn.Linear(channels, channels), nn.Linear(channels, 2 * channels)
        self.offsets = nn.Sequential(
            nn.Conv2d(channels, channels, 5, stride=stride, padding=2, groups=channels),
            nn.GELU(),
            nn.Conv2d(channels, 2, 1),
        )
        nn.init.zeros_(self.offsets[-1].weight)  # start at the reference grid
        nn.init.zeros_(self.offsets[-1].bias)
        self.proj = _zero_linear(channels, channels)

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        t = tokens(x)
        n = self.norm(t)
        q = self.q(n)
        offset = self.offsets(image(q, (h, w)))  # (B, 2, Hr, Wr), in reference-cell units
        hr, wr = offset.shape[2:]
        ry = (torch.arange(hr, device=x.device, dtype=x.dtype) + 0.5) / hr * 2 - 1
        rx = (torch.arange(wr, device=x.device, dtype=x.dtype) + 0.5) / wr * 2 - 1
        ref = torch.stack(torch.meshgrid(rx, ry, indexing="xy"), dim=-1)  # (Hr, Wr, 2) as (x, y)
        cell = torch.tensor([2.0 / wr, 2.0 / hr], device=x.device, dtype=x.dtype)
        move = torch.tanh(offset.permute(0, 2, 3, 1)) * self.offset_range * cell
        where = (ref[None] + move).clamp(-1, 1)  # (B, Hr, Wr, 2)
        sampled = F.grid_sample(image(n, (h, w)), where, align_corners=False)
        k, v = self.kv(tokens(sampled)).chunk(2, dim=-1)
        q, k, v = (split_heads(p, self.heads) for p in (q, k, v))
        out, weights = softmax_attention(q, k, v)
        y = image(t + self.proj(merge_heads(out)), (h, w))
        # Splat what each sample receives onto its nearest pixel.
        received = weights.mean(dim=(1, 2))  # (B, Hr*Wr)
        px = ((where[..., 0] + 1) / 2 * w - 0.5).round().clamp(0, w - 1).long().flatten(1)
        py = ((where[..., 1] + 1) / 2 * h - 0.5).round().clamp(0, h - 1).long().flatten(1)
        amap = x.new_zeros(b, h * w).scatter_add_(1, py * w + px, received)
        return y, amap.reshape(b, h, w)


register(
    "mhsa",
    category="self",
    paper="Vaswani et al. 2017, Attention Is All You Need (multi-head self-attention)",
    year=2017,
    formula="y = x + W_o concat_h softmax(Q_h K_h^T / sqrt(d)) V_h, no positions",
    invariance="token_perm_equivariant",
)(MultiHeadSelfAttention)


@register(
    "mhsa_pos",
    category="self",
    paper="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (ViT attention, 2-D positions)",
    year=2021,
    formula="as mhsa, with fixed 2-D sine-cosine codes added to queries and keys",
)
def _mhsa_pos(channels: int, **kw) -> AttentionModule:
    return MultiHeadSelfAttention(channels, position="sincos", **kw)


@register(
    "bayesian",
    category="statistical",
    paper="Fan et al. 2020, Bayesian Attention Modules",
    year=2020,
    formula="w_ij ~ LogNormal(log softmax_ij - s^2/2, s^2), normalised (training); mean at test",
    invariance="token_perm_equivariant",
    stochastic=True,
)
def _bayesian(channels: int, noise: float = 0.5, **kw) -> AttentionModule:
    return MultiHeadSelfAttention(channels, noise=noise, **kw)


register(
    "sasa",
    category="self",
    paper="Ramachandran et al. 2019, Stand-Alone Self-Attention in Vision Models",
    year=2019,
    formula="y_ij = sum_{ab in N_k(ij)} softmax_ab(q_ij^T (k_ab + r_{a-i,b-j})) v_ab",
)(LocalSelfAttention)

register(
    "swin",
    category="self",
    paper="Liu et al. 2021, Swin Transformer (shifted-window attention)",
    year=2021,
    formula="softmax(Q K^T / sqrt(d) + B_rel) V inside (shifted) M x M windows",
)(WindowAttention)

register(
    "axial",
    category="self",
    paper="Wang et al. 2020, Axial-DeepLab: Stand-Alone Axial-Attention",
    year=2020,
    formula="y = Attn_W(Attn_H(x)): 1-D self-attention along columns, then rows",
)(AxialAttention)

register(
    "criss_cross",
    category="multi-modal",
    paper="Huang et al. 2019, CCNet: Criss-Cross Attention for Semantic Segmentation",
    year=2019,
    formula="y_u = x_u + g sum_{v in row(u) U col(u)} softmax_v(q_u^T k_v) v_v, applied R=2 times",
)(CrissCrossAttention)

register(
    "efficient",
    category="self",
    paper="Shen et al. 2021, Efficient Attention: Attention with Linear Complexities",
    year=2021,
    formula="y = x + W rho_q(Q) (rho_k(K)^T V), rho_q softmax over channels, rho_k over positions",
    invariance="token_perm_equivariant",
)(EfficientAttention)

register(
    "rfa",
    category="self",
    paper="Peng et al. 2021, Random Feature Attention",
    year=2021,
    formula="y = phi(Q) (phi(K)^T V) / phi(Q) sum phi(K), phi(z) = exp(W z - |z|^2/2)/sqrt(D)",
    invariance="token_perm_equivariant",
)(RandomFeatureAttention)

register(
    "external",
    category="self",
    paper="Guo et al. 2021, Beyond Self-attention: External Attention using Two Linear Layers",
    year=2021,
    formula="A = l1_S(softmax_N(F M_k^T)); y = x + W A M_v",
    invariance="token_perm_equivariant",
)(ExternalAttention)

register(
    "deformable",
    category="self",
    paper="Xia et al. 2022, Vision Transformer with Deformable Attention (DAT)",
    year=2022,
    formula="y = x + W softmax(Q K(x~)^T) V(x~), x~ = sample(x, p_ref + s tanh(offset(Q)))",
)(DeformableAttention)
