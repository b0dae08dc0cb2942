"""The unit bars every module is held to: shape, finite gradients, its documented invariance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from methods.attention.registry import build_attention, entry


@dataclass(frozen=True)
class CheckResult:
    module: str
    shapes_ok: bool
    gradients_finite: bool
    invariance: str | None
    invariance_error: float | None  # max |difference|; None when the module states none

    @property
    def passed(self) -> bool:
        inv_ok = self.invariance_error is None or self.invariance_error <= 1e-5
        return self.shapes_ok and self.gradients_finite and inv_ok


def shape_and_gradients(
    name: str, channels: int = 16, sizes: Sequence[int] = (7, 16, 33), seed: int = 0
) -> tuple[bool, bool]:
    """Whether (2, C, s, s) keeps its shape for every s, and every gradient is finite."""
    shapes_ok, finite = True, True
    for size in sizes:
        torch.manual_seed(seed)
        module = perturb(build_attention(name, channels)).train()
        x = torch.randn(2, channels, size, size, requires_grad=True)
        y = module(x)
        shapes_ok &= tuple(y.shape) == tuple(x.shape)
        (y * torch.randn_like(y)).sum().backward()
        grads = [x.grad] + [p.grad for p in module.parameters() if p.grad is not None]
        finite &= all(bool(torch.isfinite(g).all()) for g in grads)
    return shapes_ok, finite


@torch.no_grad()
def perturb(module: torch.nn.Module, scale: float = 0.1) -> torch.nn.Module:
    """Add noise to every parameter: zero-initialised output layers would make a module the
    identity, which satisfies any invariance trivially."""
    for p in module.parameters():
        p.add_(scale * torch.randn_like(p))
    return module


def permute_positions(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.flatten(2)[:, :, perm].reshape(b, c, h, w)


@torch.no_grad()
def invariance_error(name: str, channels: int = 16, size: int = 9, seed: int = 0) -> float | None:
    """Max |difference| under a random permutation of the positions, in float64, eval mode.

    Permutation-equivariant modules: module(P x) against P module(x). Gate modules whose gate
    ignores positions: the same, and for channel gates also the gate itself against P-free.
    """
    stated = entry(name).invariance
    if stated is None:
        return None
    torch.manual_seed(seed)
    module = perturb(build_attention(name, channels).double().eval())
    x = torch.randn(2, channels, size, size, dtype=torch.float64)
    perm = torch.randperm(size * size)
    y, amap = module(x, return_attention=True)
    y_p, amap_p = module(permute_positions(x, perm), return_attention=True)
    error = float((y_p - permute_positions(y, perm)).abs().max())
    if stated == "gate_spatial_perm" and module.map_kind == "channel":
        error = max(error, float((amap_p - amap).abs().max()))
    return error


def check(name: str, channels: int = 16) -> CheckResult:
    shapes_ok, finite = shape_and_gradients(name, channels)
    return CheckResult(
        name, shapes_ok, finite, entry(name).invariance, invariance_error(name, channels)
    )
