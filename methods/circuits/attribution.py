"""Node and edge effects of SAE features and error terms: attribution patching, integrated
gradients and exact activation patching (Marks et al. 2024, arXiv 2403.19647, after Nanda's AtP
and Sundararajan et al.'s IG).

At each hooked submodule the activation splits as x = decode(f) + ε. The indirect effect of a
node (a feature at a position, or the error at a position) is m(clean | do(node = patch)) -
m(clean), with m a metric of the logits, per example; effects are averaged over the batch.

- attribution patching: ∇m·Δ at the clean run (one forward and backward in all);
- integrated gradients: ∇m averaged over 10 points from clean to patch, one submodule at a
  time, the rest of the model running normally;
- exact: one patched forward per node (the reference the two approximations are checked on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from methods.circuits.hooks import edit_outputs, logits_of, point_order, record

Metric = Callable[[torch.Tensor], torch.Tensor]  # logits (B, T, V) -> (B,)
Method = Literal["attrib", "ig", "exact"]


@dataclass
class Task:
    """Clean prompts, optional patch prompts of the same shape, and the metric on logits.

    With no patch the patch activations are zero (the no-pair setting), or with
    `baseline="mean"` the clean activations' per-position mean over the batch (what mean
    ablation sets a node to)."""

    clean: torch.Tensor  # (B, T) token ids
    metric: Metric
    patch: torch.Tensor | None = None
    baseline: Literal["zero", "mean"] = "zero"  # the patch when there are no patch prompts

    def __post_init__(self) -> None:
        if self.baseline not in ("zero", "mean"):
            raise ValueError(f"baseline must be 'zero' or 'mean', got {self.baseline!r}")
        if self.clean.ndim != 2 or self.clean.numel() == 0:
            raise ValueError(
                f"clean must be non-empty (batch, pos) token ids, got {tuple(self.clean.shape)}"
            )
        if self.patch is not None and self.patch.shape != self.clean.shape:
            raise ValueError(
                f"patch must have the clean prompts' shape {tuple(self.clean.shape)}, "
                f"got {tuple(self.patch.shape)}"
            )


def logit_diff(answer: torch.Tensor, other: torch.Tensor, pos: int = -1) -> Metric:
    """m = logit(answer) - logit(other) at position `pos`, per example."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        last = logits[:, pos]
        return last.gather(1, answer[:, None])[:, 0] - last.gather(1, other[:, None])[:, 0]

    return metric


def next_token_loss(targets: torch.Tensor, pos: int = -1) -> Metric:
    """m = -log p(target) at position `pos` (the no-pair metric)."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return -torch.log_softmax(logits[:, pos].float(), -1).gather(1, targets[:, None])[:, 0]

    return metric


@dataclass
class Acts:
    """Features (B, T, F) and errors (B, T, d) of one submodule."""

    f: torch.Tensor
    err: torch.Tensor


@dataclass
class Effects:
    """Per submodule: feature effects (T, F) and error effects (T,), averaged over examples.

    `grads` keeps the mean gradients (the IG path average for 'ig') that edges reuse."""

    features: dict[str, torch.Tensor]
    errors: dict[str, torch.Tensor]
    method: str
    seconds: float = 0.0
    grads: dict[str, Acts] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return sorted(self.features, key=point_order)

    def n_nodes(self) -> int:
        return sum(v.numel() for v in self.features.values()) + sum(
            v.numel() for v in self.errors.values()
        )


def _check(model: nn.Module, dictionaries: dict[str, nn.Module]) -> list[str]:
    if not dictionaries:
        raise ValueError("dictionaries is empty: give at least one {hook point: SAE}")
    return sorted(dictionaries, key=point_order)


@torch.no_grad()
def dictionary_acts(
    model: nn.Module, dictionaries: dict[str, nn.Module], ids: torch.Tensor
) -> dict[str, Acts]:
    """Features and errors at every dictionary's hook point for `ids` (a clean model run)."""
    names = _check(model, dictionaries)
    raw = record(model, names, ids)
    out = {}
    for n in names:
        x = raw[n].float()
        f = dictionaries[n].encode(x)
        out[n] = Acts(f, x - dictionaries[n].decode(f))
    return out


def _patch_acts(model, dictionaries, task: Task, clean: dict[str, Acts]) -> dict[str, Acts]:
    if task.patch is None and task.baseline == "mean":
        return {
            n: Acts(
                a.f.mean(0, keepdim=True).expand_as(a.f),
                a.err.mean(0, keepdim=True).expand_as(a.err),
            )
            for n, a in clean.items()
        }
    if task.patch is None:
        return {n: Acts(torch.zeros_like(a.f), torch.zeros_like(a.err)) for n, a in clean.items()}
    return dictionary_acts(model, dictionaries, task.patch)


