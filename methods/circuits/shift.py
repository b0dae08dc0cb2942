"""SHIFT: remove a classifier's reliance on a spurious signal by ablating the SAE features a judge
finds task-irrelevant (Marks et al. 2024, arXiv 2403.19647, section 4).

    data = encode_bios(splits.ambiguous, tok.encode, pad_id)
    probe = train_probe(pooled(model, "resid_6", data), data.profession)
    effects = feature_effects(model, saes, "resid_6", probe, data.subset(range(100)))
    top = top_features(effects, 50)
    ablate = [e.feature for e in judge(evidence(model, saes, top, corpus_ids, decode))
              if e.ablate]
    x_test = pooled(model, "resid_6", test, edits=ablation_edits(saes, ablate))

A linear probe reads the residual stream at one layer, mean-pooled over the tokens (the first,
attention-sink position left out). Integrated gradients (zero patch) attribute its logit, signed
by each example's label, to the SAE features below it, summed over positions and averaged over
examples. A judge (a person's label file, an LLM, or a lexicon proxy) marks the top features that
are task-irrelevant; those are zeroed at every position, SAE errors kept, and the probe is
measured as it is and retrained on the ablated activations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from methods.circuits.attribution import Task, node_effects
from methods.circuits.biographies import Bio
from methods.circuits.hooks import Edit, edit_outputs, hook_points, point_order, record

Feature = tuple[str, int]  # (hook point, feature index)


@dataclass
class BioBatch:
    """Right-padded token ids with a pooling mask (real tokens after the first) and labels."""

    ids: torch.Tensor  # (N, T)
    mask: torch.Tensor  # (N, T) bool
    profession: torch.Tensor  # (N,) 0 nurse, 1 professor
    gender: torch.Tensor  # (N,) 0 female, 1 male

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | torch.Tensor) -> BioBatch:
        index = torch.as_tensor(list(index) if not torch.is_tensor(index) else index)
        width = int(self.mask[index].nonzero()[:, 1].max()) + 1 if len(index) else 1
        return BioBatch(
            self.ids[index, :width],
            self.mask[index, :width],
            self.profession[index],
            self.gender[index],
        )

    def group(self, profession: int, gender: int) -> torch.Tensor:
        return (self.profession == profession) & (self.gender == gender)


def encode_bios(
    bios: list[Bio], encode: Callable[[str], list[int]], pad_id: int, max_len: int = 96
) -> BioBatch:
    """Tokenise and right-pad; causal attention means pads never reach the real tokens."""
    if not bios:
        raise ValueError("bios is empty: give at least one biography")
    rows = [encode(b.text)[:max_len] for b in bios]
    if any(pad_id in r for r in rows):
        raise ValueError(f"pad_id {pad_id} occurs inside a biography; choose an unused token id")
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, 1 : len(r)] = True  # position 0 is an attention sink, not content
    return BioBatch(
        ids,
        mask,
        torch.tensor([b.profession for b in bios]),
        torch.tensor([b.gender for b in bios]),
    )


def _mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[..., None].to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1)


@torch.no_grad()
def pooled(
    model: nn.Module,
    hook: str,
    data: BioBatch,
    edits: dict[str, Edit] | None = None,
    batch_size: int = 32,
    progress: Callable[[float, str], None] | None = None,
) -> torch.Tensor:
    """Mean-pooled activations (N, d) at `hook`, with `edits` (ablations) applied upstream."""
    if hook not in hook_points(model):
        raise KeyError(f"hook {hook!r} is not a hook point of this model (e.g. 'resid_6')")
    out = []
    ctx = edit_outputs(model, edits) if edits else contextlib.nullcontext()
    with ctx:
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            x = record(model, [hook], data.ids[sl], stop=True)[hook].float()
            out.append(_mean_pool(x, data.mask[sl]))
            if progress:
                progress(min(1.0, (start + batch_size) / len(data)), f"pooling {hook}")
    return torch.cat(out)


@dataclass
class Probe:
    """A linear classifier on raw pooled activations: logit = x·w + b (standardisation folded)."""

    w: torch.Tensor  # (d,)
    b: float

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() @ self.w + self.b

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return (self.logits(x) > 0).long()


def train_probe(
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 20,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    batch_size: int = 64,
    seed: int = 0,
) -> Probe:
    """Logistic regression by BCE and AdamW (the paper's recipe) on standardised inputs."""
    if x.ndim != 2 or len(x) != len(y) or not len(x):
        raise ValueError(
            f"x must be (n, d) and y (n,) with n > 0, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    if set(y.unique().tolist()) - {0, 1}:
        raise ValueError(f"y must be 0/1 labels, got values {sorted(y.unique().tolist())}")
    gen = torch.Generator().manual_seed(seed)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    lin = nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
    opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=weight_decay)
    yf = y.float()
    with torch.enable_grad():
        for _ in range(epochs):
            for idx in torch.randperm(len(z), generator=gen).split(batch_size):
                loss = nn.functional.binary_cross_entropy_with_logits(lin(z[idx])[:, 0], yf[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    w = lin.weight.detach()[0] / std
    return Probe(w, float(lin.bias.detach()[0] - (mean * w).sum()))


class ProbeLogit(nn.Module):
    """`model` truncated at `hook` and read by a probe: forward(ids) -> (B, 1) probe logits.

    It exposes the wrapped model's layers, so hook points (and node_effects) work on it."""

    def __init__(self, model: nn.Module, hook: str, probe: Probe, pad_id: int) -> None:
        super().__init__()
        self.lm, self.hook, self.probe, self.pad_id = model, hook, probe, pad_id
        for attr in ("model", "gpt_neox", "layers", "embed"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))
        self._point = hook_points(model)[hook]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        store: dict[str, torch.Tensor] = {}

        class _Stop(Exception):
            pass

        def grab(module: nn.Module, args: tuple, output):
            store["x"] = output[0] if isinstance(output, tuple) else output
            raise _Stop

        handle = self._point.register_forward_hook(grab)
        try:
            with contextlib.suppress(_Stop):
                self.lm(ids)
        finally:
            handle.remove()
        mask = ids != self.pad_id
        mask[:, 0] = False
        return self.probe.logits(_mean_pool(store["x"].float(), mask))[:, None]


@dataclass
class FeatureEffect:
    feature: Feature
    effect: float

    @property
    def id(self) -> str:
        return f"{self.feature[0]}/{self.feature[1]}"


def feature_effects(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    hook: str,
    probe: Probe,
    data: BioBatch,
    labels: torch.Tensor | None = None,
    pad_id: int | None = None,
    steps: int = 10,
) -> dict[str, torch.Tensor]:
    """Per dictionary, each feature's effect (F,) on the probe logit signed by `labels` (default
    the profession): IG with a zero patch, summed over positions after the first, mean over
    examples. Positive effects push the probe towards each example's label."""
    late = [n for n in dictionaries if point_order(n) > point_order(hook)]
    if late:
        raise ValueError(f"dictionaries {late} sit above the probe's hook {hook!r}")
    labels = data.profession if labels is None else labels
    if labels.shape != (len(data),):
        raise ValueError(f"labels must be ({len(data)},), got {tuple(labels.shape)}")
    pad = int(data.ids[~data.mask].max()) if pad_id is None and (~data.mask).any() else pad_id
    if pad is None:
        raise ValueError("pad_id is needed when no example is padded")
    sign = labels.float() * 2 - 1
    wrapper = ProbeLogit(model, hook, probe, pad)
    task = Task(data.ids, lambda out: out[:, 0] * sign)
    effects = node_effects(wrapper, dictionaries, task, method="ig", steps=steps)
    return {n: v[1:].sum(0) for n, v in effects.features.items()}


def top_features(
    effects: dict[str, torch.Tensor], n: int, signed: bool = True
) -> list[FeatureEffect]:
    """The `n` features with the largest effect (largest |effect| when not `signed`)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rows = [
        FeatureEffect((name, i), float(v))
        for name, vals in effects.items()
        for i, v in enumerate(vals.tolist())
    ]
    rows.sort(key=lambda r: -(r.effect if signed else abs(r.effect)))
    return rows[:n]


def ablation_edits(dictionaries: dict[str, nn.Module], features: list[Feature]) -> dict[str, Edit]:
    """Hook edits that zero `features` at every position and keep the SAE error:
    x -> x - (decode(f_S) - decode(0)), f_S the chosen features' activations."""
    by_hook: dict[str, list[int]] = {}
    for name, idx in features:
        if name not in dictionaries:
            raise KeyError(f"feature {name}/{idx} names a hook point without a dictionary")
        if not 0 <= idx < dictionaries[name].n_latents:
            raise IndexError(f"feature {name}/{idx} is outside the dictionary's width")
        by_hook.setdefault(name, []).append(idx)

    def edit(name: str, chosen: list[int]) -> Edit:
        d = dictionaries[name]
        index = torch.tensor(sorted(set(chosen)))

        def fn(x: torch.Tensor) -> torch.Tensor:
            f = d.encode(x.float())
            only = torch.zeros_like(f)
            only[..., index] = f[..., index]
            removed = d.decode(only) - d.decode(torch.zeros_like(f))
            return (x.float() - removed).to(x.dtype)

        return fn

    return {name: edit(name, chosen) for name, chosen in by_hook.items()}


@dataclass
class Accuracy:
    """The paper's three numbers on a balanced test set, in [0, 1]."""

    profession: float
    gender: float  # how often the prediction matches the gender the training set paired it with
    worst_group: float
    groups: dict[str, float] = field(default_factory=dict)


def accuracy(pred: torch.Tensor, data: BioBatch) -> Accuracy:
    """Profession accuracy, gender accuracy (male ~ professor) and the worst subgroup's
    profession accuracy."""
    if pred.shape != data.profession.shape:
        raise ValueError(f"pred must be ({len(data)},), got {tuple(pred.shape)}")
    groups = {}
    for p in (0, 1):
        for g in (0, 1):
            m = data.group(p, g)
            if m.any():
                name = f"{('female', 'male')[g]} {('nurse', 'professor')[p]}"
                groups[name] = float((pred[m] == p).float().mean())
    return Accuracy(
        float((pred == data.profession).float().mean()),
        float((pred == data.gender).float().mean()),
        min(groups.values()),
        groups,
    )
