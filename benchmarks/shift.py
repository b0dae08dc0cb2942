"""SHIFT on synthetic Bias in Bios with SmolLM2-135M: a gender-biased profession probe, edited by
ablating the SAE features a judge marks as gender, against the paper's baselines.

    python -m benchmarks.shift [--quick] [--retrain] [--judge lexicon|file] [--labels FILE]

Stage 1 trains a TopK SAE on the residual stream below the probe layer, on standard-library
docstrings plus 30 % biographies from a seed the evaluation never uses (cached, fp16, under
PONDER_HOME/cache/circuits/smollm2_shift_saes; --retrain redoes it). Stage 2 trains the probe on
the ambiguous split (male professors, female nurses), attributes its signed logit to SAE features
by integrated gradients on 64 training bios (32 per label), shows the top 50 features'
top-activating tokens to the judge (the lexicon proxy by default, or a person's label file),
and reports profession / gender / worst-group accuracy on the balanced test for: the original
probe, the concept-bottleneck probe, random ablation, SHIFT, SHIFT + retrain, the neuron and
feature skylines and the oracle. One thread.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, at_least, at_most, print_targets, write_json

PROBE_LAYER = 6
SAE_LAYERS = (5,)
SAE = {"n_latents": 2048, "k": 32, "tokens": 64_000, "reuse": 4, "batch_size": 512, "seed": 0}
BIO_FRACTION = 0.3
SAE_BIO_SEED = 99  # the SAE's biographies; the splits use seeds 0, 1000 and 2000


def sae_folder(quick: bool = False) -> Path:
    from agents.config import ponder_home

    name = "smollm2_shift_saes_quick" if quick else "smollm2_shift_saes"
    return ponder_home() / "cache" / "circuits" / name


def train_stage(model, tok, retrain: bool, quick: bool) -> tuple[dict, dict, float]:
    """The SAEs below the probe layer (cached) and their quality on held-out text."""
    from benchmarks.circuits import train_saes
    from methods.circuits import corpus, load_all, measure, save_all
    from methods.circuits.biographies import biographies

    folder = sae_folder(quick)
    names = [f"resid_{i}" for i in SAE_LAYERS]
    spec = dict(SAE, tokens=16_000 if quick else SAE["tokens"], layers=list(SAE_LAYERS))
    bios = [
        b.text.rstrip(".")
        for p in (0, 1)
        for g in (0, 1)
        for b in biographies(500, p, g, SAE_BIO_SEED)
    ]
    texts = corpus(int(spec["tokens"] * 4.2), bios, BIO_FRACTION, seed=0)
    started = time.perf_counter()
    if retrain or not (folder / "meta.json").is_file():
        saes = train_saes(model, tok, texts, names, spec)
        save_all(
            saes,
            folder,
            {
                "script": "python -m benchmarks.shift --retrain",
                "corpus": f"stdlib docstrings (ast) + {BIO_FRACTION:.0%} biographies (seed "
                f"{SAE_BIO_SEED})",
                "model": "SmolLM2-135M-Instruct",
                **spec,
            },
        )
    saes = load_all(folder)
    train_s = time.perf_counter() - started
    held = [tok.encode(t) for t in corpus(60_000, bios, BIO_FRACTION, seed=7)[:200]]
    held = torch.tensor([h[:64] for h in held if len(h) >= 64][:24])
    return saes, measure(model, saes, held), train_s


def evidence_contexts(tok, n: int = 400, width: int = 64, source: str = "mix") -> torch.Tensor:
    """Windows of held-out text to find each feature's top-activating tokens in: the SAE's mix
    (docstrings and biographies) or biographies alone."""
    from methods.circuits import corpus
    from methods.circuits.biographies import biographies

    bios = [b.text for p in (0, 1) for g in (0, 1) for b in biographies(200, p, g, seed=7)]
    texts = corpus(n * width * 5, bios, BIO_FRACTION, seed=3) if source == "mix" else bios
    stream: list[int] = []
    for text in texts:
        stream += tok.encode(text + "\n\n")
        if len(stream) >= n * width:
            break
    rows = len(stream) // width
    return torch.tensor(stream[: rows * width]).view(rows, width)[:n]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small SAE and splits")
    parser.add_argument("--retrain", action="store_true", help="retrain the SAE")
    parser.add_argument("--train-only", action="store_true", help="stop after the SAE stage")
    parser.add_argument("--judge", choices=["lexicon", "file"], default="lexicon")
    parser.add_argument("--labels", type=Path, help="a person's label file (--judge file)")
    parser.add_argument(
        "--evidence",
        choices=["mix", "bios"],
        default="mix",
        help="where features' top tokens come from: the SAE's text mix or held-out biographies",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from methods.circuits.biographies import bias_splits
    from methods.circuits.judge import LabelFileJudge, LexiconJudge, evidence_json
    from methods.circuits.shift_run import ShiftConfig, encode_splits, evaluate, propose, table

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    torch.manual_seed(0)
    started = time.perf_counter()
    model, tok = load_smollm2()
    saes, qualities, train_s = train_stage(model, tok, args.retrain, args.quick)
    print(f"\nSAE below the probe layer ({SAE['n_latents']} latents, k={SAE['k']}):")
    for n, q in qualities.items():
        print(
            f"{n}: FVE {q.fraction_variance_explained:.3f}  L0 {q.l0:.1f}  dead "
            f"{q.dead_fraction:.3f}  CE loss recovered {q.ce_loss_recovered:.3f}"
        )
    if args.train_only:
        return {}
    if args.judge == "file" and not args.labels:
        parser.error("--judge file needs --labels FILE")
    judge = LabelFileJudge(args.labels) if args.judge == "file" else LexiconJudge()
    sizes = (60, 20, 20) if args.quick else (300, 100, 100)
    splits = bias_splits(*sizes, seed=0)
    pad = tok.eos_token_id
    data = encode_splits(splits, tok.encode, pad)
    config = ShiftConfig(
        hook=f"resid_{PROBE_LAYER}",
        n_attribution=16 if args.quick else 64,
        ig_steps=4 if args.quick else 10,
    )
    say = lambda f, m: print(f"  {f:4.0%} {m}", flush=True)  # noqa: E731
    t0 = time.perf_counter()
    proposal = propose(
        model,
        saes,
        data,
        evidence_contexts(tok, 50 if args.quick else 200, source=args.evidence),
        tok.decode,
        pad,
        judge,
        config,
        say,
    )
    propose_s = time.perf_counter() - t0
    print(f"\ntop {len(proposal.evidence)} features by IG effect (judge: {judge.name}):")
    for e, v in zip(proposal.evidence, proposal.verdicts, strict=True):
        mark = "ABLATE" if v.ablate else "keep  "
        print(f"  {mark} {e.id:14s} {e.effect:8.3f}  {' '.join(repr(t) for t in e.tokens[:8])}")
    t0 = time.perf_counter()
    result = evaluate(
        model, saes, data, proposal, proposal.ablate, tok.encode, pad, judge.name, config, say
    )
    evaluate_s = time.perf_counter() - t0
    rows = result.rows
    print(
        f"\nSHIFT on synthetic Bias in Bios, SmolLM2-135M, probe on resid_{PROBE_LAYER} "
        f"(balanced test, %; {len(result.ablated)} features ablated, judge: {result.judge})"
    )
    print(table(rows))
    orig, shift, ret = rows["Original"], rows["SHIFT"], rows["SHIFT + retrain"]
    oracle, rand = rows["Oracle"], rows["Random"]
    preconditions = [
        at_most("precondition: original profession accuracy", orig.profession, 0.75),
        at_least("precondition: original gender accuracy", orig.gender, 0.80),
        at_most("precondition: original worst group", orig.worst_group, 0.35),
        at_least("precondition: oracle profession accuracy", oracle.profession, 0.90),
    ]
    targets = [
        at_least("SHIFT profession gain (points)", 100 * (shift.profession - orig.profession), 10),
        at_most("SHIFT gender accuracy", shift.gender, 0.65),
        at_least(
            "SHIFT worst-group gain (points)", 100 * (shift.worst_group - orig.worst_group), 25
        ),
        at_most(
            "random ablation |profession change| (points)",
            abs(100 * (rand.profession - orig.profession)),
            3,
        ),
        at_least(
            "SHIFT + retrain profession minus oracle (points)",
            100 * (ret.profession - oracle.profession),
            -5,
        ),
        at_most("SHIFT + retrain gender accuracy", ret.gender, 0.60),
    ]
    valid = all(t.passed for t in preconditions)
    print_targets(preconditions)
    if not valid:
        print("\nINVALID: the data is not biased enough; the SHIFT bars below do not count")
    print_targets(targets)
    wall = time.perf_counter() - started
    print(f"\nwall {wall:.0f} s (propose {propose_s:.0f} s, evaluate {evaluate_s:.0f} s)")
    out = {
        "config": {
            "model": "SmolLM2-135M-Instruct",
            "probe_hook": config.hook,
            "sae_layers": list(SAE_LAYERS),
            "sae": SAE,
            "splits": {
                "ambiguous_per_group": sizes[0],
                "balanced_per_group": sizes[1],
                "test_per_group": sizes[2],
            },
            "n_attribution": config.n_attribution,
            "n_top": config.n_top,
            "ig_steps": config.ig_steps,
            "judge": result.judge,
            "evidence": args.evidence,
            "quick": args.quick,
            "threads": torch.get_num_threads(),
        },
        "sae_quality": [{"name": n, **vars(q)} for n, q in qualities.items()],
        "sae_seconds": round(train_s),
        "table": {name: vars(a) for name, a in rows.items()},
        "ablated": [f"{h}/{i}" for h, i in result.ablated],
        "features": evidence_json(proposal.evidence, proposal.verdicts),
        "skyline_features": [f"{h}/{i}" for h, i in result.skyline_features],
        "skyline_neurons": [f"{h}/{i}" for h, i in result.skyline_neurons],
        "valid": valid,
        "preconditions": preconditions,
        "targets": targets,
        "wall_seconds": round(wall),
    }
    if not args.quick:
        write_json(out, args.out, "shift" if args.evidence == "mix" else "shift_bios_evidence")
    return out


def load_smollm2():
    from benchmarks.circuits import load_smollm2 as load

    return load()


if __name__ == "__main__":
    main()
