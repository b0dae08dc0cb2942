"""timm's tested attention layers, registered as they are, with their maps read through hooks.

The computation is timm's own; a forward hook on the submodule that produces the weights (a gate,
or the query/key projections) keeps what the map needs, so no formula is re-implemented here
except the non-local and global-context softmax, recomputed from timm's own logits.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.layers.cbam import CbamModule, SpatialAttn
from timm.layers.coord_attn import CoordAttn
from timm.layers.eca import EcaModule
from timm.layers.gather_excite import GatherExcite
from timm.layers.global_context import GlobalContext
from timm.layers.non_local_attn import NonLocalAttn
from timm.layers.selective_kernel import SelectiveKernel
from timm.layers.split_attn import SplitAttn
from timm.layers.squeeze_excite import EffectiveSEModule, SEModule
from torch import nn

from methods.attention.base import AttentionModule
from methods.attention.registry import register


class TimmAttention(AttentionModule):
    """Runs `inner` (a timm layer) and records the outputs of the named submodules."""

    def __init__(self, channels: int, inner: nn.Module, watch: tuple[str, ...]) -> None:
        super().__init__(channels)
        self.inner = inner
        self._seen: dict[str, list[torch.Tensor]] = {}
        for name in watch:
            inner.get_submodule(name).register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def keep(_module: nn.Module, _args: Any, out: torch.Tensor) -> None:
            self._seen.setdefault(name, []).append(out)

        return keep

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._seen = {}
        y = self.inner(x)
        amap = self.read_map(x, self._seen) if need_map else None
        self._seen = {}
        return y, amap

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError


class ChannelGate(TimmAttention):
    """A timm layer whose `gate` output is one weight per channel."""

    map_kind = "channel"

    def __init__(self, channels: int, inner: nn.Module, gate: str = "gate") -> None:
        super().__init__(channels, inner, (gate,))
        self.gate_name = gate

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        return seen[self.gate_name][0].reshape(x.shape[0], -1)


class SpatialGate(TimmAttention):
    """A timm layer whose gate (named) output is one weight per position, (B, 1, H, W)."""

    map_kind = "spatial"

    def __init__(self, channels: int, inner: nn.Module, gate: str) -> None:
        super().__init__(channels, inner, (gate,))
        self.gate_name = gate

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        return seen[self.gate_name][0][:, 0]


class ContextAttention(TimmAttention):
    """GCNet: softmax over positions of timm's `conv_attn` logits is the context map."""

    map_kind = "spatial"

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        logits = seen["conv_attn"][0]
        b, _, h, w = logits.shape
        return F.softmax(logits.reshape(b, h * w), dim=-1).reshape(b, h, w)


class CoordinateGate(TimmAttention):
    """Coordinate attention: the gate runs twice, along H then along W; the map is their product."""

    map_kind = "spatial"

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        a_h, a_w = seen["gate"]  # (B, C, H, 1), (B, C, 1, W)
        return (a_h * a_w).mean(dim=1)


