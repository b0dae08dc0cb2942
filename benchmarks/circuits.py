"""Sparse feature circuits on SmolLM2-135M: subject-verb agreement in four families.

    python -m benchmarks.circuits [--quick] [--retrain] [--out DIR]

Stage 1 trains TopK residual-stream SAEs at four layers of SmolLM2 on docstrings of the standard
library plus 10 % agreement sentences built from the train nouns (cached, fp16, under
PONDER_HOME/cache/circuits/smollm2_saes with the seed and corpus recorded; --retrain redoes it).
Stage 2, per family: integrated gradients (10 steps) and attribution patching on discovery
pairs; exact patching of the top nodes; faithfulness and completeness by mean ablation on test
pairs with disjoint nouns; random and error-free circuits; a neuron circuit (identity
dictionaries) at equal faithfulness; timing of attribution against exact patching. One thread.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS

LAYERS = (2, 5, 8, 11)
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


def train_stage(model, tok, retrain: bool, quick: bool) -> tuple[dict, dict, float]:
    """The SAEs (cached) and their quality rows."""
    from methods.circuits import (
        TrainConfig,
        corpus,
        load_all,
        measure,
        save_all,
        split_nouns,
        task_sentences,
        train_dictionaries,
    )

    folder = sae_folder() if not quick else sae_folder().with_name("smollm2_saes_quick")
    names = [f"resid_{i}" for i in LAYERS]
    spec = dict(SAE, tokens=20_000 if quick else SAE["tokens"], layers=list(LAYERS))
    started = time.perf_counter()
    if retrain or not (folder / "meta.json").is_file():
        train_nouns, _ = split_nouns()
        # ~4.2 characters per SmolLM2 token on docstrings.
        texts = corpus(int(spec["tokens"] * 4.2), task_sentences(train_nouns, n=2000), 0.1, seed=0)

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
        saes = train_dictionaries(
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
        meta = {
            "script": "python -m benchmarks.circuits --retrain",
            "seed": 0,
            "corpus": "stdlib docstrings (ast) + 10% agreement sentences, train nouns",
            "model": "SmolLM2-135M-Instruct",
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny SAEs, few pairs")
    parser.add_argument("--retrain", action="store_true", help="retrain the SAEs")
    parser.add_argument("--train-only", action="store_true", help="stop after the SAE stage")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    torch.manual_seed(0)
    model, tok = load_smollm2()
    saes, qualities, train_s = train_stage(model, tok, args.retrain, args.quick)
    print(f"SAE stage {train_s:.0f} s")
    for n, q in qualities.items():
        print(n, q)
    return {}


if __name__ == "__main__":
    main()
