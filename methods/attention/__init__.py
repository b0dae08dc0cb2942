"""Visual attention as plug-in modules: the survey's catalog, 36 modules, and a CNN to test them."""

from methods.attention.base import (
    AttentionModule,
    attention_modules,
    collect_maps,
    to_spatial,
)
from methods.attention.registry import CATEGORIES, Entry, available, build_attention, entry

__all__ = [
    "CATEGORIES",
    "AttentionModule",
    "Entry",
    "attention_modules",
    "available",
    "build_attention",
    "collect_maps",
    "entry",
    "to_spatial",
]
