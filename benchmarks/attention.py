"""Visual attention head-to-head: unit bars and costs for every module, then cluttered digits.

    python -m benchmarks.attention [--modules se cbam ...] [--seeds 0 1 2] [--quick] [--out DIR]
    python -m benchmarks.attention --merge A.json B.json ... [--out DIR]

Three parts. Unit bars: every registered module keeps (2, C, H, W) for H = W in {7, 16, 33},
has finite gradients, and meets its stated invariance to 1e-5. Costs: parameters, FLOPs and
one-thread CPU latency for every module at C=64, 32x32. Cluttered digits: a scikit-learn digit
(12x12) at a random place on a 40x40 canvas with six 6x6 fragments of other digits, fresh
canvases every epoch; a ResNet-8 with and without each module, 3 seeds. Gates (SE, CBAM) sit in
every residual block before the addition; residual modules (non-local, criss-cross, DANet) after
the 10x10 stage. The default panel is the channel baseline SE plus the four spatial/self
modules the card names (CBAM, non-local, criss-cross, DANet): about 25 minutes on one thread.

Training is deterministic (a seed fixes the weights, canvases and batch order), so panels run
separately (--modules ... --out DIR) can be joined with --merge, which refuses files whose
config, seeds or baseline runs differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, Target, at_least, print_targets, write_json
from methods.attention import available, entry
from methods.attention.checks import check
from methods.attention.costs import measure
from methods.attention.experiment import (
    BASELINE,
    CompareConfig,
    CompareResult,
    RunResult,
    compare,
)

PANEL = ["se", "cbam", "nonlocal", "criss_cross", "danet"]
# The spatial and self-attention modules, which should beat the baseline by 2 pp and look at
# the digit: the catalog's spatial and self categories, and the modules the card counts as such.
ATTENDING_CATEGORIES = {"spatial", "self"}
ATTENDING = {"cbam", "nonlocal", "criss_cross", "danet"}
VALIDATION = (
    "Validation canvases come from 20% of the training digits (never the test digits). "
    "They chose the training length (epochs 8 -> 12 -> 24: the baseline's validation "
    "curve was still rising at 12; SGD 0.1 and AdamW 1e-2 did no better than AdamW "
    "3e-3 there) and, per run, which inserted module's map the peak bar reads "
    "(map_layer, from val_peak_by_layer). Placement and initialisation follow the papers."
)


def attending(row: dict[str, Any]) -> bool:
    return row["module"] in ATTENDING or row["category"] in ATTENDING_CATEGORIES


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _one_seed(modules: list[str], seed: int, config: CompareConfig) -> CompareResult:
    torch.set_num_threads(1)  # one thread per process: the seeds run side by side
    return compare(
        modules,
        [seed],
        config,
        progress=lambda fraction, message: _progress(f"{100 * fraction:3.0f}% {message}"),
    )


def run_seeds(
    modules: list[str], seeds: list[int], config: CompareConfig, jobs: int
) -> CompareResult:
    """`compare` with each seed in its own process (at most `jobs` at once), runs merged."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1:
        parts = [_one_seed(modules, seed, config) for seed in seeds]
    else:
        spawn = multiprocessing.get_context("spawn")  # no forked torch state
        with ProcessPoolExecutor(min(jobs, len(seeds)), mp_context=spawn) as pool:
            parts = list(pool.map(_one_seed, [modules] * len(seeds), seeds, [config] * len(seeds)))
    merged = CompareResult(config, list(seeds))
    for part in parts:
        merged.runs.extend(part.runs)
    return merged


def print_costs(costs: list[dict[str, Any]]) -> None:
    header = f"{'module':<12} {'category':<15} {'source':<7} {'params':>8} {'MFLOPs':>8} {'ms':>7}"
    print(header)
    print("-" * len(header))
    for c in costs:
        print(
            f"{c['module']:<12} {c['category']:<15} {c['source']:<7} {c['params']:>8} "
            f"{c['flops'] / 1e6:>8.3f} {c['latency_ms']:>7.2f}"
        )


def print_compare(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'module':<12} {'category':<14} {'params':>7} {'accuracy':>14} {'vs base':>8} "
        f"{'peak in box':>11} {'train s':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        delta = "" if r["module"] == BASELINE else f"{r['delta_pp']:+.1f}pp"
        peak = "-" if r["peak_in_box"] is None else f"{r['peak_in_box']:.3f}"
        acc = f"{100 * r['accuracy']:.1f} +- {100 * r['accuracy_std']:.1f}"
        print(
            f"{r['module']:<12} {r['category']:<14} {r['params']:>7} {acc:>14} {delta:>8} "
            f"{peak:>11} {r['train_s']:>8.1f}"
        )


def print_curves(runs: list[Any]) -> None:
    """Validation accuracy after each epoch, mean over seeds: has training converged?"""
    print("\nValidation accuracy (%) by epoch, mean over seeds")
    for module in dict.fromkeys(r.module for r in runs):
        curves = [r.val_curve for r in runs if r.module == module]
        mean = [100 * sum(c[e] for c in curves) / len(curves) for e in range(len(curves[0]))]
        print(f"{module:<12} " + " ".join(f"{v:5.1f}" for v in mean))


