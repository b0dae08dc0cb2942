"""Tool adapters: edit long-form knowledge into the local model with UnKE, and score answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools._offline import local_weights, minilm
from tools.registry import ToolContext, ToolResult, tool


class EditSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="The new long-form answer (20-60 words).")
    paraphrase: str = ""
    sub_answers: list[str] = Field(
        default_factory=list, description="Short facts the new answer must contain."
    )


class EditsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edits: list[EditSpec] = Field(default_factory=list, description="Edits given inline.")
    edits_file: str | None = Field(default=None, description="An UnKEBench-format JSON file.")
    builtin_edits: int = Field(
        default=0, ge=0, le=20, description="Use the first N shipped fictional edits."
    )
    max_new_tokens: int = Field(default=48, ge=8, le=256)


class EditArgs(EditsArgs):
    method: Literal["unke", "ft-l", "ft-all"] = "unke"
    layer: int = Field(default=7, ge=0, description="The block UnKE retrains.")
    z_steps: int = Field(default=60, ge=1, le=1000, description="Stage-1 steps per edit.")
    block_steps: int = Field(
        default=80, ge=1, le=1000, description="Stage-2 steps (the FT baselines' step budget)."
    )
    z_lr: float = Field(default=2.0, gt=0)
    block_lr: float = Field(default=2e-4, gt=0)
    key_weight: float = Field(
        default=20.0,
        ge=1,
        description="Stage-2 weight on other questions' last token: higher keeps unrelated "
        "answers closer to the original model, lower writes the edit in more strongly.",
    )
    sequential: bool = Field(default=False, description="Apply the edits one after another.")
    locality_prompts: int = Field(
        default=10, ge=1, le=30, description="Unrelated prompts compared before and after."
    )


class ScoreRow(BaseModel):
    bleu: float
    rouge1: float
    rouge2: float
    rougeL: float
    cosine: float | None
    sub_hit: float | None


class EditResult(ToolResult):
    method: str
    before: ScoreRow
    after: ScoreRow
    paraphrase_before: ScoreRow | None
    paraphrase_after: ScoreRow | None
    locality_rougeL_f1: float
    locality_kl: float
    seconds: float
    weights_path: Path = Field(description="The edited parameters (a torch state dict).")


class EvaluateArgs(EditsArgs):
    weights_path: str | None = Field(
        default=None, description="Edited parameters written by unke.edit, applied first."
    )


class EvaluateResult(ToolResult):
    scores: ScoreRow
    paraphrase: ScoreRow | None
    answers: list[str]


def _model(ctx: ToolContext) -> tuple[Any, Any]:
    """The run's local model and tokenizer. No path argument: the embedded model fills free
    string fields with invented paths, so the tool edits only the model it is given."""
    loaded = local_weights(ctx.chat_model)
    if loaded is None:
        raise ValueError(
            "unke needs a local model's weights (the embedded model); an API model has none"
        )
    return loaded.model, loaded.tokenizer


def _edits(args: EditsArgs) -> list[Any]:
    from methods.unke import Edit, SubQuestion, fictional_edits, load_edits

    given = [bool(args.edits), args.edits_file is not None, args.builtin_edits > 0]
    if sum(given) != 1:
        raise ValueError("give exactly one of edits, edits_file or builtin_edits")
    if args.edits_file is not None:
        return load_edits(args.edits_file)
    if args.builtin_edits:
        return fictional_edits(args.builtin_edits, seed=0)
    return [
        Edit(e.question, e.answer, e.paraphrase, tuple(SubQuestion("", a) for a in e.sub_answers))
        for e in args.edits
    ]


def _embed() -> Any:
    """MiniLM's unit-length sentence embeddings, for the cosine score."""
    encoder = minilm()
    return lambda texts: encoder.encode(texts, normalize_embeddings=True)


def _row(scores: Any) -> ScoreRow:
    def finite(x: float) -> float | None:
        return None if x != x else x  # NaN: no embedder, or no sub-answers

    return ScoreRow(
        bleu=scores.bleu,
        rouge1=scores.rouge1,
        rouge2=scores.rouge2,
        rougeL=scores.rougeL,
        cosine=finite(scores.cosine),
        sub_hit=finite(scores.sub_hit),
    )


