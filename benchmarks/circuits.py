"""Sparse feature circuits on SmolLM2-135M: subject-verb agreement in four families.

    python -m benchmarks.circuits [--quick] [--retrain] [--layers L ...] [--out DIR]

Stage 1 trains TopK residual-stream SAEs at six layers of SmolLM2 on docstrings of the standard
library plus 10 % agreement sentences built from the train nouns (cached, fp16, under
PONDER_HOME/cache/circuits/smollm2_saes with the seed and corpus recorded; --retrain redoes it).
Stage 2, per family: integrated gradients (10 steps) and attribution patching on discovery
pairs; exact patching of the top nodes; faithfulness and completeness by mean ablation on test
pairs with disjoint nouns; random and error-free circuits; a neuron circuit (identity
dictionaries) at equal faithfulness; timing of attribution against exact patching.
PONDER_THREADS torch threads (default one).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, at_least, at_most, print_targets, write_json

# The method card's six residual layers, spread over SmolLM2's 30.
LAYERS = (4, 9, 14, 19, 24, 29)
# The method card's counts (100 discovery and 40 evaluation prompts per family).
DISCOVERY_PAIRS, TEST_PAIRS = 100, 40
SAE = {"n_latents": 2048, "k": 32, "tokens": 64_000, "reuse": 4, "batch_size": 512, "seed": 0}


def load_smollm2() -> tuple[Any, Any]:
    from agents.config import ponder_home
    from agents.models import load_chat_model, resolve_chat_model

    loaded = load_chat_model(resolve_chat_model(), ponder_home() / "models")
    model = loaded.model.float().eval()
    model.requires_grad_(False)
    return model, loaded.tokenizer


def sae_folder() -> Path:
    from agents.config import ponder_home

    return ponder_home() / "cache" / "circuits" / "smollm2_saes"


def layers_tag(layers: tuple[int, ...]) -> str:
    """ "" for the default LAYERS, else "_L4-9-14": the suffix that names another layer set's
    cache folder, evidence folder and result file, so it never overwrites the default's."""
    return "" if tuple(layers) == LAYERS else "_L" + "-".join(map(str, layers))


def add_layers_argument(parser: argparse.ArgumentParser, result: str) -> None:
    """--layers, for this benchmark and those that reuse its SAEs (`result` names their JSON)."""
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=list(LAYERS),
        help=f"residual layers with SAEs (default {' '.join(map(str, LAYERS))}); another set is "
        f"trained into a cache folder of its own and written to {result}_L<layers>.json",
    )


def layers_error(layers: list[int]) -> str | None:
    """Why a --layers list is unusable (None if it is fine)."""
    if sorted(set(layers)) != layers or min(layers) < 0:
        return f"--layers must be distinct, increasing layer indices, got {layers}"
    return None


def saes_folder_for(layers: tuple[int, ...], quick: bool) -> Path:
    """Where the SAEs at `layers` are cached (`sae_folder()` for the default layers), so trying
    another set never evicts the SAEs the tools and the cluster pipeline use."""
    folder = sae_folder()
    return folder.with_name(folder.name + layers_tag(layers) + ("_quick" if quick else ""))


def train_stage(
    model, tok, retrain: bool, quick: bool, layers: tuple[int, ...] = LAYERS
) -> tuple[dict, dict, float]:
    """The SAEs at residual `layers` (cached) and their quality rows."""
    from methods.circuits import (
        corpus,
        load_all,
        measure,
        save_all,
        split_nouns,
        task_sentences,
    )

    folder = saes_folder_for(layers, quick)
    names = [f"resid_{i}" for i in layers]
    spec = dict(SAE, tokens=20_000 if quick else SAE["tokens"], layers=list(layers))
    started = time.perf_counter()
    stale = cached_spec_mismatch(folder, spec)
    if stale:
        print(f"retraining the SAEs in {folder}: the cache was trained with {stale}", flush=True)
    if retrain or stale or not (folder / "meta.json").is_file():
        train_nouns, _ = split_nouns()
        # ~4.2 characters per SmolLM2 token on docstrings.
        texts = corpus(int(spec["tokens"] * 4.2), task_sentences(train_nouns, n=2000), 0.1, seed=0)

        saes = train_saes(model, tok, texts, names, spec)
        meta = {
            "script": "python -m benchmarks.circuits --retrain",
            "seed": 0,
            "corpus": "stdlib docstrings (ast) + 10% agreement sentences, train nouns",
            "model": "SmolLM2-135M-Instruct",
            "train_seconds": round(time.perf_counter() - started),
            **spec,
        }
        save_all(saes, folder, meta)
    train_s = time.perf_counter() - started
    saes = load_all(folder)
    held_out_texts = corpus(60_000, seed=1)[-40:]
    ids = [tok.encode(t)[:64] for t in held_out_texts]
    ids = torch.tensor([i for i in ids if len(i) == 64][:16])
    qualities = measure(model, saes, ids)
    return saes, qualities, train_s