class NonLocalTokens(TimmAttention):
    """Non-local block: softmax(theta^T phi * scale) from timm's own `t` and `p` projections."""

    map_kind = "tokens"

    def read_map(self, x: torch.Tensor, seen: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        t, p = seen["t"][0].flatten(2), seen["p"][0].flatten(2)  # (B, C', N)
        return F.softmax(torch.bmm(t.transpose(1, 2), p) * self.inner.scale, dim=2)


@register(
    "se",
    category="channel",
    paper="Hu et al. 2018, Squeeze-and-Excitation Networks",
    year=2018,
    formula="y = x * sigmoid(W2 relu(W1 GAP(x)))",
    source="timm",
    invariance="gate_spatial_perm",
)
def _se(channels: int, rd_ratio: float = 1 / 16, **kw: Any) -> AttentionModule:
    return ChannelGate(channels, SEModule(channels, rd_ratio=rd_ratio, **kw))


@register(
    "ese",
    category="channel",
    paper="Lee & Park 2020, CenterMask (effective SE)",
    year=2020,
    formula="y = x * hsigmoid(W GAP(x)) (one FC, no reduction)",
    source="timm",
    invariance="gate_spatial_perm",
)
def _ese(channels: int, **kw: Any) -> AttentionModule:
    return ChannelGate(channels, EffectiveSEModule(channels, **kw))


@register(
    "eca",
    category="channel",
    paper="Wang et al. 2020, ECA-Net: Efficient Channel Attention",
    year=2020,
    formula="y = x * sigmoid(conv1d_k(GAP(x))), k = |log2(C)/2 + 1/2|_odd",
    source="timm",
    invariance="gate_spatial_perm",
)
def _eca(channels: int, **kw: Any) -> AttentionModule:
    return ChannelGate(channels, EcaModule(channels, **kw))


@register(
    "ge",
    category="channel",
    paper="Hu et al. 2018, Gather-Excite: Exploiting Feature Context in CNNs",
    year=2018,
    formula="y = x * sigmoid(gather(x)), gather = global average (the parameter-free GE-theta-)",
    source="timm",
    invariance="gate_spatial_perm",
)
def _ge(channels: int, **kw: Any) -> AttentionModule:
    # timm 1.0.31's GatherExcite cannot build its MLP variant (it passes its device/dtype dict
    # positionally to ConvMlp), so the parameter-free variant is the default here.
    kw.setdefault("use_mlp", False)
    return ChannelGate(channels, GatherExcite(channels, **kw))


@register(
    "sk",
    category="channel",
    paper="Li et al. 2019, Selective Kernel Networks",
    year=2019,
    formula="y = sum_p softmax_p(W_p z) * conv_p(x), z = MLP(GAP(sum_p conv_p(x)))",
    source="timm",
)
def _sk(channels: int, **kw: Any) -> AttentionModule:
    if channels % 2:
        raise ValueError(
            f"sk splits channels over two paths; channels must be even, got {channels}"
        )
    return ChannelGate(channels, SelectiveKernel(channels, channels, **kw), gate="attn")


@register(
    "splat",
    category="channel",
    paper="Zhang et al. 2022, ResNeSt: Split-Attention Networks",
    year=2020,
    formula="y = sum_r rsoftmax_r(MLP(GAP(sum_r U_r))) * U_r, U_r = radix-r grouped conv",
    source="timm",
)
def _splat(channels: int, radix: int = 2, **kw: Any) -> AttentionModule:
    return ChannelGate(channels, SplitAttn(channels, channels, radix=radix, **kw), gate="rsoftmax")


@register(
    "coord",
    category="channel",
    paper="Hou et al. 2021, Coordinate Attention for Efficient Mobile Network Design",
    year=2021,
    formula="y = x * sigmoid(F_h(pool_w x)) * sigmoid(F_w(pool_h x))",
    source="timm",
)
def _coord(channels: int, **kw: Any) -> AttentionModule:
    return CoordinateGate(channels, CoordAttn(channels, **kw), ("gate",))


@register(
    "cbam",
    category="spatial",
    paper="Woo et al. 2018, CBAM: Convolutional Block Attention Module",
    year=2018,
    formula="x' = x*sigmoid(MLP(avg x)+MLP(max x)); y = x'*sigmoid(conv7([avg_c x'; max_c x']))",
    source="timm",
)
def _cbam(channels: int, **kw: Any) -> AttentionModule:
    return SpatialGate(channels, CbamModule(channels, **kw), gate="spatial.gate")


@register(
    "spatial",
    category="spatial",
    paper="Woo et al. 2018, CBAM (spatial branch alone)",
    year=2018,
    formula="y = x * sigmoid(conv7([avg_c x; max_c x]))",
    source="timm",
)
def _spatial(channels: int, kernel_size: int = 7, **kw: Any) -> AttentionModule:
    return SpatialGate(channels, SpatialAttn(kernel_size, **kw), gate="gate")


@register(
    "gc",
    category="self",
    paper="Cao et al. 2019, GCNet: Non-local Networks Meet Squeeze-Excitation Networks",
    year=2019,
    formula="y = x * sigmoid(MLP(sum_j softmax_j(w^T x_j) x_j))",
    source="timm",
    invariance="gate_spatial_perm",
)
def _gc(channels: int, **kw: Any) -> AttentionModule:
    return ContextAttention(channels, GlobalContext(channels, **kw), ("conv_attn",))


@register(
    "nonlocal",
    category="self",
    paper="Wang et al. 2018, Non-local Neural Networks",
    year=2018,
    formula="y_i = x_i + BN(W_z sum_j softmax_j(theta(x_i)^T phi(x_j)) g(x_j))",
    source="timm",
    invariance="token_perm_equivariant",
)
def _nonlocal(channels: int, **kw: Any) -> AttentionModule:
    return NonLocalTokens(channels, NonLocalAttn(channels, **kw), ("t", "p"))
