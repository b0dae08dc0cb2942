"""Tool adapters: train SAEs, discover a sparse feature circuit, show features' top contexts, and
evaluate a circuit's faithfulness, on the tiny agreement model or the agent's local model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from tools._offline import local_weights, ponder_home
from tools.registry import ToolContext, ToolResult, tool

ModelName = Literal["tiny", "chat"]
Family = Literal["simple", "nounpp", "within_rc", "rc"]
_TINY_NOUNS = 12


class _Loaded:
    """A model with its tokenizer's encode/decode and where its SAEs live by default."""

    def __init__(self, model: Any, encode: Any, decode: Any, saes_dir: Path, nouns: list[str]):
        self.model, self.encode, self.decode = model, encode, decode
        self.saes_dir, self.nouns = saes_dir, nouns


def _load(name: str, ctx: ToolContext) -> _Loaded:
    from methods.circuits import NOUNS

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    cache = ponder_home() / "cache" / "circuits"
    if name == "tiny":
        from methods.circuits.tiny import TinyTransformer, agreement_tokenizer, train_tiny_agreement

        nouns = list(NOUNS[:_TINY_NOUNS])
        path = cache / "tiny_agreement.pt"
        tok = agreement_tokenizer(nouns)
        if path.is_file():
            model = TinyTransformer(len(tok))
            model.load_state_dict(torch.load(path, weights_only=True))
            model.eval().requires_grad_(False)
        else:
            ctx.report(0.02, "training the tiny agreement transformer")
            model, tok = train_tiny_agreement(nouns, steps=300)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), path)
        return _Loaded(model, tok.encode, tok.decode, cache / "tiny_saes", nouns)
    loaded = local_weights(ctx.chat_model)
    if loaded is None:
        raise ValueError(
            "model 'chat' needs a local model's weights (the embedded SmolLM2); with an API "
            "model use model 'tiny'"
        )
    tok = loaded.tokenizer
    return _Loaded(
        loaded.model.float().eval(), tok.encode, tok.decode, cache / "smollm2_saes", list(NOUNS)
    )


class TrainSAEArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(default="tiny", description="'tiny' (the agreement toy) or 'chat'.")
    layers: list[int] = Field(
        default=[0, 1],
        min_length=1,
        max_length=8,
        description="Residual-stream layers to train an SAE at.",
    )
    n_latents: int = Field(default=128, ge=8, le=16384, description="Latents per SAE.")
    k: int = Field(default=8, ge=1, le=256, description="Active latents per token (TopK).")
    steps: int = Field(default=300, ge=10, le=20000, description="Training steps.")
    seed: int = Field(default=0, ge=0)


class SAEQuality(BaseModel):
    name: str
    fraction_variance_explained: float
    l0: float
    dead_fraction: float
    ce_loss_recovered: float | None


class TrainSAEResult(ToolResult):
    saes_dir: Path
    quality: list[SAEQuality]


def _texts(loaded: _Loaded, model_name: str, n: int) -> list[str]:
    from methods.circuits import FAMILIES, corpus, make_pairs, task_sentences

    if model_name == "tiny":
        return [p.clean + p.clean_answer for f in FAMILIES for p in make_pairs(f, loaded.nouns, n)]
    return corpus(n * 400, task_sentences(loaded.nouns, n=400), 0.1)


