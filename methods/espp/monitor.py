"""Firing-rate monitoring: badly set hinge thresholds silently drive rates out of a useful range."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

HEALTHY = (0.02, 0.5)


class FiringRateWarning(UserWarning):
    """A layer fires too little or too much for ESPP to learn useful features."""


def check_rates(
    rates: Sequence[float], low: float = HEALTHY[0], high: float = HEALTHY[1], where: str = ""
) -> list[str]:
    """Warn (FiringRateWarning) for each layer whose mean rate per step leaves [low, high];
    return the messages."""
    messages = []
    for lay, rate in enumerate(rates):
        if not low <= rate <= high:
            side = "below" if rate < low else "above"
            messages.append(
                f"layer {lay + 1} fires at {rate:.3f} spikes/step, {side} the healthy range "
                f"[{low}, {high}]{' ' + where if where else ''}: check rate_pos/rate_neg "
                "(thresholds far from the actual rates make ESPP worse than random weights)"
            )
    for message in messages:
        warnings.warn(message, FiringRateWarning, stacklevel=2)
    return messages
