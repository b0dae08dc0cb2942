"""A circuit as data and pictures: graph JSON, an SVG and a PNG drawn here (graphviz `dot` is used
for the SVG when the binary exists), and each feature's top-activating contexts from a corpus."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from methods.circuits.attribution import Edge, Effects, Node, effect_of
from methods.circuits.hooks import point_order, record


def node_id(node: Node) -> str:
    name, pos, feat = node
    return f"{name}/{'err' if feat is None else feat}@{pos}"


def graph(
    effects: Effects, nodes: list[Node], edges: list[Edge], labels: dict[str, str] | None = None
) -> dict:
    """{"nodes": [...], "edges": [...]} with effects, ready for json.dump."""
    labels = labels or {}
    return {
        "nodes": [
            {
                "id": node_id(n),
                "submodule": n[0],
                "position": n[1],
                "feature": n[2],
                "effect": effect_of(effects, n),
                "label": labels.get(node_id(n), ""),
            }
            for n in nodes
        ],
        "edges": [
            {"source": node_id(e.upstream), "target": node_id(e.downstream), "effect": e.effect}
            for e in edges
        ],
    }


def _layout(g: dict, width: int) -> tuple[dict[str, tuple[float, float]], list[str], int]:
    layers = sorted({n["submodule"] for n in g["nodes"]}, key=point_order)
    row_h = 110
    height = row_h * (len(layers) + 1)
    xy = {}
    for li, layer in enumerate(layers):
        row = sorted(
            (n for n in g["nodes"] if n["submodule"] == layer),
            key=lambda n: (n["position"], str(n["feature"])),
        )
        y = height - row_h * (li + 1)
        for i, n in enumerate(row):
            xy[n["id"]] = (width * (i + 1) / (len(row) + 1), y)
    return xy, layers, height


def svg(g: dict, width: int = 1200) -> str:
    """The graph drawn bottom (early layers) to top: blue raises the metric, red lowers it."""
    xy, layers, height = _layout(g, width)
    biggest = max([abs(e["effect"]) for e in g["edges"]] + [1e-12])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="10">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for e in g["edges"]:
        if e["source"] in xy and e["target"] in xy:
            (x1, y1), (x2, y2) = xy[e["source"]], xy[e["target"]]
            colour = "#2060c0" if e["effect"] > 0 else "#c03030"
            w = 0.5 + 4 * abs(e["effect"]) / biggest
            parts.append(
                f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                f'stroke="{colour}" stroke-width="{w:.1f}" opacity="0.6"/>'
            )
    for li, layer in enumerate(layers):
        parts.append(
            f'<text x="8" y="{height - 110 * (li + 1) + 4}" font-weight="bold">{layer}</text>'
        )
    for n in g["nodes"]:
        x, y = xy[n["id"]]
        fill = "#dddddd" if n["feature"] is None else ("#b8d0f0" if n["effect"] > 0 else "#f0c0c0")
        text = html.escape(n["label"] or n["id"].split("/", 1)[1])[:28]
        parts.append(
            f'<rect x="{x - 45:.0f}" y="{y - 10:.0f}" width="90" height="20" rx="4" '
            f'fill="{fill}" stroke="#444"/>'
        )
        parts.append(f'<text x="{x:.0f}" y="{y + 4:.0f}" text-anchor="middle">{text}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def png(g: dict, path: Path, width: int = 1200) -> Path:
    """The same drawing as `svg`, rasterised with Pillow."""
    from PIL import Image, ImageDraw

    xy, layers, height = _layout(g, width)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    biggest = max([abs(e["effect"]) for e in g["edges"]] + [1e-12])
    for e in g["edges"]:
        if e["source"] in xy and e["target"] in xy:
            colour = (32, 96, 192) if e["effect"] > 0 else (192, 48, 48)
            draw.line(
                [xy[e["source"]], xy[e["target"]]],
                fill=colour,
                width=max(1, round(1 + 4 * abs(e["effect"]) / biggest)),
            )
    for li, layer in enumerate(layers):
        draw.text((8, height - 110 * (li + 1) - 4), layer, fill="black")
    for n in g["nodes"]:
        x, y = xy[n["id"]]
        fill = (
            (221, 221, 221)
            if n["feature"] is None
            else ((184, 208, 240) if n["effect"] > 0 else (240, 192, 192))
        )
        draw.rectangle([x - 45, y - 10, x + 45, y + 10], fill=fill, outline=(68, 68, 68))
        draw.text((x - 42, y - 6), (n["label"] or n["id"].split("/", 1)[1])[:16], fill="black")
    img.save(path)
    return path


def write(g: dict, folder: Path, stem: str = "circuit") -> list[Path]:
    """circuit.json, circuit.svg (graphviz when `dot` exists, else drawn here) and circuit.png."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.svg", folder / f"{stem}.png"]
    paths[0].write_text(json.dumps(g, indent=2))
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg", "-o", str(paths[1])], input=_dot(g), text=True, check=True)
    else:
        paths[1].write_text(svg(g))
    png(g, paths[2])
    return paths


def _dot(g: dict) -> str:
    lines = ["digraph circuit {", "rankdir=BT;"]
    for n in g["nodes"]:
        lines.append(f'"{n["id"]}" [label="{n["label"] or n["id"]}", shape=box];')
    for e in g["edges"]:
        colour = "blue" if e["effect"] > 0 else "red"
        lines.append(f'"{e["source"]}" -> "{e["target"]}" [color={colour}];')
    return "\n".join(lines + ["}"])


@dataclass
class Context:
    text: str  # the context with the activating token in [brackets]
    activation: float
    token: str = ""  # the activating token alone


@torch.no_grad()
def top_contexts(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    features: list[tuple[str, int]],
    contexts: torch.Tensor,
    decode: Callable[[list[int]], str],
    k: int = 5,
    window: int = 8,
) -> dict[str, list[Context]]:
    """For each (hook point, feature), the `k` corpus tokens where it fires most, with the
    `window` tokens before them: the evidence a person reads to interpret a feature."""
    if contexts.ndim != 2 or not len(contexts):
        raise ValueError(f"contexts must be (n, T) token ids, got {tuple(contexts.shape)}")
    names = sorted({n for n, _ in features}, key=point_order)
    missing = [n for n in names if n not in dictionaries]
    if missing:
        raise KeyError(f"features name hook points without dictionaries: {missing}")
    acts = record(model, names, contexts)
    out = {}
    for name, feat in features:
        f = dictionaries[name].encode(acts[name].float())[..., feat]  # (n, T)
        f[:, 0] = 0  # the attention-sink position is not evidence
        top = f.reshape(-1).topk(min(k, f.numel()))
        items = []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            if value <= 0:
                break
            row, pos = divmod(flat, f.shape[1])
            ids = contexts[row].tolist()
            before = decode(ids[max(0, pos - window) : pos])
            token = decode([ids[pos]])
            items.append(Context(f"{before}[{token}]", value, token))
        out[f"{name}/{feat}"] = items
    return out


def contexts_json(found: dict[str, list[Context]]) -> dict:
    return {k: [asdict(c) for c in v] for k, v in found.items()}