def node_effects(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    task: Task,
    method: Method = "ig",
    steps: int = 10,
) -> Effects:
    """Effects of every feature and error node by attribution patching ('attrib') or integrated
    gradients ('ig', `steps` points per submodule)."""
    if method not in ("attrib", "ig"):
        raise ValueError(
            f"method must be 'attrib' or 'ig' (exact patching is exact_effects), got {method!r}"
        )
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    names = _check(model, dictionaries)
    start = time.perf_counter()
    clean = dictionary_acts(model, dictionaries, task.clean)
    patch = _patch_acts(model, dictionaries, task, clean)
    grads = (
        _attrib_grads(model, dictionaries, task, clean, names)
        if method == "attrib"
        else _ig_grads(model, dictionaries, task, clean, patch, names, steps)
    )
    feats, errs = {}, {}
    for n in names:
        df = patch[n].f - clean[n].f
        de = patch[n].err - clean[n].err
        feats[n] = (grads[n].f * df).mean(0)  # (T, F)
        errs[n] = (grads[n].err * de).sum(-1).mean(0)  # (T,)
    mean_grads = {n: grads[n] for n in names}
    return Effects(feats, errs, method, time.perf_counter() - start, mean_grads)


def _attrib_grads(model, dictionaries, task, clean, names) -> dict[str, Acts]:
    """∇m w.r.t. every submodule's features and error at the clean run, in one backward.

    Each hook adds decode(f + δf) - decode(f) + δε with δf = δε = 0: the value is unchanged and
    ∇ reaches δf and δε along every downstream path, so these are total (not direct) effects."""
    leaves = {}

    def splice(n: str):
        def fn(x: torch.Tensor) -> torch.Tensor:
            d = dictionaries[n]
            df = torch.zeros_like(clean[n].f, requires_grad=True)
            de = torch.zeros_like(clean[n].err, requires_grad=True)
            leaves[n] = (df, de)
            f = clean[n].f
            return x + (d.decode(f + df) - d.decode(f).detach() + de).to(x.dtype)

        return fn

    with edit_outputs(model, {n: splice(n) for n in names}):
        m = task.metric(logits_of(model, task.clean)).sum()
    flat = [t for n in names for t in leaves[n]]
    got = torch.autograd.grad(m, flat, allow_unused=True)
    out = {}
    for i, n in enumerate(names):
        gf, ge = got[2 * i], got[2 * i + 1]
        out[n] = Acts(_or_zeros(gf, clean[n].f), _or_zeros(ge, clean[n].err))
    return out


def _ig_grads(model, dictionaries, task, clean, patch, names, steps) -> dict[str, Acts]:
    """For each submodule alone: ∇m averaged at clean + (k/N)Δ, k = 0..N-1 (left Riemann sum)."""
    out = {}
    for n in names:
        d = dictionaries[n]
        sum_f = torch.zeros_like(clean[n].f)
        sum_e = torch.zeros_like(clean[n].err)
        for k in range(steps):
            alpha = k / steps
            f = (clean[n].f + alpha * (patch[n].f - clean[n].f)).requires_grad_(True)
            e = (clean[n].err + alpha * (patch[n].err - clean[n].err)).requires_grad_(True)
            with edit_outputs(model, {n: _replacer(d, f, e)}):
                m = task.metric(logits_of(model, task.clean)).sum()
            gf, ge = torch.autograd.grad(m, [f, e], allow_unused=True)
            sum_f += _or_zeros(gf, f)
            sum_e += _or_zeros(ge, e)
        out[n] = Acts(sum_f / steps, sum_e / steps)
    return out