def targets(unit: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[Target]:
    out = [
        at_least(
            f"modules passing the unit bars (of {len(unit)})",
            sum(u["passed"] for u in unit),
            len(unit),
        )
    ]
    for r in rows:
        if r["module"] == BASELINE:
            continue
        out.append(at_least(f"{r['module']} accuracy vs baseline (pp)", r["delta_pp"], -1.0))
        if attending(r):
            out.append(at_least(f"{r['module']} gain over baseline (pp)", r["delta_pp"], 2.0))
            if r["peak_in_box"] is not None:
                out.append(
                    at_least(f"{r['module']} map peak inside digit box", r["peak_in_box"], 0.7)
                )
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=None, help=f"default: {PANEL}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--jobs", type=int, default=3, help="seeds trained side by side, one process each"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one seed (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="join earlier results (other panels, same config and seeds) instead of training",
    )
    args = parser.parse_args(argv)
    if args.merge and (args.quick or args.modules):
        parser.error("--merge joins finished results; it takes no --modules or --quick")
    args.config = CompareConfig()
    args.cost_modules, args.repeats = available(), 10
    if args.quick:
        args.modules = args.modules or ["se", "cbam"]
        args.seeds, args.jobs = args.seeds[:1], 1
        args.config = CompareConfig(train=256, val=64, test=128, epochs=1)
        args.cost_modules, args.repeats = args.modules, 2
    args.modules = args.modules or PANEL
    return args


def result_json(
    seeds: list[int],
    config: dict[str, Any],
    unit: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    result: CompareResult,
    runtime_s: float,
    threads: int,
    jobs: int,
) -> dict[str, Any]:
    """The benchmark's JSON record: rows and bars computed from the runs."""
    rows = result.summary()
    return {
        "benchmark": "attention",
        "seeds": seeds,
        "config": config,
        "unit": unit,
        "costs": costs,
        "validation": VALIDATION,
        "compare": rows,
        "runs": [asdict(r) for r in result.runs],
        "targets": targets(unit, rows),
        "runtime_s": runtime_s,
        "threads": threads,
        "jobs": jobs,
    }


def merge_results(paths: list[Path]) -> dict[str, Any]:
    """Results of several panels as one: runs joined, rows and bars recomputed.

    The files must share config and seeds, and their baselines must agree run for run (training
    is deterministic, so a baseline that differs means the files are not comparable). A module
    run in several files keeps its last runs; unit bars and costs come from the last file.
    """
    loaded = []
    for path in paths:
        try:
            loaded.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read benchmark result {str(path)!r}: {err}") from err
    first = loaded[0]
    baseline = {r["seed"]: r["accuracy"] for r in first["runs"] if r["module"] == BASELINE}
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for path, result in zip(paths, loaded, strict=True):
        if result.get("benchmark") != "attention":
            raise ValueError(f"{path} is not an attention benchmark result")
        if result["config"] != first["config"] or result["seeds"] != first["seeds"]:
            raise ValueError(f"{path} was run with another config or seeds than {paths[0]}")
        own = {r["seed"]: r["accuracy"] for r in result["runs"] if r["module"] == BASELINE}
        if own != baseline:
            raise ValueError(
                f"{path}'s baseline runs {own} differ from {paths[0]}'s {baseline}: the runs "
                "are not comparable (another code version or machine?)"
            )
        for r in result["runs"]:
            runs[(r["module"], r["seed"])] = r
    merged = CompareResult(
        CompareConfig(**first["config"]), first["seeds"], [RunResult(**r) for r in runs.values()]
    )
    last = loaded[-1]
    out = result_json(
        first["seeds"],
        first["config"],
        last["unit"],
        last["costs"],
        merged,
        sum(r["runtime_s"] for r in loaded),
        last["threads"],
        last["jobs"],
    )
    # A file that is itself a merge contributes its own sources, so the list stays flat.
    sources = [
        source
        for path, result in zip(paths, loaded, strict=True)
        for source in result.get("merged_from", [str(path)])
    ]
    return {**out, "merged_from": sources}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.merge:
        out = merge_results(args.merge)
        print_compare(out["compare"])
        print_targets(out["targets"])
        path = write_json(out, args.out, "attention")
        print(f"wrote {path}")
        return out
    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    started = time.perf_counter()

    _progress("unit bars")
    checks = [check(name) for name in args.cost_modules]
    _progress("costs at C=64, 32x32")
    costs = []
    for name in args.cost_modules:
        e = entry(name)
        cost = asdict(measure(name, repeats=args.repeats))
        costs.append({**cost, "category": e.category, "source": e.source})
    result = run_seeds(args.modules, args.seeds, args.config, args.jobs)
    unit = [{**asdict(c), "passed": c.passed} for c in checks]
    out = result_json(
        args.seeds,
        asdict(args.config),
        unit,
        costs,
        result,
        time.perf_counter() - started,
        torch.get_num_threads(),
        args.jobs,
    )

    print("\nUnit bars and costs (C=64, 32x32, batch 1, 1 thread)")
    print_costs(costs)
    failed = [c.module for c in checks if not c.passed]
    print(
        f"unit bars: {len(checks) - len(failed)}/{len(checks)} pass"
        + (f"; failed: {failed}" if failed else "")
    )
    print(f"\nCluttered digits, ResNet-8, seeds {args.seeds} (mean +- std over seeds)")
    print_compare(out["compare"])
    print_curves(result.runs)
    print_targets(out["targets"])
    print(f"\ntotal runtime {out['runtime_s']:.0f} s")
    path = write_json(out, args.out, "attention")
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
