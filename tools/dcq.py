"""Tool adapters: the Data Contamination Quiz (dcq.quiz) and its perturbation step (dcq.perturb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools._offline import local_weights, minilm, ponder_home
from tools.registry import ToolContext, ToolResult, tool


class PartitionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition: str = Field(
        default="generated",
        description="A .jsonl/.json/.csv file or a saved Hugging Face dataset folder, or "
        "'generated' (short generated sentences, for a smoke check).",
    )
    columns: list[str] = Field(default=["text"], min_length=1, description="Columns to quiz on.")
    label_columns: list[str] = Field(
        default_factory=list, description="Columns shown but never perturbed (labels)."
    )
    n: int = Field(default=20, ge=1, le=1000, description="Instances to sample (paper: 100).")
    split: str | None = Field(default=None, description="Split of a saved DatasetDict folder.")
    perturber: Literal["lexical", "llm"] = Field(
        default="lexical",
        description="'lexical': offline word swaps predicted by the local model and checked by "
        "MiniLM; 'llm': rewrites by the chat model, as in the paper.",
    )
    seed: int = Field(default=0, ge=0)


class QuizArgs(PartitionArgs):
    dataset_name: str = Field(default="Generated", description="Dataset name the quiz states.")
    split_name: str = Field(default="test", description="Split name the quiz states.")
    taker: Literal["auto", "logits", "chat"] = Field(
        default="auto",
        description="'logits' scores the option letters with a local model's next-token logits; "
        "'chat' asks the chat model for one letter; 'auto' uses logits when the model is local.",
    )


class PositionCounts(BaseModel):
    A: int
    B: int
    C: int
    D: int
    E: int


class QuizResult(ToolResult):
    lower: float
    upper: float
    n: int
    best_position: str
    non_preferred: list[str]
    bdq: PositionCounts
    bcq: dict[str, PositionCounts]


class PerturbResult(ToolResult):
    n: int
    words_changed: float
    path: Path


def _instances(args: PartitionArgs) -> list[Any]:
    from methods.dcq import generated_partitions, load_partition

    if args.partition == "generated":
        if args.columns != ["text"] or args.label_columns:
            raise ValueError("columns must be ['text'] (and no label_columns) for 'generated'")
        return generated_partitions({"G": args.n}, seed=args.seed)["G"]
    return load_partition(
        args.partition,
        args.columns,
        label_columns=args.label_columns,
        n=args.n,
        seed=args.seed,
        split=args.split,
    )


def _white_box(chat_model: Any) -> tuple[Any, Any] | None:
    """(model, tokenizer) of a local chat model, or None for an API model."""
    loaded = local_weights(chat_model)
    return (loaded.model, loaded.tokenizer) if loaded is not None else None


def _perturb(args: PartitionArgs, ctx: ToolContext, instances: list[Any]) -> list[list[Any]]:
    from methods.dcq import LexicalPerturber, LLMPerturber, perturb_partition

    if ctx.chat_model is None:
        raise ValueError("dcq needs a chat model in the tool context (the model under test)")
    if args.perturber == "llm":
        perturber: Any = LLMPerturber(ctx.chat_model)
    else:
        box = _white_box(ctx.chat_model)
        if box is None:
            raise ValueError(
                "perturber 'lexical' needs a local model's weights; with an API model use "
                "perturber 'llm'"
            )
        encoder = minilm()
        perturber = LexicalPerturber(
            *box, lambda texts: encoder.encode(texts, normalize_embeddings=True)
        )
    home = ponder_home()
    return perturb_partition(
        instances,
        perturber,
        cache=home / "cache" / "dcq" / "perturbations.json",
        progress=lambda f, m: ctx.report(0.05 + 0.45 * f, m),
    )


@tool("dcq.quiz")
def quiz(args: QuizArgs, ctx: ToolContext) -> QuizResult:
    """Estimate how much of a dataset partition the model has seen (Data Contamination Quiz)."""
    from methods.dcq import ChatQuizTaker, LogitQuizTaker, plot_report, run_dcq

    ctx.report(0.0, f"reading {args.partition}")
    instances = _instances(args)
    perturbed = _perturb(args, ctx, instances)
    box = _white_box(ctx.chat_model) if args.taker in ("auto", "logits") else None
    if args.taker == "logits" and box is None:
        raise ValueError("taker 'logits' needs a local model; use taker 'chat' for an API model")
    name = getattr(ctx.chat_model, "name", "model")
    taker: Any = (
        LogitQuizTaker(*box, name=name) if box else ChatQuizTaker(ctx.chat_model, constrained=True)
    )
    report = run_dcq(
        instances,
        perturbed,
        taker,
        dataset=args.dataset_name,
        split=args.split_name,
        progress=lambda f, m: ctx.report(0.5 + 0.5 * f, m),
    )
    out = ctx.artifact_dir / "dcq"
    saved = report.save(out / "dcq_report.json")
    plot = plot_report(report, out / "dcq_counts.png")
    est = report.estimate
    return QuizResult(
        summary=f"DCQ of {name} on {args.dataset_name} ({args.split_name}), n={est.n}: "
        f"contamination between {100 * est.lower:.1f}% and {100 * est.upper:.1f}% "
        f"(bias detector quiz picked {est.bdq}).",
        artifacts=[saved, plot],
        lower=est.lower,
        upper=est.upper,
        n=est.n,
        best_position=est.best_position,
        non_preferred=list(est.non_preferred),
        bdq=PositionCounts(**est.bdq),
        bcq={p: PositionCounts(**c) for p, c in est.bcq.items()},
    )


@tool("dcq.perturb")
def perturb(args: PartitionArgs, ctx: ToolContext) -> PerturbResult:
    """Write four word-level perturbations of each instance of a partition (JSONL)."""
    import json

    from methods.dcq import words_changed

    instances = _instances(args)
    perturbed = _perturb(args, ctx, instances)
    out = ctx.artifact_dir / "dcq" / "perturbations.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    changed = []
    with out.open("w", encoding="utf-8") as f:
        for inst, perts in zip(instances, perturbed, strict=True):
            f.write(
                json.dumps(
                    {
                        "id": inst.id,
                        "original": inst.fields,
                        "perturbations": [p.fields for p in perts],
                    }
                )
                + "\n"
            )
            changed += [words_changed(inst.render(), p.render()) for p in perts]
    ctx.report(1.0, "done")
    mean = sum(changed) / len(changed)
    return PerturbResult(
        summary=f"Wrote 4 perturbations for each of {len(instances)} instances "
        f"({100 * mean:.0f}% of words changed on average) to {out.name}.",
        artifacts=[out],
        n=len(instances),
        words_changed=mean,
        path=out,
    )
