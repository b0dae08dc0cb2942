"""Cost of each module: parameters, FLOPs (torch's FlopCounterMode) and CPU latency."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from methods.attention.registry import build_attention


@dataclass(frozen=True)
class Cost:
    module: str
    params: int
    flops: int  # multiply-adds count as 2; matmuls and convolutions only (FlopCounterMode)
    latency_ms: float  # median forward time, batch 1, on the current thread count


def measure(
    name: str, channels: int = 64, size: int = 32, repeats: int = 10, warmup: int = 2
) -> Cost:
    """Parameters, FLOPs and median forward latency of module `name` on (1, C, size, size)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    torch.manual_seed(0)
    module = build_attention(name, channels).eval()
    x = torch.randn(1, channels, size, size)
    # Counted with autograd on: the counter's module hooks fail on parameters used under no_grad.
    with FlopCounterMode(display=False) as counter:
        module(x)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            started = time.perf_counter()
            module(x)
            if i >= warmup:
                times.append(time.perf_counter() - started)
    return Cost(
        name,
        sum(p.numel() for p in module.parameters()),
        int(counter.get_total_flops()),
        1000.0 * statistics.median(times),
    )
