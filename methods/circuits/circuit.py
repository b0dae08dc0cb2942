"""Circuits: node sets chosen by thresholding effects, and their faithfulness and completeness
under mean ablation of everything outside (or inside) them, errors included.

faithfulness(C) = (m(C) - m(∅)) / (m(M) - m(∅)), where m(C) runs the model with every feature and
error node outside C set to its mean over the patch prompts (per position); completeness is the
faithfulness of the complement M \\ C (ideally near 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from methods.circuits.attribution import Acts, Effects, Node, Task, dictionary_acts, top_nodes
from methods.circuits.hooks import edit_outputs, logits_of, point_order


@dataclass
class Circuit:
    """Kept nodes per submodule: feature masks (T, F) and error masks (T,)."""

    features: dict[str, torch.Tensor]
    errors: dict[str, torch.Tensor]

    @property
    def n_nodes(self) -> int:
        return int(
            sum(m.sum() for m in self.features.values())
            + sum(m.sum() for m in self.errors.values())
        )

    def complement(self) -> Circuit:
        return Circuit(
            {n: ~m for n, m in self.features.items()}, {n: ~m for n, m in self.errors.items()}
        )

    def without_errors(self) -> Circuit:
        return Circuit(
            dict(self.features), {n: torch.zeros_like(m) for n, m in self.errors.items()}
        )

    def nodes(self) -> list[Node]:
        out: list[Node] = []
        for n in sorted(self.features, key=point_order):
            out += [(n, int(p), int(i)) for p, i in self.features[n].nonzero().tolist()]
            out += [(n, int(p), None) for (p,) in self.errors[n].nonzero().tolist()]
        return out


def sum_over_positions(effects: Effects) -> Effects:
    """Effects with positions summed (the paper's "sum" aggregation): one node per feature and
    one error node per submodule, which a circuit then keeps or ablates at every position."""
    return Effects(
        {n: v.sum(0, keepdim=True) for n, v in effects.features.items()},
        {n: v.sum(0, keepdim=True) for n, v in effects.errors.items()},
        effects.method + "+sum",
        effects.seconds,
    )


def empty_like(effects: Effects) -> Circuit:
    return Circuit(
        {n: torch.zeros_like(v, dtype=torch.bool) for n, v in effects.features.items()},
        {n: torch.zeros_like(v, dtype=torch.bool) for n, v in effects.errors.items()},
    )


def full_like(effects: Effects) -> Circuit:
    return empty_like(effects).complement()


def from_nodes(effects: Effects, nodes: list[Node]) -> Circuit:
    c = empty_like(effects)
    for n, pos, feat in nodes:
        if feat is None:
            c.errors[n][pos] = True
        else:
            c.features[n][pos, feat] = True
    return c


def threshold(effects: Effects, node_threshold: float) -> Circuit:
    """Nodes with |effect| > `node_threshold`."""
    if not node_threshold >= 0:
        raise ValueError(f"node_threshold must be >= 0, got {node_threshold}")
    return Circuit(
        {n: v.abs() > node_threshold for n, v in effects.features.items()},
        {n: v.abs() > node_threshold for n, v in effects.errors.items()},
    )


def top_circuit(effects: Effects, n_nodes: int) -> Circuit:
    """The `n_nodes` nodes of largest |effect| (thresholding at the n-th largest)."""
    if n_nodes < 0:
        raise ValueError(f"n_nodes must be >= 0, got {n_nodes}")
    return from_nodes(effects, top_nodes(effects, n_nodes)) if n_nodes else empty_like(effects)


def random_circuit(effects: Effects, n_nodes: int, seed: int = 0) -> Circuit:
    """`n_nodes` nodes drawn uniformly from all feature and error nodes."""
    gen = torch.Generator().manual_seed(seed)
    names = effects.names
    sizes = [effects.features[n].numel() + effects.errors[n].numel() for n in names]
    total = sum(sizes)
    if not 0 <= n_nodes <= total:
        raise ValueError(f"n_nodes must be in [0, {total}], got {n_nodes}")
    picks = torch.randperm(total, generator=gen)[:n_nodes]
    c = empty_like(effects)
    start = 0
    for n, size in zip(names, sizes, strict=True):
        local = picks[(picks >= start) & (picks < start + size)] - start
        nf = effects.features[n].numel()
        feats = local[local < nf]
        c.features[n].view(-1)[feats] = True
        c.errors[n][local[local >= nf] - nf] = True
        start += size
    return c


def mean_acts(
    model: nn.Module, dictionaries: dict[str, nn.Module], ids: torch.Tensor
) -> dict[str, Acts]:
    """Per-position means (T, F) and (T, d) over a batch: what ablated nodes are set to."""
    acts = dictionary_acts(model, dictionaries, ids)
    return {n: Acts(a.f.mean(0), a.err.mean(0)) for n, a in acts.items()}


@torch.no_grad()
def run_ablated(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    ids: torch.Tensor,
    keep: Circuit | None,
    means: dict[str, Acts],
) -> torch.Tensor:
    """Logits with every node outside `keep` set to its mean (None: the unablated model)."""
    if keep is None:
        return logits_of(model, ids)
    T = ids.shape[1]

    def ablate(n: str):
        d, mean = dictionaries[n], means[n]
        kf, ke = keep.features[n], keep.errors[n]
        if kf.shape[0] not in (1, T) or mean.f.shape[0] != T:
            raise ValueError(
                f"circuit is for {kf.shape[0]} positions and means for {mean.f.shape[0]}; the "
                f"prompts have {T} (a circuit summed over positions has 1)"
            )

        def fn(x: torch.Tensor) -> torch.Tensor:
            f = d.encode(x.float())
            e = x.float() - d.decode(f)
            f = torch.where(kf, f, mean.f)
            e = torch.where(ke[:, None], e, mean.err)
            return (d.decode(f) + e).to(x.dtype)

        return fn

    with edit_outputs(model, {n: ablate(n) for n in dictionaries}):
        return logits_of(model, ids)


@dataclass
class Faithfulness:
    faithfulness: float
    m_circuit: float
    m_empty: float
    m_full: float
    n_nodes: int


class Evaluator:
    """Faithfulness of many circuits on one task: m(M) and m(∅) and the means computed once.

    `ablation="zero"` sets nodes outside a circuit to zero instead of their mean (the no-pair
    setting, where the contexts differ and a mean turns on features a context lacks)."""

    def __init__(
        self,
        model: nn.Module,
        dictionaries: dict[str, nn.Module],
        task: Task,
        ablation: Literal["mean", "zero"] = "mean",
    ) -> None:
        if ablation not in ("mean", "zero"):
            raise ValueError(f"ablation must be 'mean' or 'zero', got {ablation!r}")
        self.model, self.dictionaries, self.task = model, dictionaries, task
        self.means = mean_acts(
            model, dictionaries, task.patch if task.patch is not None else task.clean
        )
        if ablation == "zero":
            self.means = {
                n: Acts(torch.zeros_like(a.f), torch.zeros_like(a.err))
                for n, a in self.means.items()
            }
        self.m_full = self.metric(None)
        shapes = next(iter(self.means.values()))
        T = shapes.f.shape[0]
        nothing = Circuit(
            {n: torch.zeros(T, a.f.shape[-1], dtype=torch.bool) for n, a in self.means.items()},
            {n: torch.zeros(T, dtype=torch.bool) for n in self.means},
        )
        self.m_empty = self.metric(nothing)

    def metric(self, keep: Circuit | None) -> float:
        logits = run_ablated(self.model, self.dictionaries, self.task.clean, keep, self.means)
        return float(self.task.metric(logits).mean())

    def faithfulness(self, circuit: Circuit) -> Faithfulness:
        m = self.metric(circuit)
        denom = self.m_full - self.m_empty
        if abs(denom) < 1e-9:
            raise ValueError(
                "the full model and the empty circuit score the same: faithfulness is undefined "
                "for this task"
            )
        return Faithfulness(
            (m - self.m_empty) / denom, m, self.m_empty, self.m_full, circuit.n_nodes
        )

    def completeness(self, circuit: Circuit) -> Faithfulness:
        return self.faithfulness(circuit.complement())


def faithfulness(
    model: nn.Module, dictionaries: dict[str, nn.Module], task: Task, circuit: Circuit
) -> Faithfulness:
    """Faithfulness of one circuit (use Evaluator for many)."""
    return Evaluator(model, dictionaries, task).faithfulness(circuit)


def faithfulness_curve(
    evaluator: Evaluator, effects: Effects, sizes: list[int]
) -> list[Faithfulness]:
    """Faithfulness of the top-n circuits for each n in `sizes`."""
    return [evaluator.faithfulness(top_circuit(effects, n)) for n in sizes]
