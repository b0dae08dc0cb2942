"""The uniform plug-in contract: (B, C, H, W) in, same shape out, attention map kept on request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# What a module's native map describes, so callers know how to read `last_map`:
#   channel  (B, C)          one weight per channel
#   spatial  (B, H, W)       one weight per position
#   tokens   (B, N, N) or (B, heads, N, N)   query-by-key attention over the H*W positions
#   latent   (B, K, N)       K latents (slots, bases, inducing points) over the H*W positions
MAP_KINDS = ("channel", "spatial", "tokens", "latent")


class AttentionModule(nn.Module):
    """Base of every registered module.

    Subclasses implement `attend(x, need_map) -> (y, map)`; the map may be None when
    `need_map` is False (modules whose map costs extra work skip it then). `forward(x)` returns `y`;
    `forward(x, return_attention=True)` returns `(y, map)`. With `keep_map` set (see
    `collect_maps`) the map of the last call is also kept in `last_map`, detached.
    """

    map_kind: str = "spatial"

    def __init__(self, channels: int) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.channels = channels
        self.keep_map = False
        self.last_map: torch.Tensor | None = None
        self.last_size: tuple[int, int] = (0, 0)  # (H, W) of the input the map belongs to

    def attend(self, x: torch.Tensor, need_map: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_input(x, self.channels, type(self).__name__)
        need_map = return_attention or self.keep_map
        y, amap = self.attend(x, need_map)
        if need_map and amap is None:
            raise RuntimeError(f"{type(self).__name__} returned no attention map (a bug)")
        if self.keep_map:
            self.last_map, self.last_size = amap.detach(), (x.shape[2], x.shape[3])
        return (y, amap) if return_attention else y

    def spatial_map(self, amap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """The map as one weight per position, (B, H, W); None for channel-only attention."""
        return to_spatial(amap, self.map_kind, size)


def check_input(x: torch.Tensor, channels: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: x must be a torch.Tensor of shape (B, C, H, W), got {type(x)}")
    if x.dim() != 4:
        raise ValueError(f"{who}: x must have shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{who}: x has {x.shape[1]} channels, the module was built for {channels}")


def to_spatial(amap: torch.Tensor, kind: str, size: tuple[int, int]) -> torch.Tensor | None:
    """Reduce a native map to (B, H, W): attention each position receives, on average."""
    h, w = size
    if kind == "channel":
        return None
    if kind == "spatial":
        return amap.reshape(amap.shape[0], h, w)
    if kind == "tokens":
        received = amap.mean(dim=-2)  # over queries: how much each key position is attended
        if received.dim() == 3:  # heads
            received = received.mean(dim=1)
        return received.reshape(amap.shape[0], h, w)
    if kind == "latent":
        return amap.mean(dim=1).reshape(amap.shape[0], h, w)
    raise ValueError(f"unknown map kind {kind!r}; expected one of {MAP_KINDS}")


def attention_modules(model: nn.Module) -> dict[str, AttentionModule]:
    """Every AttentionModule inside `model`, by its qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, AttentionModule)}


@contextmanager
def collect_maps(model: nn.Module) -> Iterator[dict[str, AttentionModule]]:
    """Keep each attention module's last map while inside the block.

    with collect_maps(model) as mods:
        model(x)
        maps = {name: m.last_map for name, m in mods.items()}
    """
    mods = attention_modules(model)
    for m in mods.values():
        m.keep_map, m.last_map = True, None
    try:
        yield mods
    finally:
        for m in mods.values():
            m.keep_map = False


def tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C)."""
    return x.flatten(2).transpose(1, 2)


def image(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W)."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], *size)


def softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v over the last two dims, returning the weights too.

    Written out (not F.scaled_dot_product_attention) because the weights are the point here.
    `mask` is True where a key may be attended; `bias` is added to the logits.
    """
    logits = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = logits.softmax(dim=-1)
    return weights @ v, weights


def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C/heads)."""
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads).transpose(1, 2)


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads*d)."""
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


def check_heads(channels: int, heads: int, who: str) -> None:
    if heads < 1 or channels % heads:
        raise ValueError(f"{who}: heads must divide channels ({channels}), got heads={heads}")
