"""WIDIn on Digits-DG: one source domain (clean), five unseen target domains, the issue's bars.

    python -m benchmarks.widin [--encoder unimodal|clip|open_clip] [--quick] [--seeds 0 1 2 3 4]
                               [--pretrain source|pool] [--pool-domains D ...] [--out DIR]
                               [--open-clip-model NAME --open-clip-weights FILE
                                [--open-clip-config JSON]]

Digits-DG: every scikit-learn digit at 32x32 RGB in six styles (clean, inverted, coloured,
textured, noisy, sketch). Per seed: a stratified 50/10/40 split of the digits into source
training, source validation (picks k) and held-out digits; the held-out digits in all six
styles are the test pool. Image encoder: a 0.1M-parameter CNN trained with SimCLR on the
unlabelled source-training images; text encoder: frozen all-MiniLM-L6-v2. Linear probe, MLP
probe (the stage-2 network without L_feat), WIDIn and WIDIn without L_ia all train on the
source only and share the encoder. One thread.

--encoder clip (writes widin_clip.json): the CLIP-like path. Per seed 40% of the digits form a
captioned pretraining pool drawn in all six styles ("a sketched picture of the digit three"),
on which a LiT-style tower (the same CNN plus a linear map into MiniLM's 384-d space) is
trained against frozen MiniLM; the rest split 50/10/40 as above. Those pool digits are never
trained on by a head nor tested. Zero-shot (nearest class sentence) joins the baselines.

--encoder open_clip (writes widin_open_clip_<NAME>.json): the same split and baselines with
both towers of an open_clip model whose checkpoint you have; nothing is pretrained here and
the pool digits are left out. Needs `pip install 'ponder[open-clip]'`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.widin import (
    DIGIT_NAMES,
    DOMAINS,
    SimCLRConfig,
    Stage2Config,
    TextEncoder,
    WidinConfig,
    WordingConfig,
    digits_dg,
)
from methods.widin.clip import ClipConfig, caption_bank
from methods.widin.experiment import run_digits_dg
from methods.widin.openclip import load_open_clip


def progress_line(fraction: float, message: str) -> None:
    print(f"\r  {fraction:4.0%} {message:<70}", end="", file=sys.stderr, flush=True)


def minilm_path() -> Path:
    # The benchmark is an app-side script, so it may find the model the way the app does.
    from agents.models import resolve_embedding_model

    return resolve_embedding_model().path


def print_table(rows: list[dict[str, Any]], domains: tuple[str, ...]) -> None:
    header = f"{'method':<12} {'seed':>4} " + " ".join(f"{d[:8]:>8}" for d in domains)
    header += f" {'target':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        for m in r["accuracy"]:
            acc = r["accuracy"][m]
            cells = " ".join(f"{100 * acc[d]:8.1f}" for d in domains)
            print(f"{m:<12} {r['seed']:>4} {cells} {100 * r['mean_target'][m]:7.1f}")
    print()
    keys = list(rows[0]["mechanism"])
    print(f"{'mechanism probe':<20} " + " ".join(f"{'seed ' + str(r['seed']):>7}" for r in rows))
    for key in keys:
        print(f"{key:<20} " + " ".join(f"{100 * r['mechanism'][key]:7.1f}" for r in rows))
    print(
        f"{'k (widin / no L_ia)':<20} " + " ".join(f"{r['k']:>3}/{r['k_no_ia']:<3}" for r in rows)
    )


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    def avg(fn) -> float:
        return float(np.mean([fn(r) for r in rows]))

    mech = {k: avg(lambda r, k=k: r["mechanism"][k]) for k in rows[0]["mechanism"]}
    gain = avg(lambda r: r["mean_target"]["widin"] - r["mean_target"]["linear"])
    gain_no_ia = avg(lambda r: r["mean_target"]["widin_no_ia"] - r["mean_target"]["linear"])
    in_drop = avg(
        lambda r: r["accuracy"]["linear"][r["source"]] - r["accuracy"]["widin"][r["source"]]
    )
    shrink = 1 - gain_no_ia / gain if gain > 0 else 0.0  # undefined without a gain: fails
    return [
        at_least("mechanism: domain probe on Delta = t_x - t_c", mech["domain_on_delta"], 0.80),
        at_least(
            "mechanism: domain probe drop, x -> x_e (pp/100)",
            mech["domain_on_x"] - mech["domain_on_x_e"],
            0.10,
        ),
        at_most(
            "mechanism: class probe drop, x -> x_e (pp/100)",
            mech["class_on_x"] - mech["class_on_x_e"],
            0.02,
        ),
        at_least("effect: mean target accuracy, WIDIn - linear probe", gain, 0.02),
        at_most("effect: in-domain accuracy drop, linear probe - WIDIn", in_drop, 0.01),
        at_least("ablation: share of the gain lost without L_ia", shrink, 0.5),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, a short smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--encoder", choices=["unimodal", "clip", "open_clip"], default="unimodal")
    parser.add_argument("--pretrain", choices=["source", "pool"], default="source")
    parser.add_argument(
        "--clip-epochs",
        type=int,
        default=ClipConfig().epochs,
        help="clip: tower epochs (a smaller pool needs more for the same number of steps)",
    )
    parser.add_argument(
        "--pool-domains",
        nargs="+",
        choices=DOMAINS,
        default=[],
        help="clip: the styles of the captioned pretraining pool (default: all six)",
    )
    parser.add_argument("--open-clip-model", help="open_clip: the architecture name")
    parser.add_argument("--open-clip-weights", type=Path, help="open_clip: the checkpoint file")
    parser.add_argument("--open-clip-config", type=Path, help="open_clip: a model-config JSON")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if (args.encoder == "open_clip") != bool(args.open_clip_model and args.open_clip_weights):
        parser.error("--encoder open_clip goes with --open-clip-model and --open-clip-weights")
    torch.set_num_threads(1)
    config = WidinConfig(
        encoder="unimodal" if args.encoder == "unimodal" else "clip",
        pretrain=args.pretrain,
        pool_domains=tuple(args.pool_domains),
        clip=ClipConfig(epochs=args.clip_epochs),
    )
    seeds = args.seeds
    if args.quick:
        seeds = seeds[:1]
        config = replace(
            config,
            simclr=SimCLRConfig(epochs=2),
            clip=ClipConfig(epochs=2),
            wording=WordingConfig(steps=6),
            stage2=Stage2Config(epochs=20),
            mechanism_per_domain=30,
        )
    started = time.perf_counter()
    bank, joint_encoder = None, None
    if args.encoder == "open_clip":
        towers = load_open_clip(args.open_clip_model, args.open_clip_weights, args.open_clip_config)
        text, joint_encoder = towers.text, towers.image
    else:
        text = TextEncoder(minilm_path())
    if args.encoder == "clip":  # the captions are embedded once, not per seed
        bank = caption_bank(text, DIGIT_NAMES, tuple(config.pool_domains or DOMAINS))
    rows = []
    for seed in seeds:
        print(f"seed {seed}", file=sys.stderr)
        data = digits_dg(size=config.size, seed=seed)
        if args.quick:  # a smoke run: the first 600 digits
            data = data.subset(data.index < 600)
        report = run_digits_dg(
            text, config, seed, data, progress_line, bank=bank, encoder=joint_encoder
        )
        print(file=sys.stderr)
        rows.append(
            {
                "seed": seed,
                "source": report.source,
                "accuracy": report.accuracy,
                "mean_target": {m: report.mean_target(m) for m in report.accuracy},
                "mechanism": report.mechanism,
                "k": report.k,
                "k_no_ia": report.k_no_ia,
                "val_accuracy": report.model.val_accuracy if report.model else {},
                "seconds": report.seconds,
            }
        )
        domains = report.domains
    print_table(rows, domains)
    checks = targets(rows)
    print_targets(checks)
    wall = time.perf_counter() - started
    print(f"\nwall time {wall:.0f} s on {torch.get_num_threads()} thread(s)")
    name = "widin" if args.encoder == "unimodal" else f"widin_{args.encoder}"
    if args.encoder == "open_clip":
        name += "_" + args.open_clip_model.replace("/", "-")
    if args.encoder == "clip" and args.pool_domains:
        name += "_pool_" + "_".join(args.pool_domains)
    name += "_quick" if args.quick else ""
    result = {
        "benchmark": "widin",
        "encoder": args.encoder,
        "config": asdict(config),
        "rows": rows,
        "targets": checks,
        "wall_s": wall,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
    }
    write_json(result, args.out, name)
    return result


if __name__ == "__main__":
    main()
