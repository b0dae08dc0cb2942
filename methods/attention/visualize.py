"""Pictures: attention maps over their inputs, and a bar chart of a comparison (PIL only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from methods.attention.base import collect_maps


@torch.no_grad()
def spatial_maps(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each attention module's map as (B, H, W) at the input's resolution, for modules that
    have a spatial map (channel-only modules are left out)."""
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    model.eval()
    out = {}
    with collect_maps(model) as mods:
        if not mods:
            raise ValueError("model has no attention modules; add some with insert_attention")
        model(images)
        for name, m in mods.items():
            spatial = m.spatial_map(m.last_map, m.last_size)
            if spatial is not None:
                up = F.interpolate(
                    spatial[:, None].float(), size=images.shape[-2:], mode="bilinear"
                )
                out[name] = up[:, 0]
    return out


def _heat(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB, dark blue through red to yellow."""
    v = np.clip(values, 0, 1)[..., None]
    low, mid, high = np.array([20, 20, 90]), np.array([220, 40, 30]), np.array([255, 230, 60])
    rgb = np.where(v < 0.5, low + (mid - low) * (v * 2), mid + (high - mid) * (v * 2 - 1))
    return rgb.astype(np.uint8)


def overlay_grid(
    images: torch.Tensor,
    maps: torch.Tensor,
    boxes: torch.Tensor | None = None,
    scale: int = 4,
) -> Image.Image:
    """Rows of (input, map over input) pairs; the true box in green and the map's peak in cyan."""
    if images.shape[0] != maps.shape[0]:
        raise ValueError(
            f"images and maps must match in count, got {images.shape[0]}, {maps.shape[0]}"
        )
    n, side = images.shape[0], images.shape[-1] * scale
    cols = min(n, 4)
    rows = -(-n // cols)
    sheet = Image.new("RGB", (cols * (2 * side + 8), rows * (side + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    for i in range(n):
        gray = images[i, 0].clamp(0, 1).numpy()
        m = maps[i].numpy()
        m = (m - m.min()) / max(float(m.max() - m.min()), 1e-8)
        base = np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=2)
        blend = (0.5 * base + 0.5 * _heat(m)).astype(np.uint8)
        x0, y0 = (i % cols) * (2 * side + 8), (i // cols) * (side + 8)
        for k, arr in enumerate((base, blend)):
            tile = Image.fromarray(arr).resize((side, side), Image.NEAREST)
            sheet.paste(tile, (x0 + k * side, y0))
        if boxes is not None:
            by0, bx0, by1, bx1 = (int(v) * scale for v in boxes[i])
            for k in range(2):
                draw.rectangle(
                    [x0 + k * side + bx0, y0 + by0, x0 + k * side + bx1 - 1, y0 + by1 - 1],
                    outline=(0, 200, 0),
                )
        py, px = np.unravel_index(int(np.argmax(m)), m.shape)
        cx, cy = x0 + side + px * scale + scale // 2, y0 + py * scale + scale // 2
        draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], outline=(0, 230, 230), width=2)
    return sheet


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float] | None = None,
    title: str = "",
    reference: float | None = None,
) -> Image.Image:
    """Horizontal bars with optional error whiskers and a reference line (e.g. the baseline)."""
    if len(labels) != len(values) or not labels:
        raise ValueError("labels and values must be non-empty and of equal length")
    width, bar_h, left, top = 560, 22, 110, 30
    img = Image.new("RGB", (width, top + len(labels) * (bar_h + 6) + 20), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 8), title, fill="black")
    lo = min(min(values), reference if reference is not None else min(values))
    lo = max(0.0, lo - 0.05)
    hi = max(values) + (max(errors) if errors else 0) + 0.02
    span = max(hi - lo, 1e-6)

    def x(v: float) -> float:
        return left + (v - lo) / span * (width - left - 60)

    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + 6)
        draw.text((8, y + 5), label, fill="black")
        draw.rectangle([left, y, x(v), y + bar_h], fill=(70, 110, 190))
        if errors:
            draw.line(
                [x(v - errors[i]), y + bar_h // 2, x(v + errors[i]), y + bar_h // 2],
                fill="black",
                width=2,
            )
        draw.text((x(v) + 4, y + 5), f"{100 * v:.1f}", fill="black")
    if reference is not None:
        draw.line([x(reference), top - 4, x(reference), img.height - 16], fill=(200, 0, 0), width=1)
    return img
