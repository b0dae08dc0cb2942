"""Tool adapters: train WIDIn on one Digits-DG domain against probes; embed a folder of images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools._offline import minilm_path
from tools.registry import ToolContext, ToolResult, tool

DomainName = Literal["clean", "inverted", "coloured", "textured", "noisy", "sketch"]
COLOURS = {
    "linear": (150, 150, 150),
    "mlp": (255, 127, 14),
    "zero_shot": (44, 160, 44),
    "widin": (31, 119, 180),
    "widin_no_ia": (148, 103, 189),
}


class TrainArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoder: Literal["unimodal", "clip", "open_clip"] = Field(
        default="unimodal",
        description="'unimodal': a small CNN trained with SimCLR plus frozen all-MiniLM-L6-v2; "
        "'clip': a CLIP-like tower trained against frozen MiniLM on captioned digits of every "
        "style held apart from the test (adds the zero-shot baseline); 'open_clip': both "
        "towers of an open_clip model whose weights you have (open_clip_model, "
        "open_clip_weights).",
    )
    open_clip_model: str | None = Field(
        default=None,
        description="open_clip architecture name (open_clip.list_models()), or the file name "
        "of open_clip_config without .json. Only with encoder 'open_clip'.",
    )
    open_clip_weights: str | None = Field(
        default=None, description="Local open_clip checkpoint file; nothing is downloaded."
    )
    open_clip_config: str | None = Field(
        default=None,
        description="open_clip model-config JSON, for an architecture open_clip does not ship.",
    )
    source: DomainName = Field(default="clean", description="The one Digits-DG training domain.")
    targets: list[DomainName] = Field(
        default=["inverted", "coloured", "textured", "noisy", "sketch"],
        min_length=1,
        max_length=5,
        description="Unseen Digits-DG domains to test on.",
    )
    pretrain: Literal["source", "pool"] = Field(
        default="source",
        description="SimCLR images: the unlabelled source images, or the source-training digits "
        "drawn in every style (a stand-in for a backbone pretrained on varied images).",
    )
    simclr_epochs: int = Field(default=3, ge=1, le=200, description="Uni-modal encoder epochs.")
    clip_epochs: int = Field(default=4, ge=1, le=200, description="CLIP-like tower epochs.")
    wording_steps: int = Field(default=20, ge=1, le=2000, description="Stage-1 steps.")
    head_epochs: int = Field(
        default=60, ge=1, le=2000, description="Full-batch epochs of each stage-2 head and probe."
    )
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _open_clip_fields_go_together(self) -> TrainArgs:
        given = [self.open_clip_model, self.open_clip_weights, self.open_clip_config]
        if self.encoder == "open_clip":
            if not (self.open_clip_model and self.open_clip_weights):
                raise ValueError("encoder 'open_clip' needs open_clip_model and open_clip_weights")
        elif any(given):
            raise ValueError("open_clip_model, _weights and _config need encoder 'open_clip'")
        return self


class DomainAccuracy(BaseModel):
    domain: str
    linear: float
    mlp: float
    widin: float
    widin_no_ia: float
    zero_shot: float | None = None  # the CLIP-like path only


class TrainResult(ToolResult):
    encoder: str
    source: str
    domains: list[DomainAccuracy]
    mean_target: dict[str, float]
    gain_over_linear: float
    mechanism: dict[str, float]
    k: float
    model_path: Path


class EmbedArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str = Field(description="A model written by widin.train (widin_model.pt).")
    folder: str = Field(description="A folder of images (searched at any depth).")
    size: int = Field(default=32, ge=8, le=256, description="Images are resized to size x size.")


class EmbedResult(ToolResult):
    n_images: int
    dim: int
    embeddings_path: Path


def _plot(path: Path, title: str, rows: list[DomainAccuracy]) -> Path:
    """Grouped bars of accuracy per domain and method, drawn with Pillow."""
    from PIL import Image, ImageDraw

    group = 24 * len(COLOURS) + 30
    width, height, left, bottom, top = 80 + group * len(rows) + 110, 360, 50, 40, 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 10), title, fill="black")
    span = height - top - bottom

    def y_of(acc: float) -> float:
        return height - bottom - span * acc

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        draw.line([(left, y_of(tick)), (width - 110, y_of(tick))], fill=(225, 225, 225))
        draw.text((5, y_of(tick) - 6), f"{tick:.0%}", fill="black")
    for g, row in enumerate(rows):
        x0 = left + 15 + g * group
        for s, (name, colour) in enumerate(COLOURS.items()):
            value = getattr(row, name)
            if value is None:
                continue
            draw.rectangle([x0 + s * 24, y_of(value), x0 + s * 24 + 20, y_of(0)], fill=colour)
        draw.text((x0, height - bottom + 8), row.domain, fill="black")
    for s, (name, colour) in enumerate(COLOURS.items()):
        draw.rectangle([width - 100, 40 + s * 14, width - 90, 50 + s * 14], fill=colour)
        draw.text((width - 85, 39 + s * 14), name, fill="black")
    img.save(path)
    return path


@tool("widin.train")
def train(args: TrainArgs, ctx: ToolContext) -> TrainResult:
    """Train WIDIn on one Digits-DG domain; per-domain accuracy against the probes (and zero-shot
    on the CLIP-like path)."""
    import torch

    from methods.widin import (
        ClipConfig,
        SimCLRConfig,
        Stage2Config,
        TextEncoder,
        WidinConfig,
        WordingConfig,
        digits_dg,
    )
    from methods.widin.experiment import run_digits_dg
    from methods.widin.openclip import load_open_clip

    targets = [d for d in dict.fromkeys(args.targets) if d != args.source]
    if not targets:
        raise ValueError(f"targets must name a domain other than the source {args.source!r}")
    joint_encoder = None
    if args.encoder == "open_clip":
        assert args.open_clip_model and args.open_clip_weights  # checked by TrainArgs
        ctx.report(0.0, f"loading open_clip {args.open_clip_model}")
        towers = load_open_clip(args.open_clip_model, args.open_clip_weights, args.open_clip_config)
        text, joint_encoder = towers.text, towers.image
    else:
        ctx.report(0.0, "loading the text encoder")
        text = TextEncoder(minilm_path())
    ctx.report(0.02, "drawing Digits-DG")
    data = digits_dg((args.source, *targets), seed=args.seed)
    config = WidinConfig(
        encoder="unimodal" if args.encoder == "unimodal" else "clip",
        simclr=SimCLRConfig(epochs=args.simclr_epochs),
        clip=ClipConfig(epochs=args.clip_epochs),
        wording=WordingConfig(steps=args.wording_steps),
        stage2=Stage2Config(epochs=args.head_epochs),
        source=args.source,
        pretrain=args.pretrain,
        mechanism_per_domain=100,
    )
    report = run_digits_dg(
        text,
        config,
        args.seed,
        data,
        progress=lambda f, m: ctx.report(0.05 + 0.9 * f, m),
        encoder=joint_encoder,
    )
    rows = [
        DomainAccuracy(domain=d, **{m: report.accuracy[m][d] for m in report.accuracy})
        for d in report.domains
    ]
    mean_target = {m: report.mean_target(m) for m in report.accuracy}
    out = ctx.artifact_dir / "widin"
    out.mkdir(parents=True, exist_ok=True)
    assert report.model is not None
    model_path = report.model.save(out / "widin_model.pt")
    title = f"WIDIn ({args.encoder} encoder), source {args.source}"
    plot = _plot(out / "accuracy_by_domain.png", title, rows)
    table = out / "widin_result.json"
    table.write_text(
        json.dumps(
            {
                "args": args.model_dump(),
                "accuracy": report.accuracy,
                "mean_target": mean_target,
                "mechanism": report.mechanism,
                "k": report.k,
                "k_no_ia": report.k_no_ia,
                "seconds": report.seconds,
                "threads": torch.get_num_threads(),
            },
            indent=2,
        )
    )
    ctx.report(1.0, "done")
    gain = report.gain()
    zero = (
        f" Zero-shot from the joint space: {100 * mean_target['zero_shot']:.1f}%."
        if "zero_shot" in mean_target
        else ""
    )
    return TrainResult(
        summary=f"WIDIn ({args.encoder} encoder) trained on {args.source}: mean accuracy on "
        f"{len(targets)} unseen domains "
        f"{100 * mean_target['widin']:.1f}% vs linear probe {100 * mean_target['linear']:.1f}% "
        f"({100 * gain:+.1f} pp), in-domain {100 * report.in_domain('widin'):.1f}% vs "
        f"{100 * report.in_domain('linear'):.1f}%; the worded domain part Delta predicts the "
        f"domain with {100 * report.mechanism['domain_on_delta']:.0f}% accuracy." + zero,
        artifacts=[plot, table, model_path],
        encoder=args.encoder,
        source=args.source,
        domains=rows,
        mean_target=mean_target,
        gain_over_linear=gain,
        mechanism=report.mechanism,
        k=report.k,
        model_path=model_path,
    )


@tool("widin.embed")
def embed(args: EmbedArgs, ctx: ToolContext) -> EmbedResult:
    """Domain-invariant embeddings F_D(E_v(image)) of a folder of images, from a WIDIn model."""
    import numpy as np

    from methods.widin import WidinModel, image_files, read_images

    model = WidinModel.load(args.model_path)
    files = image_files(args.folder)
    ctx.report(0.2, f"reading {len(files)} images")
    vectors = model.embed(read_images(files, args.size))
    out = ctx.artifact_dir / "widin"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "embeddings.npz"
    np.savez(path, embeddings=vectors, files=np.asarray([str(f) for f in files]))
    ctx.report(1.0, "done")
    return EmbedResult(
        summary=f"Embedded {len(files)} images from {args.folder} into {vectors.shape[1]}-d "
        f"domain-invariant WIDIn vectors ({path.name}).",
        artifacts=[path],
        n_images=len(files),
        dim=int(vectors.shape[1]),
        embeddings_path=path,
    )