def cached_spec_mismatch(folder: Path, spec: dict) -> str:
    """What differs between the SAEs cached in `folder` and `spec` ("" when they match or there
    is no cache), so that changing LAYERS or SAE never silently reuses stale dictionaries."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return ""
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        return f"an unreadable meta.json ({e})"
    diffs = [f"{k}={meta.get(k)!r} (now {v!r})" for k, v in spec.items() if meta.get(k) != v]
    return ", ".join(diffs)


def train_saes(model, tok, texts: list[str], names: list[str], spec: dict) -> dict:
    """TopK SAEs at `names`, trained on `texts` with the benchmarks' recipe: `spec` gives
    n_latents, k, tokens, reuse (passes over each activation) and batch_size."""
    from methods.circuits import TrainConfig, train_dictionaries

    def tokenize(text: str) -> list[int]:
        return tok.encode(text + "\n\n")

    steps = spec["tokens"] * spec["reuse"] // spec["batch_size"]
    config = TrainConfig(
        steps=steps,
        batch_size=spec["batch_size"],
        warmup_steps=max(steps // 10, 10),
        dead_after_tokens=100_000,
        seed=0,
    )
    return train_dictionaries(
        model,
        tokenize,
        texts,
        names,
        spec["n_latents"],
        k=spec["k"],
        config=config,
        reuse=spec["reuse"],
        capacity=16_384,
        progress=lambda f, m: print(f"  sae {f:5.1%} {m}", flush=True),
    )


def family_stage(model, tok, saes, family: str, n_disc: int, n_eval: int, quick: bool) -> dict:
    """Discovery, checks against exact patching, and evaluation for one family."""
    from scipy.stats import spearmanr

    from methods.circuits import (
        Evaluator,
        IdentityDictionary,
        exact_effects,
        keep_correct,
        make_pairs,
        node_effects,
        random_circuit,
        split_nouns,
        tokenize_pairs,
        top_circuit,
        top_nodes,
    )

    train_nouns, test_nouns = split_nouns()

    def pairs(nouns, n, seed):
        tokens = tokenize_pairs(make_pairs(family, nouns, 6 * n, seed=seed), tok.encode)
        kept = keep_correct(model, tokens)
        return kept.subset(torch.arange(min(n, len(kept)))), len(kept), len(tokens)

    disc, disc_kept, disc_all = pairs(train_nouns, n_disc, 1)
    test, test_kept, test_all = pairs(test_nouns, n_eval, 2)
    row: dict[str, Any] = {
        "family": family,
        "discovery_pairs": len(disc),
        "test_pairs": len(test),
        "kept_fraction": round((disc_kept + test_kept) / (disc_all + test_all), 2),
    }
    if len(disc) < 4 or len(test) < 4:
        row["skipped"] = "too few pairs the model gets right"
        return row
    task = disc.discovery_task()
    ig = node_effects(model, saes, task, "ig", steps=10)
    atp = node_effects(model, saes, task, "attrib")
    first = min(saes, key=lambda n: int(n.split("_")[1]))
    top50 = top_nodes(ig, 50)
    early = list(dict.fromkeys(top_nodes(ig, 20, [first]) + top_nodes(atp, 20, [first])))
    nodes = list(dict.fromkeys(top50 + early))
    exact, exact_s = exact_effects(model, saes, task, nodes)
    exact_of = dict(zip(nodes, exact.tolist(), strict=True))

    def est(effects, node):
        n, p, f = node
        return float(effects.errors[n][p] if f is None else effects.features[n][p, f])

    row["ig_vs_exact_spearman_top50"] = float(
        spearmanr([est(ig, n) for n in top50], [exact_of[n] for n in top50]).statistic
    )
    row["ig_vs_exact_spearman_first"] = float(
        spearmanr([est(ig, n) for n in early], [exact_of[n] for n in early]).statistic
    )
    row["atp_vs_exact_spearman_first"] = float(
        spearmanr([est(atp, n) for n in early], [exact_of[n] for n in early]).statistic
    )
    row["ig_seconds"] = round(ig.seconds, 1)
    row["atp_seconds"] = round(atp.seconds, 1)
    per_node = exact_s / len(nodes)
    row["exact_seconds_per_node"] = round(per_node, 3)
    row["all_nodes"] = ig.n_nodes()
    row["exact_all_nodes_seconds_projected"] = round(per_node * ig.n_nodes(), 0)
    ev = Evaluator(model, saes, test.eval_task())
    row["m_full"], row["m_empty"] = round(ev.m_full, 3), round(ev.m_empty, 3)
    sizes = [10, 30, 100, 300, 1000, 1500] if not quick else [10, 100, 300]
    row["curve"] = {n: round(ev.faithfulness(top_circuit(ig, n)).faithfulness, 3) for n in sizes}
    big = 1500 if not quick else 300
    circuit = top_circuit(ig, big)
    row["faithfulness_300"] = row["curve"][300]
    row["faithfulness_1500"] = row["curve"][big]
    row["completeness_1500"] = round(ev.completeness(circuit).faithfulness, 3)
    row["random_1500"] = round(ev.faithfulness(random_circuit(ig, big, seed=0)).faithfulness, 3)
    row["no_errors_1500"] = round(ev.faithfulness(circuit.without_errors()).faithfulness, 3)
    row["error_nodes_in_1500"] = int(sum(m.sum() for m in circuit.errors.values()))
    # Neurons: the residual basis as an identity dictionary (no error nodes).
    neurons = {n: IdentityDictionary(sae.d) for n, sae in saes.items()}
    neuron_ig = node_effects(model, neurons, task, "ig", steps=10)
    nev = Evaluator(model, neurons, test.eval_task())
    goal = row["faithfulness_300"]
    row["neuron_curve"] = {}
    row["neuron_size_at_equal_faithfulness"] = None
    for n in [10, 30, 100, 300, 1000, 3000, 6000, neuron_ig.n_nodes()]:
        f = nev.faithfulness(top_circuit(neuron_ig, min(n, neuron_ig.n_nodes()))).faithfulness
        row["neuron_curve"][n] = round(f, 3)
        if f >= goal:
            row["neuron_size_at_equal_faithfulness"] = n
            break
    row["_effects"] = ig
    row["_task"] = task
    return row


def evidence(model, tok, saes, row: dict, out: Path, n_nodes: int = 30) -> list[Path]:
    """The top nodes of one family's circuit with their edges, drawn, and each top feature's
    top-activating contexts from held-out docstrings (the evidence for reading it)."""
    from methods.circuits import corpus, edge_effects, graph, top_contexts, top_nodes, write
    from methods.circuits.render import contexts_json

    effects, task = row["_effects"], row["_task"]
    nodes = top_nodes(effects, n_nodes)
    edges = edge_effects(model, saes, task, effects, nodes, edge_threshold=0.01)
    feats = [(n, f) for n, _, f in nodes if f is not None][:8]
    rows = [tok.encode(t)[:64] for t in corpus(400_000, seed=3)]
    ids = torch.tensor([r for r in rows if len(r) == 64][:150])
    found = top_contexts(model, saes, feats, ids, tok.decode, k=4)
    labels = {}
    for n, p, f in nodes:
        if f is not None and found.get(f"{n}/{f}"):
            labels[f"{n}/{f}@{p}"] = f"{f}@{p} " + found[f"{n}/{f}"][0].text[-14:]
    paths = write(graph(effects, nodes, edges, labels), out, f"circuit_{row['family']}")
    ctx_path = out / f"features_{row['family']}.json"
    ctx_path.write_text(__import__("json").dumps(contexts_json(found), indent=2))
    print(f"{len(nodes)} nodes, {len(edges)} edges above 0.01; top contexts:")
    for key, items in list(found.items())[:4]:
        print(f"  {key}: {[c.text[-40:] for c in items[:2]]}")
    return [*paths, ctx_path]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny SAEs, few pairs")
    parser.add_argument("--retrain", action="store_true", help="retrain the SAEs")
    parser.add_argument("--train-only", action="store_true", help="stop after the SAE stage")
    parser.add_argument("--families", nargs="*", default=None)
    add_layers_argument(parser, "circuits")
    parser.add_argument(
        "--discovery-pairs",
        type=int,
        default=DISCOVERY_PAIRS,
        help=f"pairs per family that IG and AtP run on (default {DISCOVERY_PAIRS}, the card's)",
    )
    parser.add_argument(
        "--test-pairs",
        type=int,
        default=TEST_PAIRS,
        help=f"held-out pairs per family for faithfulness (default {TEST_PAIRS}, the card's)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if message := layers_error(args.layers):
        parser.error(message)
    if args.discovery_pairs < 4 or args.test_pairs < 4:
        parser.error("--discovery-pairs and --test-pairs must each be at least 4")
    from methods.circuits import FAMILIES

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    torch.manual_seed(0)
    started = time.perf_counter()
    model, tok = load_smollm2()
    layers = tuple(args.layers)
    saes, qualities, train_s = train_stage(model, tok, args.retrain, args.quick, layers)
    print(f"\nSAEs on SmolLM2-135M residual stream ({SAE['n_latents']} latents, k={SAE['k']}):")
    print(f"{'hook':10s} {'FVE':>6s} {'L0':>5s} {'dead':>6s} {'CE rec':>7s}")
    for n, q in qualities.items():
        print(
            f"{n:10s} {q.fraction_variance_explained:6.3f} {q.l0:5.1f} {q.dead_fraction:6.3f} "
            f"{q.ce_loss_recovered:7.3f}"
        )
    if args.train_only:
        return {}
    rows = []
    for family in args.families or FAMILIES:
        t0 = time.perf_counter()
        n_disc, n_test = (8, 8) if args.quick else (args.discovery_pairs, args.test_pairs)
        row = family_stage(model, tok, saes, family, n_disc, n_test, args.quick)
        if family == "nounpp" and "skipped" not in row:
            folder = sae_folder().parent / f"evidence{layers_tag(layers)}"
            paths = evidence(model, tok, saes, row, folder)
            print("graph and feature evidence:", ", ".join(str(p) for p in paths))
        row.pop("_effects", None)
        row.pop("_task", None)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        print(row, flush=True)
        rows.append(row)
    done = [r for r in rows if "skipped" not in r]
    mean = lambda key: sum(r[key] for r in done) / max(len(done), 1)  # noqa: E731
    print(
        f"\n{'family':10s} {'pairs':>6s} {'IG~ex':>6s} {'IG1st':>6s} {'AtP1st':>6s} {'F@300':>6s} "
        f"{'F@1500':>6s} {'compl':>6s} {'rand':>6s} {'noerr':>6s} {'neurons':>8s} {'IG s':>6s} "
        f"{'exact s':>8s}"
    )
    for r in done:
        print(
            f"{r['family']:10s} {r['discovery_pairs']:3d}/{r['test_pairs']:<2d} "
            f"{r['ig_vs_exact_spearman_top50']:6.2f} {r['ig_vs_exact_spearman_first']:6.2f} "
            f"{r['atp_vs_exact_spearman_first']:6.2f} {r['faithfulness_300']:6.2f} "
            f"{r['faithfulness_1500']:6.2f} {r['completeness_1500']:6.2f} {r['random_1500']:6.2f} "
            f"{r['no_errors_1500']:6.2f} {str(r['neuron_size_at_equal_faithfulness']):>8s} "
            f"{r['ig_seconds']:6.0f} {r['exact_all_nodes_seconds_projected']:8.0f}"
        )
    targets = [
        at_least(
            "IG vs exact Spearman, top-50 nodes (mean)", mean("ig_vs_exact_spearman_top50"), 0.7
        ),
        at_least(
            "IG minus AtP Spearman vs exact, first SAE layer (mean)",
            mean("ig_vs_exact_spearman_first") - mean("atp_vs_exact_spearman_first"),
            0.0,
        ),
        at_least("faithfulness at 300 nodes (mean)", mean("faithfulness_300"), 0.6),
        at_least("faithfulness at 1500 nodes (mean)", mean("faithfulness_1500"), 0.8),
        at_most("completeness at 1500 nodes (mean)", mean("completeness_1500"), 0.25),
        at_most("random 1500-node circuit faithfulness (mean)", mean("random_1500"), 0.2),
        at_least(
            "faithfulness lost without error nodes (mean)",
            mean("faithfulness_1500") - mean("no_errors_1500"),
            0.2,
        ),
        at_least("families with enough correct pairs", len(done), 4),
    ]
    speed = mean("exact_all_nodes_seconds_projected") / max(mean("ig_seconds"), 1e-9)
    print(
        f"\nexact patching of every node / IG discovery: {speed:.0f}x "
        f"({mean('exact_all_nodes_seconds_projected'):.0f} s projected vs "
        f"{mean('ig_seconds'):.0f} s)"
    )
    print_targets(targets)
    wall = time.perf_counter() - started
    print(f"\nwall {wall:.0f} s")
    result = {
        "config": {
            "model": "SmolLM2-135M-Instruct",
            "layers": list(layers),
            "sae": SAE,
            "ig_steps": 10,
            "discovery_pairs": args.discovery_pairs,
            "test_pairs": args.test_pairs,
            "quick": args.quick,
            "threads": torch.get_num_threads(),
        },
        "sae_quality": [{"name": n, **vars(q)} for n, q in qualities.items()],
        "sae_train_seconds": round(train_s, 0),
        "families": rows,
        "exact_over_ig_time": speed,
        "targets": targets,
        "wall_seconds": round(wall, 0),
    }
    if not args.quick:
        write_json(result, args.out, f"circuits{layers_tag(layers)}")
    return result


if __name__ == "__main__":
    main()
