"""The 2019 paper's oracle check: do Taylor scores rank channels as removing them really does?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from methods.pruning.data import IdentitySet
from methods.pruning.importance import _BN_OUT, TaylorFOBNImportance, _out_deps
from methods.pruning.models import EmbeddingNet, MarginHead


@dataclass
class OracleCheck:
    spearman: float
    taylor: list[float]  # per sampled channel
    oracle: list[float]  # mean over batches of the squared loss change from removing it


@torch.no_grad()
def _loss(model: nn.Module, head: MarginHead, xs, ys) -> list[float]:
    return [float(head(model(x), y)) for x, y in zip(xs, ys, strict=True)]


def oracle_check(
    model: nn.Module,
    head: MarginHead,
    data: IdentitySet,
    n_channels: int = 150,
    n_batches: int = 2,
    batch_size: int = 128,
    seed: int = 0,
) -> OracleCheck:
    """Spearman correlation between the Taylor-FO-BN score of each sampled coupled channel and
    the true squared change of the loss when that channel's BN gates are zeroed.

    Both are computed in eval mode on the same fixed minibatches (no augmentation), so the only
    difference is the first-order approximation. Channels are sampled across all groups.
    """
    from scipy.stats import spearmanr

    if len(data) < batch_size:
        raise ValueError(f"data has {len(data)} images, fewer than batch_size ({batch_size})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    xs = [data.images[order[i * batch_size : (i + 1) * batch_size]] for i in range(n_batches)]
    ys = [data.labels[order[i * batch_size : (i + 1) * batch_size]] for i in range(n_batches)]
    xs, ys = [x for x in xs if len(x)], [y for y in ys if len(y)]
    model.eval()
    scorer = TaylorFOBNImportance(momentum=0.0).attach(model)
    for x, y in zip(xs, ys, strict=True):
        model.zero_grad()
        head.zero_grad()
        head(model(x), y).backward()
        scorer.accumulate()
    ignored = [model.head] if isinstance(model, EmbeddingNet) else []
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=xs[0][:2])
    candidates = []
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d]):
        score = scorer(group)
        bns = _out_deps(group, _BN_OUT)
        if score is None or not bns:
            continue
        for r in range(len(score)):
            gates = [(m, idxs[root.index(r)]) for m, idxs, root in bns if r in root]
            candidates.append((float(score[r]), gates))
    if len(candidates) < 3:
        raise ValueError("model has fewer than 3 BatchNorm-gated channels to check")
    picked = rng.choice(len(candidates), size=min(n_channels, len(candidates)), replace=False)
    base = _loss(model, head, xs, ys)
    taylor, oracle = [], []
    for i in picked:
        score, gates = candidates[i]
        saved = [(m, c, m.weight[c].item(), m.bias[c].item()) for m, c in gates]
        with torch.no_grad():
            for m, c in gates:
                m.weight[c] = 0
                m.bias[c] = 0
            changed = _loss(model, head, xs, ys)
            for m, c, w, b in saved:
                m.weight[c] = w
                m.bias[c] = b
        taylor.append(score)
        oracle.append(float(np.mean([(a - b) ** 2 for a, b in zip(changed, base, strict=True)])))
    model.zero_grad()
    return OracleCheck(float(spearmanr(taylor, oracle).statistic), taylor, oracle)
