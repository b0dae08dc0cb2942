"""Tool adapters for SHIFT: list the SAE features behind a probe's gender signal for a judge, and
ablate the judged ones (optionally retraining the probe), on the tiny biography LM or the agent's
local model. `shift_model` also serves the clusters tool, which reuses the same tiny LM."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from tools._offline import local_weights, ponder_home
from tools.circuits import ModelName
from tools.registry import ToolContext, ToolResult, tool

_TINY_BIOS_LEN = 40
_TINY_CONCEPTS = ("the hospital.", "the university.", "the students.", "the patients.")


class ShiftModel:
    """A model for SHIFT: the LM, its SAEs below the probe, encode/decode and a pad id."""

    def __init__(self, model, saes, encode, decode, pad_id, probe_layer, concepts=None):
        self.model, self.saes, self.encode, self.decode = model, saes, encode, decode
        self.pad_id, self.probe_layer, self.concepts = pad_id, probe_layer, concepts


def shift_model(name: str, probe_layer: int | None, ctx: ToolContext) -> ShiftModel:
    """The tiny biography LM with its SAE (trained and cached on first use), or the local chat
    model with the SHIFT SAEs that `benchmarks.shift --train-only` trains."""
    from methods.circuits import SparseAutoencoder, TrainConfig, load_all, save_all, train_sae
    from methods.circuits.biographies import biographies
    from methods.circuits.hooks import n_layers, point_order, record
    from methods.circuits.tiny import (
        PAD,
        TinyConfig,
        TinyTransformer,
        bios_tokenizer,
        train_tiny_lm,
    )

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    cache = ponder_home() / "cache" / "circuits"
    if name == "tiny":
        tok = bios_tokenizer()
        config = TinyConfig(d=32, n_layers=2, n_heads=2, max_len=_TINY_BIOS_LEN)
        path, folder = cache / "tiny_bios.pt", cache / "tiny_bios_saes"
        texts = [b.text for p in (0, 1) for g in (0, 1) for b in biographies(200, p, g, seed=5)]
        if path.is_file() and (folder / "meta.json").is_file():
            model = TinyTransformer(len(tok), config)
            model.load_state_dict(torch.load(path, weights_only=True))
            model.eval().requires_grad_(False)
            saes = load_all(folder)
        else:
            ctx.report(0.02, "training the tiny biography LM and its SAE")
            model = train_tiny_lm(texts, tok, config, steps=300)
            rows = [r[:_TINY_BIOS_LEN] for r in map(tok.encode, texts)]
            ids = torch.tensor([r for r in rows if len(r) == _TINY_BIOS_LEN])
            acts = record(model, ["resid_0"], ids)["resid_0"][:, 1:].reshape(-1, config.d)
            sae = SparseAutoencoder(config.d, 128, "topk", k=8)
            batches = (acts[torch.randint(0, len(acts), (256,))] for _ in range(300))
            train_sae(
                sae, batches, TrainConfig(steps=300, batch_size=256, warmup_steps=30, lr=3e-3)
            )
            sae.requires_grad_(False)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), path)
            saes = load_all(save_all({"resid_0": sae}, folder, {"model": "tiny_bios"}))
        layer = 1 if probe_layer is None else probe_layer
        return ShiftModel(
            model,
            saes,
            lambda t: tok.encode(t)[:_TINY_BIOS_LEN],
            tok.decode,
            tok.ids[PAD],
            layer,
            _TINY_CONCEPTS,
        )
    loaded = local_weights(ctx.chat_model)
    if loaded is None:
        raise ValueError(
            "model 'chat' needs a local model's weights (the embedded SmolLM2); with an API "
            "model use model 'tiny'"
        )
    folder = cache / "smollm2_shift_saes"
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(
            f"no SHIFT SAEs at {folder}: run `python -m benchmarks.shift --train-only` first"
        )
    saes = load_all(folder)
    model = loaded.model.float().eval()
    layer = 6 if probe_layer is None else probe_layer
    if not 0 < layer < n_layers(model):
        raise ValueError(f"probe_layer must be in [1, {n_layers(model) - 1}], got {layer}")
    above = [n for n in saes if point_order(n) > point_order(f"resid_{layer}")]
    if above:
        raise ValueError(f"the SAEs {above} sit above probe_layer {layer}; choose a later layer")
    tok = loaded.tokenizer
    return ShiftModel(model, saes, tok.encode, tok.decode, tok.eos_token_id, layer)


class ShiftArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(default="tiny", description="'tiny' (a toy LM) or 'chat'.")
    probe_layer: int | None = Field(
        default=None, ge=1, description="Residual layer the probe reads (default: 1 tiny, 6 chat)."
    )
    n_train: int = Field(default=600, ge=10, le=5000, description="Ambiguous bios per group.")
    n_test: int = Field(default=150, ge=5, le=2000, description="Test (and oracle) bios per group.")
    n_top: int = Field(default=50, ge=1, le=500, description="Top features shown to the judge.")
    n_attribution: int = Field(default=100, ge=4, le=1000, description="Bios for IG.")
    judge: Literal["lexicon", "llm", "file"] = Field(
        default="lexicon",
        description="Who proposes: the gender-lexicon proxy, the chat model, or a label file.",
    )
    labels: str | None = Field(default=None, description="A person's label file (judge 'file').")
    ablate: list[str] | None = Field(
        default=None,
        description="Features the person decides to ablate (e.g. 'resid_5/12'), over the judge.",
    )
    keep: list[str] | None = Field(
        default=None, description="Features the person decides to keep, over the judge."
    )
    skylines: bool = Field(default=True, description="Also run the feature and neuron skylines.")
    seed: int = Field(default=0, ge=0)


def _shift_setup(args: ShiftArgs, ctx: ToolContext):
    from methods.circuits.biographies import bias_splits
    from methods.circuits.judge import LabelFileJudge, LexiconJudge, LLMJudge
    from methods.circuits.shift_run import ShiftConfig, encode_splits

    if args.judge == "file" and not args.labels:
        raise ValueError("judge 'file' needs labels: the path of a JSON {feature: ablate|keep}")
    if args.judge == "llm" and ctx.chat_model is None:
        raise ValueError("judge 'llm' needs a chat model; use judge 'lexicon' or 'file'")
    m = shift_model(args.model, args.probe_layer, ctx)
    splits = bias_splits(args.n_train, args.n_test, args.n_test, seed=args.seed)
    data = encode_splits(splits, m.encode, m.pad_id)
    config = ShiftConfig(
        hook=f"resid_{m.probe_layer}",
        n_attribution=args.n_attribution,
        n_top=args.n_top,
        ig_steps=10,
        skylines=args.skylines,
        seed=args.seed,
        **({"concepts": m.concepts} if m.concepts else {}),
    )
    judge = {
        "lexicon": LexiconJudge,
        "llm": lambda: LLMJudge(ctx.chat_model),
        "file": lambda: LabelFileJudge(Path(args.labels or "")),
    }[args.judge]()
    return m, data, config, judge


def _evidence_ids(m: ShiftModel, model_name: str, seed: int) -> torch.Tensor:
    """Held-out biographies as fixed-width windows: where features' top tokens are found."""
    from methods.circuits.biographies import biographies

    width = 32
    stream: list[int] = []
    for p in (0, 1):
        for g in (0, 1):
            for bio in biographies(50, p, g, seed=seed + 7):
                stream += m.encode(bio.text)
    rows = len(stream) // width
    return torch.tensor(stream[: rows * width]).view(rows, width)


