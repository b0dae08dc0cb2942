"""Train, measure and store one SAE per hook point of a model from a text corpus in one pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from methods.circuits.buffer import ActivationBuffer
from methods.circuits.hooks import hook_points, record
from methods.circuits.sae import (
    Kind,
    Quality,
    SparseAutoencoder,
    TrainConfig,
    ce_loss_recovered,
    load_dictionary,
    quality,
    save_dictionary,
    train_saes,
)


def train_dictionaries(
    model: nn.Module,
    tokenize: Callable[[str], list[int]],
    texts: list[str],
    names: list[str],
    n_latents: int,
    k: int = 32,
    kind: Kind = "topk",
    config: TrainConfig | None = None,
    context: int = 128,
    reuse: int = 3,
    capacity: int = 16_384,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, SparseAutoencoder]:
    """SAEs for `names` trained on activations streamed from `texts` (one forward feeds all)."""
    points = hook_points(model)
    unknown = [n for n in names if n not in points]
    if unknown:
        raise KeyError(
            f"names {unknown} are not hook points of this model (e.g. {list(points)[:4]})"
        )
    if not texts:
        raise ValueError("texts is empty: the SAEs need a corpus")
    config = config or TrainConfig()
    probe = record(model, names[:1], torch.tensor([tokenize("The")[:1] or [0]]), stop=True)
    d = probe[names[0]].shape[-1]
    saes = {n: SparseAutoencoder(d, n_latents, kind, k=k) for n in names}
    buffer = ActivationBuffer(
        model,
        tokenize,
        texts,
        names,
        context=context,
        capacity=capacity,
        batch_size=config.batch_size,
        reuse=reuse,
        seed=config.seed,
    )
    train_saes(saes, buffer, config, progress)
    for sae in saes.values():
        sae.eval()
        sae.requires_grad_(False)
    return saes


def measure(
    model: nn.Module, saes: dict[str, SparseAutoencoder], held_out: torch.Tensor
) -> dict[str, Quality]:
    """FVE, L0, dead fraction and CE loss recovered of each SAE on held-out contexts (B, T)."""
    acts = record(model, list(saes), held_out)
    out = {}
    for n, sae in saes.items():
        q = quality(sae, acts[n][:, 1:])  # the first position's outsized norm dominates FVE
        q.ce_loss_recovered, q.ce_clean, q.ce_spliced, q.ce_zero = ce_loss_recovered(
            model, n, sae, held_out
        )
        out[n] = q
    return out


def save_all(
    saes: dict[str, SparseAutoencoder], folder: str | Path, meta: dict | None = None
) -> Path:
    """One dictionary_learning folder per hook point under `folder`, plus `meta.json`."""
    folder = Path(folder)
    for n, sae in saes.items():
        save_dictionary(sae, folder / n, meta={"submodule_name": n, **(meta or {})})
    (folder / "meta.json").write_text(json.dumps({"names": list(saes), **(meta or {})}, indent=2))
    return folder


def load_all(folder: str | Path) -> dict[str, SparseAutoencoder]:
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} has no meta.json: not a folder written by save_all")
    names = json.loads(meta_path.read_text())["names"]
    saes = {n: load_dictionary(folder / n) for n in names}
    for sae in saes.values():
        sae.requires_grad_(False)
    return saes


def quality_rows(qualities: dict[str, Quality]) -> list[dict]:
    return [{"name": n, **asdict(q)} for n, q in qualities.items()]
