"""Tool adapter: cluster the tokens a model predicts well by their loss gradients, find each large
cluster's feature circuit, and write the clusters as a browsable HTML report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools._offline import local_weights, ponder_home
from tools.registry import ToolContext, ToolResult, tool

# Row length and circuit window (tokens) per model: the tiny LM's positions stop at 40.
_SHAPES = {"tiny": (40, 8), "chat": (48, 16)}


class ClusterArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["tiny", "chat"] = Field(
        default="tiny",
        description="'tiny' (a toy LM on generated biographies) or 'chat' (the local SmolLM2).",
    )
    corpus: str | None = Field(
        default=None,
        description="A UTF-8 text file to draw tokens from (default: generated biographies for "
        "tiny, standard-library docstrings for chat).",
    )
    n_tokens: int = Field(default=300, ge=1, le=20000, description="Tokens to cluster.")
    k: int = Field(default=5, ge=1, le=2000, description="Clusters (spherical k-means).")
    max_loss: float = Field(default=0.3, gt=0, description="Keep tokens with loss below (nats).")
    parameters: str | None = Field(
        default=None,
        description="Regex over weight names whose gradients embed a token (default: the MLP "
        "output weights of the upper third of the layers).",
    )
    dims: int = Field(default=4096, ge=1, le=65536, description="Sparse projection size.")
    n_circuits: int = Field(default=3, ge=0, le=100, description="Largest clusters to explain.")
    max_nodes: int = Field(default=100, ge=1, le=20000, description="Nodes per cluster circuit.")
    max_contexts: int = Field(default=100, ge=1, le=1000, description="Discovery contexts.")
    method: Literal["ig", "attrib"] = Field(default="ig", description="IG (10 steps) or AtP.")
    workers: int = Field(
        default=1, ge=1, le=64, description="Processes (or local Ray CPUs) for the circuits."
    )
    backend: Literal["processes", "ray"] = Field(
        default="processes",
        description="How the per-cluster circuits shard: spawned processes on this machine, or "
        "Ray tasks (pip install 'ponder[ray]').",
    )
    ray_address: str | None = Field(
        default=None,
        description="A running Ray cluster to use (e.g. 'auto'); every node needs Ponder "
        "installed. Unset: a local Ray instance with `workers` CPUs. Only with backend 'ray'.",
    )
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _ray_address_needs_ray(self) -> ClusterArgs:
        if self.ray_address is not None and self.backend != "ray":
            raise ValueError("ray_address is only used with backend 'ray'")
        return self


class ClusterRow(BaseModel):
    index: int
    size: int
    purity: float
    top_tokens: list[str]
    circuit_nodes: int | None
    faithfulness: float | None


class ClusterResult(ToolResult):
    n_tokens: int
    intra_cosine: float
    inter_cosine: float
    pure_clusters: int
    pure_clusters_shuffled: float
    clusters: list[ClusterRow]
    report_dir: Path


def _model(args: ClusterArgs, ctx: ToolContext) -> tuple[Any, dict, Any, Any, list[str], str]:
    """(model, SAEs, encode, decode, texts, separator) for the chosen model."""
    from methods.circuits import corpus, load_all

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    texts = _read_corpus(args.corpus) if args.corpus else None
    if args.model == "tiny":
        from methods.circuits.biographies import biographies
        from methods.circuits.tiny import bios_tokenizer
        from tools.circuit_shift import shift_model

        # The SHIFT tool's tiny biography LM and its SAE, trained and cached on first use.
        m = shift_model("tiny", 1, ctx)
        tok = bios_tokenizer()
        if texts is None:
            texts = [b.text for p in (0, 1) for g in (0, 1) for b in biographies(150, p, g, 9)]

        def encode(text: str) -> list[int]:
            try:
                return tok.encode(text)
            except KeyError as e:
                raise ValueError(f"corpus: the tiny model's vocabulary lacks {e}") from e

        return m.model, m.saes, encode, tok.decode, texts, ""
    loaded = local_weights(ctx.chat_model)
    if loaded is None:
        raise ValueError(
            "model 'chat' needs a local model's weights (the embedded SmolLM2); with an API "
            "model use model 'tiny'"
        )
    folder = ponder_home() / "cache" / "circuits" / "smollm2_saes"
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(
            f"no SAEs at {folder}: run `python -m benchmarks.circuits --train-only` first"
        )
    saes = load_all(folder)
    for sae in saes.values():
        sae.requires_grad_(False)
    model = loaded.model.float().eval()
    tok = loaded.tokenizer
    return (
        model,
        saes,
        tok.encode,
        tok.decode,
        texts or corpus(args.n_tokens * 600, seed=11),
        "\n\n",
    )


def _read_corpus(path: str) -> list[str]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"corpus {path!r} is not a file")
    texts = [t.strip() for t in file.read_text(encoding="utf-8").split("\n\n") if t.strip()]
    if not texts:
        raise ValueError(f"corpus {path!r} holds no text")
    return texts


@tool("circuits.cluster_behaviours")
def cluster_behaviours(args: ClusterArgs, ctx: ToolContext) -> ClusterResult:
    """Find a model's behaviours without labels: cluster well-predicted tokens by their loss
    gradients, find the largest clusters' feature circuits, and write an HTML report."""
    from methods.circuits.clusters import BehaviourConfig, find_behaviours, token_rows
    from methods.circuits.clusters_circuits import ClusterCircuitConfig, cluster_circuits
    from methods.circuits.clusters_report import write_report

    if args.k > args.n_tokens:
        raise ValueError(f"k ({args.k}) must not exceed n_tokens ({args.n_tokens})")
    model, saes, encode, decode, texts, sep = _model(args, ctx)
    length, window = _SHAPES[args.model]
    rows = token_rows(texts, encode, length, sep)
    config = BehaviourConfig(
        n_tokens=args.n_tokens,
        max_loss=args.max_loss,
        min_context=window,
        stride=5 if args.model == "chat" else 2,
        k=args.k,
        dims=args.dims,
        parameters=args.parameters,
        seed=args.seed,
    )
    found = find_behaviours(model, rows, config, lambda f, m: ctx.report(0.05 + 0.55 * f, m))
    circuit_config = ClusterCircuitConfig(
        window=window,
        max_contexts=args.max_contexts,
        method=args.method,
        n_nodes=args.max_nodes,
        sizes=tuple(n for n in (10, 30, 100, 300, 500) if n < args.max_nodes),
        seed=args.seed,
    )
    circuits = cluster_circuits(
        model,
        saes,
        found,
        found.clusters[: args.n_circuits],
        circuit_config,
        args.workers,
        lambda f, m: ctx.report(0.61 + 0.34 * f, m),
        backend=args.backend,
        ray_address=args.ray_address,
    )
    out = ctx.artifact_dir / "clusters"
    paths = write_report(
        found, circuits, decode, out, f"Behaviour clusters ({args.model})", 20, window
    )
    rows_out = [
        ClusterRow(
            index=cl.index,
            size=cl.size,
            purity=cl.purity,
            top_tokens=[decode([t]) for t, _ in cl.top_targets[:5]],
            circuit_nodes=circuits[cl.index].n_nodes if cl.index in circuits else None,
            faithfulness=circuits[cl.index].faithfulness if cl.index in circuits else None,
        )
        for cl in found.clusters
    ]
    p = found.purity
    faith = ", ".join(
        f"cluster {i} {c.faithfulness:.2f} at {c.n_nodes} nodes" for i, c in circuits.items()
    )
    biggest = rows_out[0]
    summary = (
        f"Clustered {len(found.sites)} well-predicted tokens of the {args.model} model into "
        f"{len(rows_out)} behaviours (cosine within {found.intra_cosine:.2f} vs between "
        f"{found.inter_cosine:.2f}; {p.n_pure} of the {min(p.top, len(rows_out))} largest have "
        f"next-token purity >= {p.bar}, shuffled {p.shuffled_n_pure:.1f}). Largest: cluster "
        f"{biggest.index} ({biggest.size} tokens, mostly {biggest.top_tokens[:3]}). Circuit "
        f"faithfulness: {faith or 'none computed'}. Report: {out / 'index.html'}."
    )
    return ClusterResult(
        summary=summary,
        artifacts=paths[:2],
        n_tokens=len(found.sites),
        intra_cosine=found.intra_cosine,
        inter_cosine=found.inter_cosine,
        pure_clusters=p.n_pure,
        pure_clusters_shuffled=p.shuffled_n_pure,
        clusters=rows_out,
        report_dir=out,
    )
