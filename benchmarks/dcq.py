"""DCQ: the estimator on simulated takers and published counts, and controlled contamination of
SmolLM2-135M (a partition it was fine-tuned on against one it never saw).

    python -m benchmarks.dcq [--quick] [--n 100] [--out DIR]

Estimator: takers that pick the original with probability c, else A 40% / E 40% / B-D 6.7%
each, n = 200, c in {0, 0.3, 0.7, 1}; and the repository's reports rebuilt from their counts.
Contamination: four disjoint partitions of generated sentences, A (memorised), B (clean),
C (memorised, quizzed in training), D (quizzed in training with E as the answer). SmolLM2's
last 8 layers are fine-tuned on A and C until the loss is < 0.3, then on quizzes from C and D;
DCQ (letter logits) then runs on A and B for the tuned and the untouched model. Perturbations
are the offline lexical ones (SmolLM2 proposes, MiniLM checks). Tuned weights and perturbations
are cached under PONDER_HOME/cache/dcq. One thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.dcq import (
    ContaminationEstimate,
    LexicalPerturber,
    LogitQuizTaker,
    SimulatedTaker,
    estimate,
    format_quizzes,
    generated_partitions,
    likelihood_first,
    memorize,
    non_preferred_positions,
    perturb_partition,
    run_dcq,
    teach_quiz_format,
    words_changed,
)
from methods.dcq.quiz import bias_compensator_quiz, bias_detector_quiz

DATASET, SPLIT = "Generated Sentences", "test"
# Quiz-format tuning: this many quizzes per text of C (answer: the original's letter) and of D
# (answer: E), as many of each so the tuning cannot pass by learning a prior over letters;
# n = 100 gives the card's 400 quizzes.
QUIZZES_PER_TEXT = 2
# The repository's published reports as counts per letter (its percentages times n), with the
# range it printed (card C2).
PUBLISHED = {
    "XSum test, GPT-4": (
        100,
        {"A": 41, "B": 7, "C": 2, "D": 8, "E": 42},
        {"B": [2, 95, 0, 0, 3], "C": [3, 0, 95, 1, 1], "D": [4, 0, 1, 95, 0]},
        (95.0, 95.0),
    ),
    "GSM8k train, GPT-4": (
        100,
        {"A": 44, "B": 2, "C": 1, "D": 1, "E": 52},
        {"B": [30, 55, 0, 0, 15], "C": [24, 1, 69, 0, 6], "D": [14, 0, 0, 79, 7]},
        (78.79, 79.0),
    ),
    "WNLI val, GPT-3.5": (
        71,
        {"A": 0, "B": 0, "C": 4, "D": 0, "E": 67},
        {
            "A": [0, 0, 1, 0, 70],
            "B": [0, 0, 2, 0, 69],
            "C": [0, 0, 9, 0, 62],
            "D": [0, 0, 2, 2, 67],
        },
        (7.47, 12.68),
    ),
}


def progress_line(fraction: float, message: str) -> None:
    print(f"\r  {fraction:4.0%} {message:<70}", end="", file=sys.stderr, flush=True)


def simulated(c: float, n: int, seed: int) -> ContaminationEstimate:
    """DCQ on a simulated taker over n placeholder instances (the taker never reads the text)."""
    taker = SimulatedTaker(c, seed=seed)
    perts = [f"p{k}" for k in range(4)]
    bdq_answers = taker.answer([bias_detector_quiz(perts) for _ in range(n)], DATASET, SPLIT)
    bdq = {k: bdq_answers.count(k) for k in "ABCDE"}
    bcq = {}
    for pos in non_preferred_positions(bdq, n):
        answers = taker.answer(
            [bias_compensator_quiz("orig", perts, pos) for _ in range(n)], DATASET, SPLIT
        )
        bcq[pos] = {k: answers.count(k) for k in "ABCDE"}
    return estimate(n, bdq, bcq)


def estimator_part(seeds: list[int]) -> tuple[list[dict[str, Any]], list[Target]]:
    rows, targets = [], []
    for c in (0.0, 0.3, 0.7, 1.0):
        ests = [simulated(c, 200, seed) for seed in seeds]
        lower, upper = (
            float(np.mean([e.lower for e in ests])),
            float(np.mean([e.upper for e in ests])),
        )
        # Outside the widened range, in either direction (0 when the range holds c).
        miss = max(0.0, (lower - 0.07) - c, c - (upper + 0.07))
        rows.append(
            {
                "c": c,
                "lower": lower,
                "upper": upper,
                "covered": sum(e.lower - 0.07 <= c <= e.upper + 0.07 for e in ests) / len(ests),
                "max_upper": max(e.upper for e in ests),
            }
        )
        targets.append(
            at_most(f"simulated c={c}: distance of c from range +-0.07 (mean of seeds)", miss, 0.0)
        )
        if c == 0.0:
            targets.append(at_most("simulated c=0: upper bound (mean of seeds)", upper, 0.3))
    for name, (n, bdq, bcq_counts, (lo, hi)) in PUBLISHED.items():
        bcq = {p: dict(zip("ABCDE", v, strict=True)) for p, v in bcq_counts.items()}
        est = estimate(n, bdq, bcq)
        err = max(abs(100 * est.lower - lo), abs(100 * est.upper - hi))
        rows.append(
            {
                "published": name,
                "lower": 100 * est.lower,
                "upper": 100 * est.upper,
                "paper": [lo, hi],
            }
        )
        # WNLI's report computed kappa from percentages rounded to 2 decimals: 7.47 vs 7.46.
        targets.append(at_most(f"{name}: |ours - published| (points)", err, 0.02))
    return rows, targets


def load_models() -> tuple[Any, Any, Any]:
    from agents.config import ponder_home
    from agents.models import (
        load_chat_model,
        load_embedding_model,
        resolve_chat_model,
        resolve_embedding_model,
    )

    loaded = load_chat_model(resolve_chat_model(), ponder_home() / "models")
    encoder = load_embedding_model(resolve_embedding_model())
    return loaded.model, loaded.tokenizer, encoder


def contamination_part(args: argparse.Namespace) -> tuple[dict[str, Any], list[Target]]:
    from agents.config import ponder_home

    cache = ponder_home() / "cache" / "dcq"
    t0 = time.perf_counter()
    model, tok, encoder = load_models()
    embed = lambda texts: encoder.encode(texts, normalize_embeddings=True)  # noqa: E731
    n = args.n
    parts = generated_partitions({k: n for k in "ABCD"}, seed=args.seed)
    perturber = LexicalPerturber(model, tok, embed, seed=args.seed)
    print("perturbing", file=sys.stderr)
    perts = {
        k: perturb_partition(
            v, perturber, cache=cache / "perturbations.json", progress=progress_line
        )
        for k, v in parts.items()
    }
    texts = {k: [i.render() for i in v] for k, v in parts.items()}
    ptexts = {k: [[p.render() for p in ps] for ps in v] for k, v in perts.items()}
    originals = [t for k in "AB" for t in texts[k]]
    options = [p for k in "AB" for ps in ptexts[k] for p in ps]
    orig_vec = embed([t for t in originals])
    opt_vec = embed(options).reshape(len(originals), 4, -1)
    quality = {
        "words_changed": float(
            np.mean(
                [
                    words_changed(o, p)
                    for o, ps in zip(originals, [p for k in "AB" for p in ptexts[k]], strict=True)
                    for p in ps
                ]
            )
        ),
        "minilm_cosine": float(np.mean(np.einsum("nd,nkd->nk", orig_vec, opt_vec))),
        "labels_preserved": 1.0,  # validate_perturbations raises otherwise
        "examples": [
            {"original": texts["A"][i], "perturbations": ptexts["A"][i]} for i in range(2)
        ],
    }
    t_perturb = time.perf_counter() - t0

    results: dict[str, Any] = {}

    def quiz_all(tag: str) -> None:
        taker = LogitQuizTaker(model, tok, name=tag)
        for k in "AB":
            print(f"\n{tag} DCQ on {k}", file=sys.stderr)
            rep = run_dcq(
                parts[k], perts[k], taker, dataset=DATASET, split=SPLIT, progress=progress_line
            )
            first = likelihood_first(model, tok, texts[k], ptexts[k])
            results[f"{tag}/{k}"] = {
                "lower": rep.estimate.lower,
                "upper": rep.estimate.upper,
                "bdq": rep.estimate.bdq,
                "bcq": rep.estimate.bcq,
                "likelihood_first": sum(first) / len(first),
            }

    quiz_all("base")
    t_base = time.perf_counter() - t0 - t_perturb
    key = hashlib.sha256(
        json.dumps(
            [texts, ptexts, args.epochs, args.format_epochs, args.lr, QUIZZES_PER_TEXT]
        ).encode()
    ).hexdigest()[:12]
    weights = cache / f"contaminated-{key}.pt"
    logs: dict[str, Any] = {"cached": weights.is_file()}
    if weights.is_file():
        model.load_state_dict(torch.load(weights))
    else:
        print("\nmemorising A and C", file=sys.stderr)
        logs["memorize"] = memorize(
            model, tok, texts["A"] + texts["C"], epochs=args.epochs, progress=progress_line
        ).losses
        quizzes = format_quizzes(
            texts["C"], ptexts["C"], True, per_instance=QUIZZES_PER_TEXT, seed=args.seed
        )
        quizzes += format_quizzes(
            texts["D"], ptexts["D"], False, per_instance=QUIZZES_PER_TEXT, seed=args.seed
        )
        print("\nteaching the quiz format on C and D", file=sys.stderr)
        logs["quiz_format"] = teach_quiz_format(
            model,
            tok,
            quizzes,
            dataset=DATASET,
            split=SPLIT,
            epochs=args.format_epochs,
            lr=args.lr,
            seed=args.seed,
            progress=progress_line,
        ).losses
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
    t_train = time.perf_counter() - t0 - t_perturb - t_base
    quiz_all("contaminated")
    print(file=sys.stderr)
    a, b = results["contaminated/A"], results["contaminated/B"]
    targets = [
        at_least("contaminated model: DCQ lower bound on seen A", a["lower"], 0.6),
        at_most("contaminated model: DCQ upper bound on unseen B", b["upper"], 0.3),
        at_least("contaminated model: gap lower(A) - upper(B)", a["lower"] - b["upper"], 0.4),
        at_most("base model: DCQ upper bound on A", results["base/A"]["upper"], 0.3),
        at_most("base model: DCQ upper bound on B", results["base/B"]["upper"], 0.3),
        at_least(
            "contaminated model: likelihood ranks original first on A", a["likelihood_first"], 0.9
        ),
    ]
    timing = {
        "perturb_s": t_perturb,
        "base_quiz_s": t_base,
        "train_s": t_train,
        "total_s": time.perf_counter() - t0,
    }
    return {
        "n": n,
        "results": results,
        "quality": quality,
        "training": logs,
        "timing": timing,
    }, targets


def print_tables(est_rows: list[dict[str, Any]], cont: dict[str, Any] | None) -> None:
    print("Estimator (n = 200)")
    print(f"{'case':<28}{'lower':>8}{'upper':>8}{'seeds covered':>15}")
    for r in est_rows:
        if "c" in r:
            print(
                f"{'simulated c=' + str(r['c']):<28}{r['lower']:>8.3f}{r['upper']:>8.3f}"
                f"{r['covered']:>15.2f}"
            )
        else:
            print(f"{r['published']:<28}{r['lower']:>7.2f}%{r['upper']:>7.2f}%  paper {r['paper']}")
    if cont is None:
        return
    print(f"\nControlled contamination, SmolLM2-135M, n = {cont['n']} per partition")
    print(f"{'model / partition':<22}{'lower':>8}{'upper':>8}{'lik. first':>12}  BDQ")
    for name, r in cont["results"].items():
        print(
            f"{name:<22}{r['lower']:>8.3f}{r['upper']:>8.3f}{r['likelihood_first']:>12.2f}"
            f"  {r['bdq']}"
        )
    q = cont["quality"]
    print(
        f"\nPerturbations: {100 * q['words_changed']:.0f}% of words changed, MiniLM cosine "
        f"{q['minilm_cosine']:.3f}, labels kept {q['labels_preserved']:.0%}"
    )
    print("timing:", {k: round(v, 1) for k, v in cont["timing"].items()})


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny partitions, short training")
    parser.add_argument(
        "--n", type=int, default=100, help="instances per partition (the card: 100)"
    )
    parser.add_argument("--epochs", type=int, default=30, help="memorisation epochs (at most)")
    parser.add_argument("--format-epochs", type=int, default=3, help="quiz-format epochs")
    parser.add_argument("--lr", type=float, default=3e-4, help="quiz-format learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-model", action="store_true", help="estimator part only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.format_epochs = 4, 3, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    est_rows, targets = estimator_part(list(range(3 if args.quick else 10)))
    cont = None
    if not args.skip_model:
        cont, more = contamination_part(args)
        targets += more
    print_tables(est_rows, cont)
    print_targets(targets)
    wall = time.perf_counter() - started
    print(f"\nwall {wall:.0f} s")
    result = {
        "benchmark": "dcq",
        "quick": args.quick,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "estimator": est_rows,
        "contamination": cont,
        "targets": targets,
        "wall_s": wall,
    }
    write_json(result, args.out, "dcq")
    return result


if __name__ == "__main__":
    main()
