"""The registry: every implemented module by name, with its category, paper and properties."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from methods.attention.base import AttentionModule

Factory = Callable[..., AttentionModule]

# The survey's taxonomy: soft (deterministic) and hard (stochastic) families.
SOFT = ("channel", "spatial", "self", "arithmetic", "multi-modal", "logical", "category-based")
HARD = ("statistical", "gaussian", "clustering")
CATEGORIES = SOFT + HARD


@dataclass(frozen=True)
class Entry:
    """A registered module: how to build it and what it is."""

    name: str
    factory: Factory
    category: str
    paper: str  # "Author et al. Year, Title"
    year: int
    formula: str
    source: str  # "timm" (timm.layers, wrapped) or "ponder" (written here)
    # "gate_spatial_perm": the gate ignores where things are (SE, ECA);
    # "token_perm_equivariant": permuting positions permutes the output the same way.
    invariance: str | None = None
    # Stochastic modules sample in training mode and are deterministic in eval mode.
    stochastic: bool = False


_REGISTRY: dict[str, Entry] = {}


def register(
    name: str,
    *,
    category: str,
    paper: str,
    year: int,
    formula: str,
    source: str = "ponder",
    invariance: str | None = None,
    stochastic: bool = False,
) -> Callable[[Factory], Factory]:
    """Register a factory `(channels, **kw) -> AttentionModule` under `name`."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} is not one of {CATEGORIES}")

    def add(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"attention module {name!r} is registered twice")
        _REGISTRY[name] = Entry(
            name, factory, category, paper, year, formula, source, invariance, stochastic
        )
        return factory

    return add


def _load() -> None:
    # Importing the module files runs their @register decorators; done lazily so that
    # importing the package stays cheap.
    from methods.attention import (  # noqa: F401
        channel,
        latent,
        self_attention,
        spatial,
        timm_modules,
    )


def available(category: str | None = None) -> list[str]:
    """Registered names, optionally of one category."""
    _load()
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
    return sorted(n for n, e in _REGISTRY.items() if category in (None, e.category))


def entry(name: str) -> Entry:
    _load()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown attention module {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})"
        )
    return _REGISTRY[name]


def build_attention(name: str, channels: int, **kw: Any) -> AttentionModule:
    """Build registered module `name` for `channels` input channels; extra options go to it."""
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    return entry(name).factory(channels, **kw)
