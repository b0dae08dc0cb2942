"""Unsupervised behaviour clusters on SmolLM2-135M: gradient clusters of well-predicted tokens and
their feature circuits.

    python -m benchmarks.clusters [--quick] [--tokens N] [--k K] [--method ig|attrib]
                                  [--layers L ...]

1,000 tokens of standard-library docstrings (not the SAE training text) with loss < 0.3 nats and
no repeated trigram, every 5th; gradients of the MLP down_proj weights of layers 20-29 projected
to 4,096 dims; spherical k-means with k = 50. The 5 largest clusters get no-pair circuits over the
residual SAEs of `benchmarks.circuits` (trained and cached there if missing; --layers picks
another set, as there), judged by faithfulness on held-out contexts of the cluster. --quick: 100
tokens, k = 5, 2 circuits. One thread. The HTML report goes to
PONDER_HOME/cache/circuits/clusters_report.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from typing import Any

import torch

from benchmarks.circuits import add_layers_argument, layers_error, layers_tag
from benchmarks.common import RESULTS, Target, at_least, print_targets, write_json
from methods.circuits.clusters_circuits import BACKENDS

ROW, WINDOW = 48, 16  # tokens per scanned row; circuit window (and earliest kept position)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.circuits import load_smollm2, sae_folder, train_stage
    from methods.circuits import corpus
    from methods.circuits.clusters import BehaviourConfig, find_behaviours, token_rows
    from methods.circuits.clusters_circuits import ClusterCircuitConfig, cluster_circuits
    from methods.circuits.clusters_report import write_report

    started = time.perf_counter()
    model, tok = load_smollm2()
    layers = tuple(args.layers)
    saes, _, sae_s = train_stage(model, tok, retrain=False, quick=args.quick, layers=layers)
    for sae in saes.values():
        sae.requires_grad_(False)
    texts = corpus(250 * args.tokens + 50_000, seed=11)
    rows = token_rows(texts, tok.encode, ROW, "\n\n")
    config = BehaviourConfig(
        n_tokens=args.tokens, k=args.k, dims=args.dims, min_context=WINDOW, seed=0
    )
    last = [-1.0]

    def progress(f: float, msg: str) -> None:
        if f - last[0] >= 0.05 or f >= 1:
            last[0] = f
            print(f"  {f:5.1%} {msg}", flush=True)

    cache = sae_folder().parent / f"clusters_found_{args.tokens}_{args.k}_{args.dims}.pkl"
    reused = cache.is_file() and not args.recompute
    if reused:
        # Selection and gradients are the slow half; circuit settings can be rerun on them.
        found = pickle.loads(cache.read_bytes())
        print(f"reusing the tokens, gradients and clusters of {cache} ({found.seconds})")
    else:
        found = find_behaviours(model, rows, config, progress)
        cache.write_bytes(pickle.dumps(found))
    circuit_config = ClusterCircuitConfig(
        window=WINDOW, method=args.method, steps=args.steps, n_nodes=500, seed=0
    )
    chosen = found.clusters[: args.circuits]
    circuits = cluster_circuits(
        model,
        saes,
        found,
        chosen,
        circuit_config,
        args.workers,
        progress,
        backend=args.backend,
        ray_address=args.ray_address,
    )
    report_dir = sae_folder().parent / (
        f"clusters_report{layers_tag(layers)}" + ("_quick" if args.quick else "")
    )
    write_report(
        found, circuits, tok.decode, report_dir, "SmolLM2-135M behaviour clusters", 20, WINDOW
    )

    def show(t: int) -> str:
        return repr(tok.decode([t]))[:12]

    print(
        f"\n{len(found.sites)} tokens from {found.sites[-1].row + 1} rows; gradients of "
        f"{found.embedding.n_weights:,} weights -> {args.dims} dims; k = {args.k}"
    )
    head = f"{'cluster':>7s} {'size':>5s} {'purity':>6s}  {'top next tokens':44s}"
    print(f"{head} {'nodes':>5s} {'F':>6s} {'F mean':>6s}")
    for cl in found.clusters[:20]:
        tops = " ".join(f"{show(t)}x{n}" for t, n in cl.top_targets[:3])
        c = circuits.get(cl.index)
        extra = (
            f"{c.n_nodes:5d} {c.faithfulness:6.2f} {c.faithfulness_other_ablation:6.2f}"
            if c
            else f"{'-':>5s} {'-':>6s} {'-':>6s}"
        )
        print(f"{cl.index:7d} {cl.size:5d} {cl.purity:6.2f}  {tops:44s} {extra}")
    print(
        f"\ncircuits (no-pair, {args.method}, zero patch, summed over positions; faithfulness on "
        "held-out contexts, zero ablation; 'F mean': mean ablation):"
    )
    for i, c in circuits.items():
        curve = " ".join(f"{n}:{f:.2f}" for n, f in sorted(c.curve.items()))
        print(
            f"  cluster {i}: {c.n_discovery} discovery / {c.n_eval} eval contexts, loss "
            f"{c.m_full:.2f} -> {c.m_empty:.2f} ablated; F by nodes {curve}; F on the "
            f"discovery contexts {c.faithfulness_discovery:.2f}; {c.seconds:.0f} s"
        )
    p = found.purity
    print(
        f"\nmean cosine within {found.intra_cosine:.3f}, between {found.inter_cosine:.3f}; "
        f"pure (>= {p.bar}) among the {p.top} largest: {p.n_pure} "
        f"(shuffled {p.shuffled_n_pure:.2f}); mean purity {p.mean_purity:.2f} "
        f"(shuffled {p.shuffled_mean_purity:.2f})"
    )
    reached = sum(c.faithfulness >= 0.5 and c.n_nodes <= 500 for c in circuits.values())
    targets: list[Target] = [
        at_least("intra / inter-cluster cosine", found.intra_cosine / found.inter_cosine, 2.0),
        at_least(f"of the {p.top} largest clusters with purity >= 0.5", p.n_pure, p.top / 2),
        at_least(
            "pure clusters minus shuffled-assignment pure clusters",
            p.n_pure - p.shuffled_n_pure,
            1.0,
        ),
        at_least(
            f"of the {len(chosen)} largest clusters' circuits with F >= 0.5 at <= 500 nodes",
            reached,
            len(chosen),
        ),
    ]
    print_targets(targets)
    wall = time.perf_counter() - started
    print(f"\nwall {wall:.0f} s (report: {report_dir / 'index.html'})")
    return {
        "config": {
            "model": "SmolLM2-135M-Instruct",
            "tokens": args.tokens,
            "k": args.k,
            "dims": args.dims,
            "row": ROW,
            "window": WINDOW,
            "parameters": found.embedding.parameters,
            "circuit_method": args.method,
            "ig_steps": args.steps,
            "saes": sorted(saes),
            "quick": args.quick,
            "threads": torch.get_num_threads(),
            # True: tokens, gradients and clusters came from an earlier run's cache, so
            # wall_seconds covers the circuits only (`seconds` keeps the earlier stages' times).
            "reused_clusters": reused,
        },
        "n_tokens": len(found.sites),
        "rows_scanned": found.sites[-1].row + 1,
        "intra_cosine": found.intra_cosine,
        "inter_cosine": found.inter_cosine,
        "purity": vars(p),
        "largest": [
            {
                "cluster": cl.index,
                "size": cl.size,
                "purity": cl.purity,
                "top": [[tok.decode([t]), n] for t, n in cl.top_targets[:5]],
            }
            for cl in found.clusters[:20]
        ],
        "circuits": {i: vars(c) for i, c in circuits.items()},
        "seconds": {
            **found.seconds,
            "saes": sae_s,
            "circuits": sum(c.seconds for c in circuits.values()),
        },
        "targets": targets,
        "wall_seconds": round(wall),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 tokens, k = 5")
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--dims", type=int, default=4096)
    parser.add_argument("--circuits", type=int, default=None, help="largest clusters to explain")
    parser.add_argument("--method", choices=["ig", "attrib"], default="ig")
    parser.add_argument("--steps", type=int, default=10, help="IG steps")
    parser.add_argument("--workers", type=int, default=1, help="processes (or local Ray CPUs)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="processes",
        help="shard the circuits over processes here, or as Ray tasks (pip install 'ponder[ray]')",
    )
    parser.add_argument("--ray-address", help="a running Ray cluster, e.g. 'auto' (with ray)")
    parser.add_argument("--recompute", action="store_true", help="ignore the cached clusters")
    add_layers_argument(parser, "clusters")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if message := layers_error(args.layers):
        parser.error(message)
    if args.ray_address and args.backend != "ray":
        parser.error("--ray-address goes with --backend ray")
    args.tokens = args.tokens or (100 if args.quick else 1000)
    args.k = args.k or (5 if args.quick else 50)
    args.circuits = args.circuits if args.circuits is not None else (2 if args.quick else 5)
    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    torch.manual_seed(0)
    result = run(args)
    if not args.quick:
        from pathlib import Path

        write_json(result, Path(args.out), f"clusters{layers_tag(tuple(args.layers))}")
    return result


if __name__ == "__main__":
    main()