def _replacer(d: nn.Module, f: torch.Tensor, e: torch.Tensor) -> Callable:
    """A hook edit that replaces the activation by decode(f) + e."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        return (d.decode(f) + e).to(x.dtype)

    return fn


def _or_zeros(g: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if g is None else g.detach()


Node = tuple[str, int, int | None]  # (hook point, position, feature index or None for the error)


@torch.no_grad()
def exact_effects(
    model: nn.Module, dictionaries: dict[str, nn.Module], task: Task, nodes: list[Node]
) -> tuple[torch.Tensor, float]:
    """Exact indirect effect of each node (one patched forward each), mean over examples, and
    the seconds it took."""
    _check(model, dictionaries)
    if not nodes:
        raise ValueError("nodes is empty: name at least one (hook point, position, feature) node")
    start = time.perf_counter()
    clean = dictionary_acts(model, dictionaries, task.clean)
    patch = _patch_acts(model, dictionaries, task, clean)
    base = task.metric(logits_of(model, task.clean))
    T = task.clean.shape[1]
    out = torch.zeros(len(nodes))
    for i, (n, pos, feat) in enumerate(nodes):
        if n not in dictionaries:
            raise KeyError(f"node {nodes[i]} names hook point {n!r}, which has no dictionary")
        if not -T <= pos < T:
            raise IndexError(f"node {nodes[i]}: position {pos} is outside the {T} prompt positions")
        f, e = clean[n].f.clone(), clean[n].err.clone()
        if feat is None:
            e[:, pos] = patch[n].err[:, pos]
        else:
            f[:, pos, feat] = patch[n].f[:, pos, feat]
        with edit_outputs(model, {n: _replacer(dictionaries[n], f, e)}):
            out[i] = (task.metric(logits_of(model, task.clean)) - base).mean()
    return out, time.perf_counter() - start


def top_nodes(effects: Effects, n: int, names: list[str] | None = None) -> list[Node]:
    """The `n` nodes with the largest |effect| (features and errors together)."""
    scores, index = [], []
    for name in names or effects.names:
        feats, errs = effects.features[name], effects.errors[name]
        T, F = feats.shape
        scores += [feats.abs().reshape(-1), errs.abs()]
        index += [(name, "f", T, F), (name, "e", T, 1)]
    flat = torch.cat(scores)
    chosen = flat.topk(min(n, len(flat))).indices.tolist()
    bounds, out = [], []
    acc = 0
    for name, kind, T, F in index:
        bounds.append((acc, acc + T * F, name, kind, F))
        acc += T * F
    for c in chosen:
        for lo, hi, name, kind, F in bounds:
            if lo <= c < hi:
                r = c - lo
                out.append((name, r // F, r % F) if kind == "f" else (name, r, None))
                break
    return out


def effect_of(effects: Effects, node: Node) -> float:
    name, pos, feat = node
    return float(effects.errors[name][pos] if feat is None else effects.features[name][pos, feat])


@dataclass
class Edge:
    upstream: Node
    downstream: Node
    effect: float


def edge_effects(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    task: Task,
    effects: Effects,
    nodes: list[Node],
    edge_threshold: float = 0.0,
) -> list[Edge]:
    """Direct effects between the given nodes of any two hooked submodules:
    IE(u -> d) ≈ ∇_d m · (∂d/∂u) · Δu, with ∇_d m from `effects.grads` (the IG path average for
    IG effects), ∂d/∂u at the clean run, and gradients stopped at every other hooked submodule,
    so each edge is direct. One VJP per downstream node, one forward per upstream submodule."""
    if not effects.grads:
        raise ValueError("effects carries no gradients: compute it with node_effects")
    names = _check(model, dictionaries)
    clean = dictionary_acts(model, dictionaries, task.clean)
    patch = _patch_acts(model, dictionaries, task, clean)
    by_name: dict[str, list[Node]] = {n: [] for n in names}
    for node in nodes:
        if node[0] not in by_name:
            raise KeyError(f"node {node} names hook point {node[0]!r}, which has no dictionary")
        by_name[node[0]].append(node)
    edges: list[Edge] = []
    for ui, u in enumerate(names):
        ups = by_name[u]
        downs = [node for n in names[ui + 1 :] for node in by_name[n]]
        if not ups or not downs:
            continue
        leaves: dict[str, torch.Tensor] = {}
        down_vals: dict[str, Acts] = {}

        def hook(n: str, u: str = u, leaves: dict = leaves, down_vals: dict = down_vals):
            d = dictionaries[n]

            def fn(x: torch.Tensor) -> torch.Tensor:
                if n == u:
                    df = torch.zeros_like(clean[n].f, requires_grad=True)
                    de = torch.zeros_like(clean[n].err, requires_grad=True)
                    leaves["f"], leaves["e"] = df, de
                    f = clean[n].f
                    return x + (d.decode(f + df) - d.decode(f).detach() + de).to(x.dtype)
                if point_order(n) > point_order(u):
                    f = d.encode(x.float())
                    down_vals[n] = Acts(f, x.float() - d.decode(f))
                # Stop-gradient: what flows past another submodule is not a direct effect.
                return x.detach()

            return fn

        with torch.enable_grad(), edit_outputs(model, {n: hook(n) for n in names}):
            logits_of(model, task.clean)
            df_u = patch[u].f - clean[u].f
            de_u = patch[u].err - clean[u].err
            for node in downs:
                n, pos, feat = node
                g = effects.grads[n]
                if feat is None:
                    out = (down_vals[n].err[:, pos] * g.err[:, pos]).sum()
                else:
                    out = (down_vals[n].f[:, pos, feat] * g.f[:, pos, feat]).sum()
                if not out.requires_grad:
                    continue  # no path from u to this node
                gf, ge = torch.autograd.grad(
                    out, [leaves["f"], leaves["e"]], retain_graph=True, allow_unused=True
                )
                gf = _or_zeros(gf, df_u)
                ge = _or_zeros(ge, de_u)
                for up in ups:
                    _, upos, ufeat = up
                    if ufeat is None:
                        e = float((ge[:, upos] * de_u[:, upos]).sum(-1).mean())
                    else:
                        e = float((gf[:, upos, ufeat] * df_u[:, upos, ufeat]).mean())
                    if abs(e) > edge_threshold:
                        edges.append(Edge(up, node, e))
    return edges