def _propose_cached(args: ShiftArgs, ctx: ToolContext):
    """The proposal for these arguments: computed, or read back from this run's shift folder."""
    from methods.circuits.judge import FeatureEvidence, Verdict, evidence_json
    from methods.circuits.shift import Probe
    from methods.circuits.shift_run import Proposal, propose

    m, data, config, judge = _shift_setup(args, ctx)
    key = args.model_dump(exclude={"ablate", "keep", "skylines"})
    folder = ctx.artifact_dir / "shift"
    state_path, json_path = folder / "proposal.pt", folder / "features.json"
    if state_path.is_file() and json_path.is_file():
        saved = json.loads(json_path.read_text())
        if saved.get("key") == key:
            state = torch.load(state_path, weights_only=True)
            evidence = [
                FeatureEvidence(
                    (f["feature"][0], f["feature"][1]), f["effect"], f["tokens"], f["contexts"]
                )
                for f in saved["features"]
            ]
            verdicts = [
                Verdict((f["feature"][0], f["feature"][1]), f["ablate"], f["judge"], f["reason"])
                for f in saved["features"]
            ]
            probe = Probe(state["w"], float(state["b"]))
            return m, data, config, Proposal(probe, state["x"], evidence, verdicts, judge.name)
    proposal = propose(
        m.model,
        m.saes,
        data,
        _evidence_ids(m, args.model, args.seed),
        m.decode,
        m.pad_id,
        judge,
        config,
        lambda f, msg: ctx.report(0.05 + 0.5 * f, msg),
    )
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"w": proposal.probe.w, "b": proposal.probe.b, "x": proposal.x}, state_path)
    json_path.write_text(
        json.dumps(
            {
                "key": key,
                "judge": judge.name,
                "features": evidence_json(proposal.evidence, proposal.verdicts),
            },
            indent=2,
        )
    )
    return m, data, config, proposal


