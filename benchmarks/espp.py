"""ESPP against the random-weight SNN and BPTT on digits spike trains and the timing-only task.

    python -m benchmarks.espp [--quick] [--seeds 0 1 2] [--out DIR]

Digits: scikit-learn's 8x8 digits / 16 as Poisson spikes (p = 0.8 x, T = 20), stratified 70/30
split; a 64-64-64 network (beta 0.9) trained by ESPP (offline and online) from the very initial
weights the random-weight SNN keeps; every network is read out the same way (logistic regression
on the spike counts of the training split, accuracy on the test split). BPTT trains the same
widths with snnTorch. Timing: 10 classes, 64 channels, T = 40, each channel fires once at a
class-specific time (jitter +-1, 10% dropped, 1% noise), so spike counts carry no class.
Bars are the issue's (3 seeds); one thread.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.espp import Comparison, ESPPConfig, FiringRateWarning, compare
from methods.espp.data import digits_spikes, timing_task

WIDTHS = [64, 64]
BETA = 0.9
BATCH = 32
DIGITS = {"n_steps": 20, "gain": 0.8}
TIMING = {"n_samples": 2000, "n_steps": 40}
OFFLINE = ESPPConfig(lr=3e-3, rate_pos=0.5, rate_neg=0.2)
ONLINE = ESPPConfig(lr=3e-3, online=True, online_c=(2.0, -1.0), inp_thr=0.02)


def progress_line(fraction: float, message: str) -> None:
    print(f"\r  {fraction:4.0%} {message:<70}", end="", file=sys.stderr, flush=True)


def run(
    task: str, seed: int, config: ESPPConfig, epochs: int, bptt_epochs: int, quick: bool
) -> Comparison:
    if task == "digits":
        data = digits_spikes(DIGITS["n_steps"], gain=DIGITS["gain"], seed=seed)
    else:
        data = timing_task(n_samples=TIMING["n_samples"], n_steps=TIMING["n_steps"], seed=seed)
    if quick:  # a smoke run: a random 500 samples
        data = data.subset(np.random.default_rng(seed).permutation(len(data))[:500])
    train, test = data.split(0.3, seed=seed)
    widths = [16, 16] if quick else WIDTHS
    variant = "online" if config.online else "offline"
    print(f"{task} {variant} seed {seed}", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FiringRateWarning)
        result = compare(
            train,
            test,
            widths,
            BETA,
            config,
            epochs,
            BATCH,
            seed,
            bptt_epochs=bptt_epochs,
            progress=progress_line,
        )
    print(file=sys.stderr)
    for w in caught:
        print(f"  warning: {w.message}", file=sys.stderr)
    return result


def row(task: str, r: Comparison) -> dict[str, Any]:
    return {
        "task": task,
        "variant": "online" if r.online else "offline",
        "seed": r.seed,
        "input": r.input_accuracy,
        "random": r.random.accuracy,
        "espp": r.espp.accuracy,
        "gain": r.gain,
        "espp_cat": r.espp.accuracy_cat,
        "random_cat": r.random.accuracy_cat,
        "rates_random": r.random.rates,
        "rates_espp": r.espp.rates,
        "bptt": r.bptt_accuracy,
        "bptt_layers": r.bptt_layers,
        "seconds": r.seconds,
        "history_rates": r.history.rates,
    }


def pct(values: list[float] | None) -> str:
    return "-" if values is None else "/".join(f"{100 * v:5.1f}" for v in values)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'task':<7} {'variant':<8} {'seed':>4} {'input':>6} {'random L1/L2':>13} "
        f"{'ESPP L1/L2':>13} {'gain pp':>13} {'ESPP cat':>13} {'rate':>11} {'BPTT':>6} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        gain = "/".join(f"{100 * g:+5.1f}" for g in r["gain"])
        rates = "/".join(f"{v:.3f}" for v in r["rates_espp"])
        bptt = "-" if r["bptt"] is None else f"{100 * r['bptt']:5.1f}"
        print(
            f"{r['task']:<7} {r['variant']:<8} {r['seed']:>4} {100 * r['input']:6.1f} "
            f"{pct(r['random']):>13} {pct(r['espp']):>13} {gain:>13} {pct(r['espp_cat']):>13} "
            f"{rates:>11} {bptt:>6} {r['seconds']:5.0f}"
        )


def mean(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.mean([np.asarray(r[key], dtype=float) for r in rows], axis=0)


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    def pick(task: str, variant: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["task"] == task and r["variant"] == variant]

    off, on, timing = pick("digits", "offline"), pick("digits", "online"), pick("timing", "offline")
    gain, gain_on = mean(off, "gain"), mean(on, "gain")
    espp, bptt = mean(off, "espp"), float(mean(off, "bptt"))
    rates = float(np.mean([np.mean(r["rates_espp"]) for r in off]))
    online_share = min(gain_on[0] / gain[0], gain_on[1] / gain[1]) if min(gain) > 0 else 0.0
    timing_gain = mean(timing, "gain")
    return [
        at_least("digits ESPP - random, layer 1 (mean)", float(gain[0]), 0.015),
        at_least("digits ESPP - random, layer 2 (mean)", float(gain[1]), 0.03),
        at_least("digits ESPP - random, layer 2 (worst seed)", min(r["gain"][1] for r in off), 0.0),
        at_least("digits BPTT accuracy (mean)", bptt, 0.94),
        at_least("digits BPTT - best ESPP layer (mean)", bptt - float(espp.max()), 0.0),
        at_least("digits ESPP layer 1 - BPTT (mean)", float(espp[0]) - bptt, -0.08),
        at_least("digits ESPP mean hidden firing rate", rates, 0.02),
        at_most("digits ESPP mean hidden firing rate", rates, 0.5),
        at_least("digits online gain / offline gain (worse layer)", online_share, 0.5),
        at_most("timing input-count readout (mean)", float(mean(timing, "input")), 0.15),
        at_least("timing ESPP - random, layer 2 (mean)", float(timing_gain[1]), 0.02),
        at_least(
            "timing ESPP - random, layer 1 (mean; card, provisional)", float(timing_gain[0]), -0.03
        ),
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30, help="ESPP epochs")
    parser.add_argument("--bptt-epochs", type=int, default=30)
    parser.add_argument(
        "--quick", action="store_true", help="one seed, 500 samples, 16 neurons, 2 epochs"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.bptt_epochs = args.seeds[:1], 2, 2
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows = []
    for seed in args.seeds:
        rows.append(
            row("digits", run("digits", seed, OFFLINE, args.epochs, args.bptt_epochs, args.quick))
        )
        rows.append(row("digits", run("digits", seed, ONLINE, args.epochs, 0, args.quick)))
        rows.append(row("timing", run("timing", seed, OFFLINE, args.epochs, 0, args.quick)))
    print()
    print_table(rows)
    checks = targets(rows)
    print_targets(checks)
    if args.quick:
        print("(quick smoke run: the bars hold for the full run, not for this one)")
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")
    result = {
        "benchmark": "espp",
        "quick": args.quick,
        "seeds": args.seeds,
        "widths": [16, 16] if args.quick else WIDTHS,
        "epochs": args.epochs,
        "bptt_epochs": args.bptt_epochs,
        "offline": asdict(OFFLINE),
        "online": asdict(ONLINE),
        "rows": rows,
        "targets": checks,
        "runtime_s": runtime,
    }
    path = write_json(result, args.out, "espp")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
