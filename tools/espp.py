"""Tool adapters: train a spiking network with ESPP and compare it with random weights and BPTT."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolContext, ToolResult, tool

BUILTIN = ("digits", "timing")


class TrainArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        default="digits",
        description="'digits' (scikit-learn digits as Poisson spikes), 'timing' (the "
        "timing-only synthetic task), or a path: a .npz spike file, an SHD .h5 file, or an "
        "unpacked N-MNIST folder (its Test split is used).",
    )
    widths: list[Annotated[int, Field(ge=1, le=512)]] = Field(
        default=[32, 32], min_length=1, max_length=4, description="Hidden layer widths."
    )
    variant: Literal["offline", "online"] = Field(
        default="offline", description="Offline (per-sample) or online (per-step) ESPP."
    )
    epochs: int = Field(default=10, ge=1, le=100, description="ESPP epochs.")
    bptt_epochs: int = Field(
        default=10, ge=0, le=100, description="Epochs of the BPTT reference (0 skips it)."
    )
    lr: float = Field(default=3e-3, gt=0, le=1.0, description="ESPP learning rate.")
    rate_pos: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Predictive hinge: learn while the echo-weighted "
        "rate of a same-class sample is below this.",
    )
    rate_neg: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Contrastive hinge: learn while the echo-weighted "
        "rate of an other-class sample is above this.",
    )
    max_samples: int | None = Field(
        default=None, ge=20, description="Use at most this many samples (a quicker run)."
    )
    seed: int = Field(default=0, ge=0)


class LayerAccuracy(BaseModel):
    layer: int
    random: float
    espp: float
    espp_cat: float
    bptt: float | None
    rate_random: float
    rate_espp: float


class TrainResult(ToolResult):
    dataset: str
    input_accuracy: float
    layers: list[LayerAccuracy]
    bptt_accuracy: float | None
    model_path: Path
    rate_warnings: list[str] = Field(
        default_factory=list, description="Layers whose firing rate left [0.02, 0.5]."
    )


class EvaluateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str = Field(description="A network file written by espp.train (espp_network.pt).")
    dataset: str = Field(default="digits", description="'digits', 'timing' or a .npz path.")
    readout: Literal["logistic", "ridge", "few_shot"] = Field(
        default="logistic", description="Linear readout on spike counts, or 20-shot prototypes."
    )
    max_samples: int | None = Field(default=None, ge=20)
    seed: int = Field(default=0, ge=0)


class EvaluateResult(ToolResult):
    dataset: str
    readout: str
    input_accuracy: float
    accuracy: list[float]
    rates: list[float]


def _load(dataset: str, seed: int, max_samples: int | None, n_steps: int | None = None):
    from pathlib import Path

    from methods.espp import digits_spikes, load_nmnist, load_shd, load_spike_file, timing_task

    if dataset == "digits":
        data = digits_spikes(n_steps or 20, seed=seed)
    elif dataset == "timing":
        data = timing_task(n_steps=n_steps or 40, seed=seed)
    elif dataset.endswith(".npz"):
        data = load_spike_file(dataset, n_steps=n_steps)
    elif dataset.endswith(".h5"):
        data = load_shd(dataset, n_steps=n_steps or 100, max_samples=max_samples)
    elif (Path(dataset) / "Test").is_dir():
        data = load_nmnist(dataset, "Test", n_steps=n_steps or 100)
    else:
        raise ValueError(
            f"dataset must be one of {BUILTIN}, a .npz spike file, an SHD .h5 file or an "
            f"N-MNIST folder (with Train/ and Test/), got {dataset!r}"
        )
    if max_samples is not None and max_samples < len(data):
        import numpy as np

        data = data.subset(np.random.default_rng(seed).permutation(len(data))[:max_samples])
    return data.split(0.3, seed=seed)


def _plot(
    path: Path, title: str, rows: list[LayerAccuracy], input_acc: float, bptt: float | None
) -> Path:
    """A grouped bar chart of readout accuracy by layer, drawn with Pillow."""
    from PIL import Image, ImageDraw

    series = [("random", (150, 150, 150)), ("espp", (31, 119, 180)), ("bptt", (214, 39, 40))]
    width, height, left, bottom, top = 120 + 110 * (len(rows) + 1), 360, 50, 40, 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 10), title, fill="black")
    span = height - top - bottom

    def y_of(acc: float) -> float:
        return height - bottom - span * acc

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        draw.line([(left, y_of(tick)), (width - 10, y_of(tick))], fill=(225, 225, 225))
        draw.text((5, y_of(tick) - 6), f"{tick:.0%}", fill="black")
    groups = [("input", {"random": input_acc})] + [
        (f"layer {r.layer}", {"random": r.random, "espp": r.espp, "bptt": r.bptt}) for r in rows
    ]
    for g, (label, values) in enumerate(groups):
        x0 = left + 20 + g * 110
        for s, (name, colour) in enumerate(series):
            value = values.get(name)
            if value is not None:
                draw.rectangle([x0 + s * 28, y_of(value), x0 + s * 28 + 24, y_of(0)], fill=colour)
        draw.text((x0, height - bottom + 8), label, fill="black")
    if bptt is not None:
        draw.line([(left, y_of(bptt)), (width - 10, y_of(bptt))], fill=(214, 39, 40), width=1)
    for s, (name, colour) in enumerate(series):
        draw.rectangle([width - 90, 10 + s * 14, width - 80, 20 + s * 14], fill=colour)
        draw.text((width - 75, 9 + s * 14), name, fill="black")
    img.save(path)
    return path


@tool("espp.train")
def train(args: TrainArgs, ctx: ToolContext) -> TrainResult:
    """Train a spiking network with ESPP and compare its layers with random weights and BPTT."""
    from methods.espp import ESPPConfig, FiringRateWarning, compare

    ctx.report(0.0, f"loading {args.dataset}")
    train_set, test_set = _load(args.dataset, args.seed, args.max_samples)
    config = ESPPConfig(
        lr=args.lr, rate_pos=args.rate_pos, rate_neg=args.rate_neg, online=args.variant == "online"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FiringRateWarning)
        result = compare(
            train_set,
            test_set,
            args.widths,
            0.9,
            config,
            args.epochs,
            seed=args.seed,
            bptt_epochs=args.bptt_epochs,
            progress=lambda f, m: ctx.report(0.95 * f, m),
        )
    rate_warnings = [str(w.message) for w in caught if issubclass(w.category, FiringRateWarning)]
    bptt_layers = result.bptt_layers or [None] * len(args.widths)
    rows = [
        LayerAccuracy(
            layer=i + 1,
            random=result.random.accuracy[i],
            espp=result.espp.accuracy[i],
            espp_cat=result.espp.accuracy_cat[i],
            bptt=bptt_layers[i],
            rate_random=result.random.rates[i],
            rate_espp=result.espp.rates[i],
        )
        for i in range(len(args.widths))
    ]
    out = ctx.artifact_dir / "espp"
    out.mkdir(parents=True, exist_ok=True)
    model_path = result.network.save(out / "espp_network.pt")
    title = f"ESPP ({args.variant}) on {args.dataset}: readout accuracy by layer"
    plot = _plot(
        out / "accuracy_by_layer.png", title, rows, result.input_accuracy, result.bptt_accuracy
    )
    table = out / "espp_result.json"
    table.write_text(
        json.dumps(
            {
                "args": args.model_dump(),
                "input_accuracy": result.input_accuracy,
                "layers": [r.model_dump() for r in rows],
                "bptt_accuracy": result.bptt_accuracy,
                "history_rates": result.history.rates,
                "seconds": result.seconds,
            },
            indent=2,
        )
    )
    gains = ", ".join(f"layer {r.layer} {100 * r.espp:.1f}% vs {100 * r.random:.1f}%" for r in rows)
    bptt = f"; BPTT {100 * result.bptt_accuracy:.1f}%" if result.bptt_accuracy is not None else ""
    ctx.report(1.0, "done")
    return TrainResult(
        summary=f"ESPP ({args.variant}, {args.epochs} epochs) on {args.dataset}: readout "
        f"accuracy ESPP vs random weights {gains}{bptt}; input counts "
        f"{100 * result.input_accuracy:.1f}%."
        + (f" Warning: {' '.join(rate_warnings)}" if rate_warnings else ""),
        artifacts=[plot, table, model_path],
        dataset=args.dataset,
        input_accuracy=result.input_accuracy,
        layers=rows,
        bptt_accuracy=result.bptt_accuracy,
        model_path=model_path,
        rate_warnings=rate_warnings,
    )


@tool("espp.evaluate")
def evaluate(args: EvaluateArgs, ctx: ToolContext) -> EvaluateResult:
    """Read out each layer of a saved ESPP network on a data set (linear or few-shot)."""
    from methods.espp import SpikingNetwork, few_shot_readout, linear_readout

    net = SpikingNetwork.load(args.model_path)
    ctx.report(0.1, f"loading {args.dataset}")
    train_set, test_set = _load(args.dataset, args.seed, args.max_samples)
    if train_set.n_channels != net.n_inputs:
        raise ValueError(
            f"dataset {args.dataset} has {train_set.n_channels} channels but model_path's "
            f"network expects {net.n_inputs}"
        )

    def score(a, b) -> float:
        if args.readout == "few_shot":
            return few_shot_readout(a, train_set.labels, b, test_set.labels, seed=args.seed)
        return linear_readout(a, train_set.labels, b, test_set.labels, args.readout)

    input_acc = score(train_set.x.sum(0), test_set.x.sum(0))
    tr, te = net.spike_counts(train_set.x), net.spike_counts(test_set.x)
    accuracy = []
    for i, (a, b) in enumerate(zip(tr, te, strict=True)):
        ctx.report(0.2 + 0.8 * i / len(tr), f"readout of layer {i + 1}")
        accuracy.append(score(a, b))
    rates = [float(c.mean()) / train_set.n_steps for c in tr]
    out = ctx.artifact_dir / "espp" / f"evaluate_{args.readout}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": args.model_dump(),
                "input_accuracy": input_acc,
                "accuracy": accuracy,
                "rates": rates,
            },
            indent=2,
        )
    )
    shown = ", ".join(f"layer {i + 1} {100 * a:.1f}%" for i, a in enumerate(accuracy))
    return EvaluateResult(
        summary=f"{args.readout} readout of the ESPP network on {args.dataset}: {shown} "
        f"(input counts {100 * input_acc:.1f}%).",
        artifacts=[out],
        dataset=args.dataset,
        readout=args.readout,
        input_accuracy=input_acc,
        accuracy=accuracy,
        rates=rates,
    )
