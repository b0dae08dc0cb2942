"""UnKE on SmolLM2-135M: fictional long-form edits, against FT-L and full fine-tuning.

    python -m benchmarks.unke [--quick] [--edits 20] [--batch 1 4] [--sequential 10] [--out DIR]

On one CPU thread a full run takes hours (a UnKE edit is 1-3 min, an FT-L edit ~1 min, a
locality pass ~20 s). Rows can run apart and be merged: `--methods`, `--no-cosine --raw RAW`
on each machine (`--model DIR --gguf FILE --device cuda` on one without Ponder), then
`--finish RAW [RAW ...]` here, which adds the MiniLM scores and keeps each row's device.

Edits are the shipped fictional UnKEBench-format items (31-39-token answers, a paraphrase, 3
sub-answers each). Batch mode: each group of `--batch` edits is applied at once by UnKE (one
shared stage 2), FT-L (block 7's MLP) and FT-all (every weight, loss on all tokens), each at
the same 80 weight-update steps; the weights are restored between groups. Sequential mode:
the first `--sequential` edits are applied one after another with UnKE and scored at the end.
Rows run in the order of `plan()`, the barred ones first, and each finished row is written to
RAW at once, so a run cut off by a time limit keeps them. Locality: ROUGE-L F1 between pre- and
post-edit answers to 30 unrelated prompts and next-token KL on 20 generic texts, per edited
model. One thread; greedy decoding, 48 new tokens.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.unke import (
    UnkeConfig,
    evaluate_edits,
    ft_all,
    ft_l,
    load_edits,
    load_texts,
    locality,
    reference,
    score,
    sequential_edit,
    unke_edit,
)
from methods.unke.data import DATA_DIR

METHODS = ("unke", "ft-l", "ft-all")
MAX_NEW = 48


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.model is not None:
        # A plain transformers folder or GGUF file (the device machine has no Ponder install).
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kw = {"gguf_file": args.gguf} if args.gguf else {}
        tok = AutoTokenizer.from_pretrained(args.model, local_files_only=True, **kw)
        model = AutoModelForCausalLM.from_pretrained(
            args.model, local_files_only=True, dtype=torch.float32, **kw
        )
        return model.eval().to(args.device), tok
    from agents.config import ponder_home
    from agents.models import load_chat_model, resolve_chat_model

    loaded = load_chat_model(resolve_chat_model(), ponder_home() / "models")
    return loaded.model.to(args.device), loaded.tokenizer


def _embedder() -> Any:
    from agents.models import load_embedding_model, resolve_embedding_model

    encoder = load_embedding_model(resolve_embedding_model())
    return lambda texts: encoder.encode(texts, normalize_embeddings=True)


def _apply(
    args: argparse.Namespace,
    method: str,
    model: Any,
    tok: Any,
    edits: list,
    pres: list,
    config: UnkeConfig,
):
    if method == "unke":
        return unke_edit(model, tok, edits, pres, config)
    if method == "ft-l":
        return ft_l(model, tok, edits, config.layer, config.block_steps, args.ft_l_lr)
    return ft_all(model, tok, edits, config.block_steps, args.ft_all_lr)


def _mean_scores(parts: list[tuple[int, dict]]) -> dict[str, float]:
    total = sum(n for n, _ in parts)
    return {k: float(sum(n * s[k] for n, s in parts) / total) for k in parts[0][1]}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[1, 4],
        help="edits applied at once; each size is a run, the first one is held to the bars",
    )
    parser.add_argument("--z-steps", type=int, default=UnkeConfig.z_steps)
    parser.add_argument("--z-stop-nll", type=float, default=UnkeConfig.z_stop_nll)
    parser.add_argument("--z-max-norm", type=float, default=UnkeConfig.z_max_norm)
    parser.add_argument("--preservation-weight", type=float, default=UnkeConfig.preservation_weight)
    parser.add_argument("--key-weight", type=float, default=UnkeConfig.key_weight)
    parser.add_argument("--block-lr", type=float, default=UnkeConfig.block_lr)
    parser.add_argument(
        "--block-steps",
        type=int,
        default=UnkeConfig.block_steps,
        help="UnKE stage-2 steps, and the FT-L / FT-all step budget",
    )
    parser.add_argument("--ft-l-lr", type=float, default=5e-4, help="FT-L's AdamW lr")
    parser.add_argument("--ft-all-lr", type=float, default=2e-5, help="FT-all's AdamW lr")
    parser.add_argument(
        "--row-suffix",
        default="",
        help="appended to each row's name (e.g. ' lr3e-5'), so a run with other settings can be "
        "merged beside the default rows; the bars read only unsuffixed rows",
    )
    parser.add_argument("--sequential", type=int, default=10, help="edits applied in turn")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--quick", action="store_true", help="2 edits, 8 locality prompts")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    parser.add_argument("--model", type=Path, help="a model folder instead of Ponder's SmolLM2")
    parser.add_argument("--gguf", help="GGUF file name inside --model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-cosine", action="store_true", help="skip MiniLM; --finish adds it later"
    )
    parser.add_argument("--raw", type=Path, help="write the unfinished result (answers) here")
    parser.add_argument(
        "--finish",
        type=Path,
        nargs="+",
        help="score --raw results with MiniLM and report; several files (rows run on different "
        "devices) are merged into one table, each row keeping its device",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.edits, args.batch, args.sequential = 2, [2], 2
    return args


SEQUENTIAL = 0  # the batch size plan() gives the sequential row


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(method, batch size) rows in the order they run: the rows the bars read first, then
    UnKE's other rows, so that a run cut off by a time limit keeps what matters most."""
    rows = [(m, b) for b in args.batch for m in args.methods]
    if args.sequential and "unke" in args.methods:
        rows.append(("unke", SEQUENTIAL))
    first = args.batch[0]
    barred = [r for r in rows if r in {("unke", first), ("ft-l", first)}]
    unke = [r for r in rows if r[0] == "unke" and r not in barred]
    return barred + unke + [r for r in rows if r not in barred and r not in unke]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Edit, generate and score everything but the MiniLM cosine; keeps every answer."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    started = time.perf_counter()
    model, tok = _load(args)
    config = UnkeConfig(
        z_steps=args.z_steps,
        z_stop_nll=args.z_stop_nll,
        z_max_norm=args.z_max_norm,
        block_steps=args.block_steps,
        block_lr=args.block_lr,
        preservation_weight=args.preservation_weight,
        key_weight=args.key_weight,
    )
    edits = load_edits(DATA_DIR / "edits.json")[: args.edits]
    pres = load_texts("preservation")
    prompts = load_texts("locality")[: 8 if args.quick else 30]
    texts = load_texts("generic")[: 8 if args.quick else 20]
    ref = reference(model, tok, prompts, texts, MAX_NEW)
    pre = evaluate_edits(model, tok, edits, None, MAX_NEW)
    print(
        f"pre-edit: question ROUGE-L recall {pre.question.rougeL:.3f}, "
        f"sub-hit {pre.question.sub_hit:.3f}",
        flush=True,
    )
    rows: dict[str, dict[str, Any]] = {}
    for method, size in plan(args):
        if size == SEQUENTIAL:
            rows[f"unke@seq{args.row_suffix}"] = _sequential_row(
                model, tok, edits[: args.sequential], pres, config, ref
            )
            _save_partial(args, config, edits, pre, rows, started)
            continue
        answers, para, loc_f1, loc_kl, seconds = [], [], [], [], 0.0
        for start in range(0, len(edits), size):
            group = edits[start : start + size]
            report = _apply(args, method, model, tok, group, pres, config)
            seconds += report.seconds
            post = evaluate_edits(model, tok, group, None, MAX_NEW)
            loc = locality(model, tok, ref, MAX_NEW)
            report.restore()
            answers += post.answers
            para += post.paraphrase_answers
            loc_f1.append(loc.rougeL_f1)
            loc_kl.append(loc.kl)
            print(
                f"{method}@{size} edits {start}-{start + len(group) - 1}: ROUGE-L "
                f"{post.question.rougeL:.3f}, locality F1 {loc.rougeL_f1:.3f}, "
                f"KL {loc.kl:.3f}, {report.seconds:.0f} s",
                flush=True,
            )
        rows[f"{method}@{size}{args.row_suffix}"] = {
            "edits": len(edits),
            "batch": size,
            "answers": answers,
            "paraphrase_answers": para,
            "locality_rougeL_f1": float(np.mean(loc_f1)),
            "locality_kl": float(np.mean(loc_kl)),
            "seconds_per_edit": seconds / len(edits),
        }
        _save_partial(args, config, edits, pre, rows, started)
    return _raw(args, config, edits, pre, rows, started)