@tool("unke.edit")
def edit(args: EditArgs, ctx: ToolContext) -> EditResult:
    """Edit long-form answers into the local model with UnKE (or FT-L / FT-all) and score them."""
    import torch

    from methods.unke import (
        UnkeConfig,
        evaluate_edits,
        ft_all,
        ft_l,
        load_texts,
        locality,
        reference,
        sequential_edit,
        unke_edit,
    )

    edits = _edits(args)
    model, tok = _model(ctx)
    embed = _embed()
    prompts = load_texts("locality")[: args.locality_prompts]
    texts = load_texts("generic")[: args.locality_prompts]
    ctx.report(0.02, "answers before the edit")
    ref = reference(model, tok, prompts, texts, args.max_new_tokens)
    before = evaluate_edits(model, tok, edits, embed, args.max_new_tokens)
    config = UnkeConfig(
        layer=args.layer,
        z_steps=args.z_steps,
        z_lr=args.z_lr,
        block_steps=args.block_steps,
        block_lr=args.block_lr,
        key_weight=args.key_weight,
    )

    def progress(f: float, m: str) -> None:
        ctx.report(0.15 + 0.65 * f, m)

    if args.method == "unke":
        apply = sequential_edit if args.sequential else unke_edit
        report = apply(model, tok, edits, load_texts("preservation"), config, progress)
    elif args.method == "ft-l":
        report = ft_l(model, tok, edits, args.layer, args.block_steps, progress=progress)
    else:
        report = ft_all(model, tok, edits, args.block_steps, progress=progress)
    # The model is the run's own chat model: save the edit, then always put the weights back.
    try:
        ctx.report(0.82, "answers after the edit")
        after = evaluate_edits(model, tok, edits, embed, args.max_new_tokens)
        loc = locality(model, tok, ref, args.max_new_tokens)
        out = ctx.artifact_dir / "unke"
        out.mkdir(parents=True, exist_ok=True)
        params = dict(model.named_parameters())
        weights = out / "edited_weights.pt"
        torch.save({n: params[n].detach().cpu() for n in report.snapshot.tensors}, weights)
    finally:
        report.restore()
    rows = [
        {"question": e.question, "target": e.answer, "before": b, "after": a}
        for e, b, a in zip(edits, before.answers, after.answers, strict=True)
    ]
    result = EditResult(
        summary="",
        method=args.method,
        before=_row(before.question),
        after=_row(after.question),
        paraphrase_before=_row(before.paraphrase) if before.paraphrase else None,
        paraphrase_after=_row(after.paraphrase) if after.paraphrase else None,
        locality_rougeL_f1=loc.rougeL_f1,
        locality_kl=loc.kl,
        seconds=report.seconds,
        weights_path=weights,
    )
    table = out / "unke_result.json"
    table.write_text(json.dumps({**result.model_dump(mode="json"), "answers": rows}, indent=1))
    result.artifacts = [weights, table]
    result.summary = (
        f"{args.method} edited {len(edits)} answer(s) at layer {args.layer}: ROUGE-L recall "
        f"{before.question.rougeL:.2f} -> {after.question.rougeL:.2f}, locality ROUGE-L F1 "
        f"{loc.rougeL_f1:.2f}, KL {loc.kl:.3f}; after: {after.answers[0][:120]!r}"
    )
    ctx.report(1.0, "done")
    return result


@tool("unke.evaluate")
def evaluate(args: EvaluateArgs, ctx: ToolContext) -> EvaluateResult:
    """Score the local model's answers to edits (BLEU, ROUGE, MiniLM cosine, sub-answers)."""
    import torch

    from methods.unke import Snapshot, evaluate_edits

    edits = _edits(args)
    model, tok = _model(ctx)
    snapshot = None
    if args.weights_path is not None:
        path = Path(args.weights_path).expanduser()
        if not path.is_file():
            raise ValueError(f"weights_path {path} does not exist")
        weights = torch.load(path, map_location="cpu")
        params = dict(model.named_parameters())
        unknown = [n for n in weights if n not in params]
        if unknown:
            raise ValueError(f"weights_path holds parameters the model lacks: {unknown[:3]}")
        snapshot = Snapshot.of(model, list(weights))
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value)
    try:
        ctx.report(0.1, "generating answers")
        ev = evaluate_edits(model, tok, edits, _embed(), args.max_new_tokens)
    finally:
        if snapshot is not None:
            snapshot.restore()
    return EvaluateResult(
        summary=(
            f"{len(edits)} answer(s): ROUGE-L recall {ev.question.rougeL:.2f}, BLEU "
            f"{ev.question.bleu:.2f}, cosine {ev.question.cosine:.2f}"
        ),
        scores=_row(ev.question),
        paraphrase=_row(ev.paraphrase) if ev.paraphrase else None,
        answers=ev.answers,
    )