@tool("circuits.train_sae")
def train_sae(args: TrainSAEArgs, ctx: ToolContext) -> TrainSAEResult:
    """Train TopK sparse autoencoders on a model's residual stream and report their quality."""
    from methods.circuits import TrainConfig, measure, save_all, train_dictionaries
    from methods.circuits.hooks import n_layers

    loaded = _load(args.model, ctx)
    depth = n_layers(loaded.model)
    bad = [layer for layer in args.layers if not 0 <= layer < depth]
    if bad:
        raise ValueError(f"layers {bad} are outside the model's {depth} layers")
    names = [f"resid_{layer}" for layer in sorted(set(args.layers))]
    tiny = args.model == "tiny"
    texts = _texts(loaded, args.model, 400 if tiny else 300)
    config = TrainConfig(
        steps=args.steps,
        batch_size=256 if tiny else 512,
        warmup_steps=max(args.steps // 10, 5),
        lr=3e-3 if tiny else None,
        seed=args.seed,
    )
    saes = train_dictionaries(
        loaded.model,
        loaded.encode,
        texts,
        names,
        args.n_latents,
        k=args.k,
        config=config,
        context=8 if tiny else 128,
        reuse=50 if tiny else 3,
        capacity=4096 if tiny else 16384,
        progress=lambda f, m: ctx.report(0.1 + 0.8 * f, m),
    )
    folder = save_all(
        saes,
        ctx.artifact_dir / "circuits" / "saes",
        {"model": args.model, "seed": args.seed, "steps": args.steps},
    )
    held = [loaded.encode(t) for t in _texts(loaded, args.model, 20)]
    length = max(set(map(len, held)), key=[len(h) for h in held].count)
    ids = torch.tensor([h for h in held if len(h) == length][:32])
    rows = [
        SAEQuality(
            name=n,
            fraction_variance_explained=q.fraction_variance_explained,
            l0=q.l0,
            dead_fraction=q.dead_fraction,
            ce_loss_recovered=q.ce_loss_recovered,
        )
        for n, q in measure(loaded.model, saes, ids).items()
    ]
    loaded.saes_dir.mkdir(parents=True, exist_ok=True)
    save_all(saes, loaded.saes_dir, {"model": args.model, "seed": args.seed})
    text = ", ".join(
        f"{r.name} FVE {r.fraction_variance_explained:.2f} L0 {r.l0:.0f}" for r in rows
    )
    return TrainSAEResult(
        summary=f"Trained {len(rows)} SAEs on the {args.model} model: {text}.",
        artifacts=[folder / "meta.json"],
        saes_dir=folder,
        quality=rows,
    )


def _saes(loaded: _Loaded, saes_dir: str | None, model_name: str, ctx: ToolContext) -> dict:
    from methods.circuits import load_all

    folder = Path(saes_dir) if saes_dir else loaded.saes_dir
    if not (folder / "meta.json").is_file():
        if saes_dir or model_name != "tiny":
            raise FileNotFoundError(
                f"no SAEs at {folder}: run circuits.train_sae first (or `python -m "
                "benchmarks.circuits --train-only` for the chat model)"
            )
        train_sae(TrainSAEArgs(), ctx)
    return load_all(folder)


class DiscoverArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(default="tiny", description="'tiny' (the agreement toy) or 'chat'.")
    family: Family = Field(default="nounpp", description="Subject-verb agreement prompt family.")
    saes_dir: str | None = Field(default=None, description="SAE folder (default: the model's).")
    n_pairs: int = Field(default=24, ge=4, le=200, description="Contrastive pairs for discovery.")
    max_nodes: int = Field(default=40, ge=1, le=20000, description="Circuit size (top |IE|).")
    edge_threshold: float = Field(default=0.0, ge=0, description="Keep edges with |IE| above.")
    method: Literal["ig", "attrib"] = Field(default="ig", description="IG (10 steps) or AtP.")


class CircuitNode(BaseModel):
    id: str
    effect: float


class DiscoverResult(ToolResult):
    n_nodes: int
    n_edges: int
    faithfulness: float
    completeness: float
    random_faithfulness: float
    top_nodes: list[CircuitNode]
    circuit_json: Path


def _pairs(loaded: _Loaded, family: str, n: int, seed: int, test: bool):
    from methods.circuits import keep_correct, make_pairs, split_nouns, tokenize_pairs

    train_nouns, test_nouns = split_nouns(loaded.nouns, test_fraction=0.34)
    nouns = test_nouns if test else train_nouns
    tokens = keep_correct(
        loaded.model, tokenize_pairs(make_pairs(family, nouns, 4 * n, seed=seed), loaded.encode)
    )
    if len(tokens) < 2:
        raise ValueError(f"the model gets fewer than 2 {family} pairs right: no circuit to find")
    return tokens.subset(torch.arange(min(n, len(tokens))))


@tool("circuits.discover")
def discover(args: DiscoverArgs, ctx: ToolContext) -> DiscoverResult:
    """Find the sparse feature circuit for subject-verb agreement and measure its faithfulness."""
    from methods.circuits import (
        Evaluator,
        edge_effects,
        node_effects,
        random_circuit,
        top_circuit,
        write,
    )
    from methods.circuits.render import graph

    loaded = _load(args.model, ctx)
    saes = _saes(loaded, args.saes_dir, args.model, ctx)
    ctx.report(0.3, f"attributing {args.family} pairs")
    disc = _pairs(loaded, args.family, args.n_pairs, 1, test=False)
    test = _pairs(loaded, args.family, args.n_pairs, 2, test=True)
    effects = node_effects(loaded.model, saes, disc.discovery_task(), args.method)
    circuit = top_circuit(effects, args.max_nodes)
    ev = Evaluator(loaded.model, saes, test.eval_task())
    faith = ev.faithfulness(circuit).faithfulness
    complete = ev.completeness(circuit).faithfulness
    rand = ev.faithfulness(random_circuit(effects, circuit.n_nodes, seed=0)).faithfulness
    ctx.report(0.7, "edges between circuit nodes")
    nodes = circuit.nodes()
    edges = (
        edge_effects(
            loaded.model, saes, disc.discovery_task(), effects, nodes[:60], args.edge_threshold
        )
        if args.method == "ig"
        else []
    )
    g = graph(effects, nodes, edges)
    out = ctx.artifact_dir / "circuits"
    paths = write(g, out, f"circuit_{args.family}")
    ranked = sorted(g["nodes"], key=lambda n: -abs(n["effect"]))[:10]
    (out / f"circuit_{args.family}_eval.json").write_text(
        json.dumps(
            {
                "faithfulness": faith,
                "completeness": complete,
                "random": rand,
                "family": args.family,
                "model": args.model,
            },
            indent=2,
        )
    )
    summary = (
        f"{args.family} agreement circuit on the {args.model} model: {circuit.n_nodes} "
        f"nodes, {len(edges)} edges; faithfulness {faith:.2f} (random circuit of the same "
        f"size {rand:.2f}), completeness {complete:.2f}. Top node "
        f"{ranked[0]['id'] if ranked else '-'}."
    )
    return DiscoverResult(
        summary=summary,
        artifacts=paths,
        n_nodes=circuit.n_nodes,
        n_edges=len(edges),
        faithfulness=faith,
        completeness=complete,
        random_faithfulness=rand,
        top_nodes=[CircuitNode(id=n["id"], effect=n["effect"]) for n in ranked],
        circuit_json=paths[0],
    )


class FeaturesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(default="tiny")
    features: list[str] = Field(
        min_length=1, max_length=20, description="Features as 'resid_1/12' (hook point/index)."
    )
    saes_dir: str | None = Field(default=None)
    k: int = Field(default=5, ge=1, le=20, description="Contexts per feature.")


class FeaturesResult(ToolResult):
    contexts: dict[str, list[str]]


@tool("circuits.features")
def features(args: FeaturesArgs, ctx: ToolContext) -> FeaturesResult:
    """Show the corpus contexts where given SAE features fire most (to interpret them)."""
    from methods.circuits import top_contexts
    from methods.circuits.render import contexts_json

    loaded = _load(args.model, ctx)
    saes = _saes(loaded, args.saes_dir, args.model, ctx)
    parsed = []
    for f in args.features:
        name, _, idx = f.partition("/")
        if name not in saes or not idx.isdigit() or int(idx) >= saes[name].n_latents:
            raise ValueError(
                f"feature {f!r} must be 'hook/index' with hook in {sorted(saes)} "
                "and index below the SAE's width"
            )
        parsed.append((name, int(idx)))
    texts = _texts(loaded, args.model, 50 if args.model == "tiny" else 40)
    rows = [loaded.encode(t) for t in texts]
    lengths = [len(r) for r in rows]
    width = max(set(lengths), key=lengths.count) if args.model == "tiny" else 64
    ids = torch.tensor([r[:width] for r in rows if len(r) >= width][:400])
    found = top_contexts(loaded.model, saes, parsed, ids, lambda t: loaded.decode(t), k=args.k)
    path = ctx.artifact_dir / "circuits" / "feature_contexts.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(contexts_json(found), indent=2))
    contexts = {k: [c.text for c in v] for k, v in found.items()}
    first = next(iter(contexts.items()))
    return FeaturesResult(
        summary=f"Top contexts for {len(contexts)} features; {first[0]}: {first[1][:2]}",
        artifacts=[path],
        contexts=contexts,
    )


class EvaluateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(default="tiny")
    family: Family = Field(default="nounpp")
    saes_dir: str | None = Field(default=None)
    sizes: list[int] = Field(
        default=[5, 10, 20, 40, 80],
        min_length=1,
        max_length=12,
        description="Circuit sizes for the faithfulness-vs-size curve.",
    )
    n_pairs: int = Field(default=24, ge=4, le=200)


class EvaluateResult(ToolResult):
    faithfulness: dict[int, float]
    completeness: dict[int, float]
    random: dict[int, float]


@tool("circuits.evaluate")
def evaluate(args: EvaluateArgs, ctx: ToolContext) -> EvaluateResult:
    """Faithfulness and completeness of agreement circuits of several sizes, against random."""
    from methods.circuits import Evaluator, node_effects, random_circuit, top_circuit

    loaded = _load(args.model, ctx)
    saes = _saes(loaded, args.saes_dir, args.model, ctx)
    disc = _pairs(loaded, args.family, args.n_pairs, 1, test=False)
    test = _pairs(loaded, args.family, args.n_pairs, 2, test=True)
    effects = node_effects(loaded.model, saes, disc.discovery_task(), "ig")
    ev = Evaluator(loaded.model, saes, test.eval_task())
    faith, comp, rand = {}, {}, {}
    for n in args.sizes:
        c = top_circuit(effects, min(n, effects.n_nodes()))
        faith[n] = ev.faithfulness(c).faithfulness
        comp[n] = ev.completeness(c).faithfulness
        rand[n] = ev.faithfulness(random_circuit(effects, c.n_nodes, seed=0)).faithfulness
    path = ctx.artifact_dir / "circuits" / f"faithfulness_{args.family}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"faithfulness": faith, "completeness": comp, "random": rand}))
    line = ", ".join(f"{n}: {faith[n]:.2f}" for n in args.sizes)
    return EvaluateResult(
        summary=f"Faithfulness by circuit size ({args.family}): {line}.",
        artifacts=[path],
        faithfulness=faith,
        completeness=comp,
        random=rand,
    )