def _sequential_row(
    model: Any, tok: Any, group: list, pres: list, config: UnkeConfig, ref: Any
) -> dict[str, Any]:
    """Apply `group` one edit after another, score all of them at the end, then restore."""
    report = sequential_edit(model, tok, group, pres, config)
    post = evaluate_edits(model, tok, group, None, MAX_NEW)
    loc = locality(model, tok, ref, MAX_NEW)
    report.restore()
    print(
        f"unke sequential x{len(group)}: ROUGE-L {post.question.rougeL:.3f}, "
        f"locality F1 {loc.rougeL_f1:.3f}, KL {loc.kl:.3f}, {report.seconds:.0f} s",
        flush=True,
    )
    return {
        "edits": len(group),
        "answers": post.answers,
        "paraphrase_answers": post.paraphrase_answers,
        "locality_rougeL_f1": loc.rougeL_f1,
        "locality_kl": loc.kl,
        "seconds_per_edit": report.seconds / len(group),
    }


def _save_partial(args, config, edits, pre, rows, started) -> None:
    """Write what is done so far, so a run cut off by a time limit still leaves its rows."""
    if args.raw is not None:
        raw = _raw(args, config, edits, pre, rows, started)
        args.raw.write_text(json.dumps(raw, indent=1))


def _raw(args, config, edits, pre, rows, started) -> dict[str, Any]:
    return {
        "config": {
            **asdict(config),
            "edits": len(edits),
            "batch": args.batch,
            "quick": args.quick,
            "max_new_tokens": MAX_NEW,
            "device": args.device,
            "torch_threads": 1,
            "locality_prompts": 8 if args.quick else 30,
            "kl_texts": 8 if args.quick else 20,
            "ft_l_lr": args.ft_l_lr,
            "ft_all_lr": args.ft_all_lr,
        },
        "pre": {
            "edits": len(edits),
            "answers": pre.answers,
            "paraphrase_answers": pre.paraphrase_answers,
        },
        "methods": rows,
        "edit_wall_s": time.perf_counter() - started,
    }