class ShiftFeature(BaseModel):
    id: str
    effect: float
    ablate: bool
    judge: str
    tokens: list[str]


class ProbeFeaturesResult(ToolResult):
    features: list[ShiftFeature]
    judge: str


def _feature_rows(proposal) -> list[ShiftFeature]:
    return [
        ShiftFeature(id=e.id, effect=e.effect, ablate=v.ablate, judge=v.judge, tokens=e.tokens[:8])
        for e, v in zip(proposal.evidence, proposal.verdicts, strict=True)
    ]


@tool("circuits.probe_features")
def probe_features(args: ShiftArgs, ctx: ToolContext) -> ProbeFeaturesResult:
    """Train a profession probe on gender-biased biographies and list the SAE features it relies
    on, with their top tokens and the judge's proposal (ablate or keep), for review."""
    _, _, _, proposal = _propose_cached(args, ctx)
    rows = _feature_rows(proposal)
    chosen = [r for r in rows if r.ablate]
    shown = "; ".join(f"{r.id} ({' '.join(r.tokens[:3])})" for r in chosen[:8])
    return ProbeFeaturesResult(
        summary=(
            f"The {proposal.judge} judge proposes ablating {len(chosen)} of the top {len(rows)} "
            f"features: {shown or 'none'}. Review shift/features.json; edit 'ablate'/'keep' when "
            "approving circuits.shift."
        ),
        artifacts=[ctx.artifact_dir / "shift" / "features.json"],
        features=rows,
        judge=proposal.judge,
    )


class ShiftRow(BaseModel):
    method: str
    profession: float
    gender: float
    worst_group: float


class ShiftResultModel(ToolResult):
    rows: list[ShiftRow]
    ablated: list[str]
    decided_by: list[str]


def _shift_preview(args: ShiftArgs, ctx: ToolContext) -> str:
    """Each feature's evidence and the judge's proposal, for the person approving the ablation."""
    _, _, _, proposal = _propose_cached(args, ctx)
    lines = [
        f"{r.id:<14} effect {r.effect:+.3f}  {'ABLATE' if r.ablate else 'keep  '} "
        f"({r.judge})  top tokens: {' '.join(repr(tok) for tok in r.tokens)}"
        for r in _feature_rows(proposal)
    ]
    return "\n".join(
        [
            f"Features the probe relies on, with the {proposal.judge} judge's proposal:",
            *lines,
            "To decide yourself, set 'ablate' and/or 'keep' to lists of these feature ids.",
        ]
    )


@tool("circuits.shift", preview=_shift_preview)
def shift(args: ShiftArgs, ctx: ToolContext) -> ShiftResultModel:
    """Ablate the judged gender features of a biased profession probe (SHIFT) and report
    profession, gender and worst-group accuracy against random, skyline and oracle baselines."""
    from methods.circuits.judge import with_overrides
    from methods.circuits.shift_run import evaluate, table

    m, data, config, proposal = _propose_cached(args, ctx)
    verdicts = with_overrides(proposal.verdicts, args.ablate, args.keep)
    ablate = [v.feature for v in verdicts if v.ablate]
    judges = sorted({v.judge for v in verdicts})
    result = evaluate(
        m.model,
        m.saes,
        data,
        proposal,
        ablate,
        m.encode,
        m.pad_id,
        "+".join(judges),
        config,
        lambda f, msg: ctx.report(0.55 + 0.4 * f, msg),
    )
    rows = [
        ShiftRow(method=k, profession=a.profession, gender=a.gender, worst_group=a.worst_group)
        for k, a in result.rows.items()
    ]
    folder = ctx.artifact_dir / "shift"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shift_table.json"
    path.write_text(
        json.dumps(
            {
                "rows": [r.model_dump() for r in rows],
                "ablated": [f"{h}/{i}" for h, i in ablate],
                "decisions": [
                    {"id": v.id, "ablate": v.ablate, "judge": v.judge, "reason": v.reason}
                    for v in verdicts
                ],
            },
            indent=2,
        )
    )
    (folder / "shift_table.txt").write_text(table(result.rows) + "\n")
    o, s = result.rows["Original"], result.rows["SHIFT"]
    return ShiftResultModel(
        summary=(
            f"SHIFT ablated {len(ablate)} features (decided by {', '.join(judges)}): profession "
            f"accuracy {o.profession:.0%} -> {s.profession:.0%}, gender {o.gender:.0%} -> "
            f"{s.gender:.0%}, worst group {o.worst_group:.0%} -> {s.worst_group:.0%} "
            f"(oracle {result.rows['Oracle'].profession:.0%})."
        ),
        artifacts=[path, folder / "shift_table.txt", folder / "features.json"],
        rows=rows,
        ablated=[f"{h}/{i}" for h, i in ablate],
        decided_by=judges,
    )
