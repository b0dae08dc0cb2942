"""The behaviour clusters as a browsable folder: index.html (clusters by size with purity, top
predicted tokens, circuit size and faithfulness), one cluster_<i>.html each (contexts with the
predicted token marked, a histogram of predicted tokens, the circuit's top nodes), clusters.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from html import escape
from pathlib import Path

from methods.circuits.clusters import Behaviours, Cluster
from methods.circuits.clusters_circuits import ClusterCircuit

Decode = Callable[[list[int]], str]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse}td,th{padding:3px 9px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}.ctx{font-family:monospace;white-space:pre-wrap;margin:4px 0;
padding:4px;background:#fafafa;border-left:3px solid #ccc}
mark{background:#ffd54f;font-weight:bold}.bar{background:#4a90d9;height:12px;display:inline-block}
.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _token(decode: Decode, token: int) -> str:
    return repr(decode([token]))


def _circuit_cells(circ: ClusterCircuit | None) -> str:
    if circ is None:
        return '<td class="num">-</td><td class="num">-</td>'
    return f'<td class="num">{circ.n_nodes}</td><td class="num">{circ.faithfulness:.2f}</td>'


def _index(
    found: Behaviours, circuits: dict[int, ClusterCircuit], decode: Decode, title: str
) -> str:
    p = found.purity
    head = (
        f"<h1>{escape(title)}</h1>"
        f"<p>{len(found.sites)} tokens with loss below {found.config.max_loss} and no repeated "
        f"trigram; gradients of {len(found.embedding.parameters)} weight matrices "
        f"({found.embedding.n_weights:,} weights) projected to {found.config.dims} dims; "
        f"spherical k-means, k = {found.config.k}.</p>"
        f"<p>Mean cosine within clusters {found.intra_cosine:.3f}, between clusters "
        f"{found.inter_cosine:.3f}. Of the {p.top} largest clusters, {p.n_pure} have next-token "
        f"purity at least {p.bar} (shuffled assignments: {p.shuffled_n_pure:.1f}); mean purity "
        f"{p.mean_purity:.2f} (shuffled {p.shuffled_mean_purity:.2f}).</p>"
    )
    rows = []
    for cl in found.clusters:
        tops = ", ".join(f"{escape(_token(decode, t))}&nbsp;×{n}" for t, n in cl.top_targets[:5])
        rows.append(
            f'<tr><td><a href="cluster_{cl.index}.html">cluster {cl.index}</a></td>'
            f'<td class="num">{cl.size}</td><td class="num">{cl.purity:.2f}</td><td>{tops}</td>'
            f"{_circuit_cells(circuits.get(cl.index))}</tr>"
        )
    table = (
        "<table><tr><th>cluster</th><th>size</th><th>purity</th><th>top predicted tokens</th>"
        "<th>circuit nodes</th><th>faithfulness</th></tr>\n" + "\n".join(rows) + "</table>"
    )
    return _page(title, head + table)


def _cluster_page(
    found: Behaviours,
    cl: Cluster,
    circ: ClusterCircuit | None,
    decode: Decode,
    n_contexts: int,
    window: int,
) -> str:
    parts = [
        '<p><a href="index.html">all clusters</a></p>',
        f"<h1>Cluster {cl.index}</h1>",
        f"<p>{cl.size} tokens; next-token purity {cl.purity:.2f}.</p>",
        "<h2>Predicted tokens</h2><table>",
    ]
    most = cl.top_targets[0][1] if cl.top_targets else 1
    for t, n in cl.top_targets:
        parts.append(
            f"<tr><td>{escape(_token(decode, t))}</td><td class='num'>{n}</td>"
            f'<td><span class="bar" style="width:{int(300 * n / most)}px"></span></td></tr>'
        )
    parts.append("</table><h2>Circuit</h2>")
    if circ is None:
        parts.append("<p>No circuit was computed for this cluster.</p>")
    else:
        where = "the discovery contexts" if circ.in_sample else f"{circ.n_eval} held-out contexts"
        curve = ", ".join(f"{n}: {f:.2f}" for n, f in sorted(circ.curve.items()))
        parts.append(
            f"<p>{circ.n_nodes} nodes from {circ.n_discovery} contexts; faithfulness "
            f"{circ.faithfulness:.2f} on {escape(where)} (loss {circ.m_full:.2f} nats whole "
            f"model, {circ.m_empty:.2f} all ablated). By size: {escape(curve)}.</p>"
            "<table><tr><th>node</th><th>effect</th></tr>"
        )
        for node, effect in circ.top_nodes:
            parts.append(f"<tr><td>{escape(node)}</td><td class='num'>{effect:+.4f}</td></tr>")
        parts.append("</table>")
    parts.append(f"<h2>Contexts ({min(n_contexts, cl.size)} of {cl.size})</h2>")
    for i in cl.members[:n_contexts]:
        s = found.sites[i]
        parts.append(
            f'<div class="ctx">{escape(decode(s.window(window)))}'
            f"<mark>{escape(decode([s.target]))}</mark> "
            f"<small>(loss {s.loss:.3f})</small></div>"
        )
    return _page(f"Cluster {cl.index}", "\n".join(parts))


def report_json(
    found: Behaviours, circuits: dict[int, ClusterCircuit], decode: Decode, window: int
) -> dict:
    """Everything the HTML shows, as JSON-ready data."""
    p = found.purity
    return {
        "config": asdict(found.config),
        "n_tokens": len(found.sites),
        "parameters": found.embedding.parameters,
        "n_weights": found.embedding.n_weights,
        "intra_cosine": found.intra_cosine,
        "inter_cosine": found.inter_cosine,
        "purity": asdict(p),
        "seconds": found.seconds,
        "clusters": [
            {
                "index": cl.index,
                "size": cl.size,
                "purity": cl.purity,
                "top_targets": [
                    {"token": decode([t]), "id": t, "count": n} for t, n in cl.top_targets
                ],
                "contexts": [
                    {
                        "text": decode(found.sites[i].window(window)),
                        "target": decode([found.sites[i].target]),
                        "loss": float(found.sites[i].loss),
                    }
                    for i in cl.members[:20]
                ],
                "circuit": asdict(circuits[cl.index]) if cl.index in circuits else None,
            }
            for cl in found.clusters
        ],
    }


def write_report(
    found: Behaviours,
    circuits: dict[int, ClusterCircuit],
    decode: Decode,
    out: str | Path,
    title: str = "Behaviour clusters",
    n_contexts: int = 20,
    window: int = 16,
) -> list[Path]:
    """Write index.html, cluster_<i>.html per cluster and clusters.json under `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "index.html"]
    paths[0].write_text(_index(found, circuits, decode, title), encoding="utf-8")
    for cl in found.clusters:
        path = out / f"cluster_{cl.index}.html"
        path.write_text(
            _cluster_page(found, cl, circuits.get(cl.index), decode, n_contexts, window),
            encoding="utf-8",
        )
        paths.append(path)
    data = out / "clusters.json"
    data.write_text(json.dumps(report_json(found, circuits, decode, window), indent=1))
    return [paths[0], data, *paths[1:]]