def finish(raw: dict[str, Any], embed: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Score stored answers (with MiniLM when `embed` is given), print the table, check bars."""
    edits = load_edits(DATA_DIR / "edits.json")[: raw["pre"]["edits"]]

    def scored(entry: dict[str, Any]) -> dict[str, Any]:
        group = edits[: entry["edits"]]
        return {
            **entry,
            "question": asdict(score(entry["answers"], group, embed)),
            "paraphrase": asdict(score(entry["paraphrase_answers"], group, embed)),
        }

    pre = scored(raw["pre"])
    rows = {name: scored(entry) for name, entry in raw["methods"].items()}
    header = (
        f"{'method':<30}{'BLEU':>7}{'R-1':>7}{'R-2':>7}{'R-L':>7}{'cos':>7}{'sub':>7}"
        f"{'para R-L':>10}{'loc F1':>8}{'KL':>7}{'s/edit':>8}"
    )
    print("\n" + header)
    line = "{:<30}{:>7.3f}{:>7.3f}{:>7.3f}{:>7.3f}{:>7.3f}{:>7.3f}{:>10.3f}{:>8}{:>7}{:>8}"
    for name, r in [("pre-edit", pre), *rows.items()]:
        q = r["question"]
        seq = name.startswith("unke@seq")
        label = f"unke seq x{r['edits']}{name[8:]}" if seq else name.replace("@", " x")
        notes = [r["device"]] if "device" in r else []
        notes += [f"{r['edits']} edits"] if not seq and r["edits"] != pre["edits"] else []
        label += f" ({', '.join(notes)})" if notes else ""
        loc = [f"{r[k]:.3f}" if k in r else "-" for k in ("locality_rougeL_f1", "locality_kl")]
        secs = f"{r['seconds_per_edit']:.1f}" if "seconds_per_edit" in r else "-"
        print(
            line.format(
                label,
                q["bleu"],
                q["rouge1"],
                q["rouge2"],
                q["rougeL"],
                q["cosine"],
                q["sub_hit"],
                r["paraphrase"]["rougeL"],
                *loc,
                secs,
            )
        )
    targets: list[Target] = []
    first = raw["config"]["batch"][0]
    if f"unke@{first}" in rows:
        u, p = rows[f"unke@{first}"], pre
        targets += [
            at_least(
                "UnKE question ROUGE-L recall - pre",
                u["question"]["rougeL"] - p["question"]["rougeL"],
                0.35,
            ),
            at_least(
                "UnKE MiniLM cosine - pre", u["question"]["cosine"] - p["question"]["cosine"], 0.15
            ),
            at_least("UnKE sub-answer hit rate", u["question"]["sub_hit"], 0.3),
            at_least(
                "UnKE paraphrase ROUGE-L recall - pre",
                u["paraphrase"]["rougeL"] - p["paraphrase"]["rougeL"],
                0.05,
            ),
            at_least("UnKE locality ROUGE-L F1", u["locality_rougeL_f1"], 0.75),
            at_most("UnKE locality next-token KL", u["locality_kl"], 0.15),
        ]
        if f"ft-l@{first}" in rows:
            f = rows[f"ft-l@{first}"]
            targets.append(
                at_least(
                    "UnKE - FT-L question ROUGE-L recall",
                    u["question"]["rougeL"] - f["question"]["rougeL"],
                    0.0,
                )
            )
            targets.append(
                at_least(
                    "UnKE - FT-L locality ROUGE-L F1",
                    u["locality_rougeL_f1"] - f["locality_rougeL_f1"],
                    0.0,
                )
            )
    print_targets(targets)
    result = {**raw, "pre": pre, "methods": rows, "targets": [asdict(t) for t in targets]}
    if not raw["config"]["quick"]:
        path = write_json(result, args.out, "unke")
        print(f"wrote {path}")
    return result


def merge_raw(raws: list[dict[str, Any]], names: list[Path]) -> dict[str, Any]:
    """One raw result from several runs over the same edits (or the first N of them, --edits N);
    each row keeps the device it ran on."""
    first = raws[0]
    merged = {**first, "methods": {}, "edit_wall_s": sum(r["edit_wall_s"] for r in raws)}
    for raw, name in zip(raws, names, strict=True):
        answers = raw["pre"]["answers"]
        if answers != first["pre"]["answers"][: len(answers)]:
            raise ValueError(
                f"{name} was run on other edits or gives other pre-edit answers than {names[0]}; "
                "only runs over the same edits with the same base model can be merged"
            )
        for row, entry in raw["methods"].items():
            if row in merged["methods"]:
                raise ValueError(f"row {row} is in more than one of {[str(n) for n in names]}")
            merged["methods"][row] = {**entry, "device": raw["config"]["device"]}
    return merged


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.perf_counter()
    if args.finish is not None:
        raw = merge_raw([json.loads(path.read_text()) for path in args.finish], args.finish)
    else:
        raw = run(args)
        if args.raw is not None:
            args.raw.write_text(json.dumps(raw, indent=1))
    if args.no_cosine:
        return raw
    result = finish(raw, _embedder(), args)
    devices = sorted({r.get("device", raw["config"]["device"]) for r in raw["methods"].values()})
    print(
        f"\nwall time {time.perf_counter() - started:.0f} s (edits and generation "
        f"{raw['edit_wall_s']:.0f} s on {', '.join(devices)})"
    )
    return result


if __name__ == "__main__":
    main()
