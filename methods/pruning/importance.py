"""Taylor importance in its two published forms, as Torch-Pruning `Importance` classes.

- `TaylorFOBNImportance` (Molchanov et al., CVPR 2019, "Taylor-FO-BN"): a gate fixed at 1 after
  each BatchNorm has gradient `g = gamma * dE/dgamma + beta * dE/dbeta` (the gate multiplies
  `gamma * x_hat + beta`), so no gate module is needed. A group S of coupled channels (a residual
  stage, an expansion/depthwise/projection chain) is scored `(sum_{s in S} g_s)^2` per minibatch,
  averaged over the minibatches since the last pruning step and smoothed across steps with an
  exponential moving average. Ranking is global with no per-layer normalisation. Without
  BatchNorm in a group it falls back to the conv/linear filters, `(sum_w g_w * w)^2`.
- `TaylorActivationImportance` (Molchanov et al., ICLR 2017): feature map k scores
  `|mean over positions of z * dC/dz|`, averaged over examples, then L2-normalised within
  its layer. `z` is taken after BatchNorm; for ReLU networks `z * dC/dz` is the same before and
  after the ReLU (both are zero where the unit is off), so this equals the paper's post-ReLU map.

Both collect statistics through `attach(model)` (hooks), `accumulate()` after each backward
pass, and are told about removed channels through `pruned(group)` so their state stays aligned.
L1 and random are Torch-Pruning's own `GroupMagnitudeImportance(p=1)` and `RandomImportance`.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner import function

_BN_OUT = (function.prune_batchnorm_out_channels,)
_FILTER_OUT = (
    function.prune_conv_out_channels,
    function.prune_depthwise_conv_out_channels,
    function.prune_linear_out_channels,
)
_BN = nn.modules.batchnorm._BatchNorm


def _out_deps(group, handlers) -> list[tuple[nn.Module, list[int], list[int]]]:
    """(module, local idxs, root idxs) of each distinct out-channel dependency of a kind."""
    seen, out = set(), []
    for i, (dep, idxs) in enumerate(group):
        module = dep.target.module
        if dep.handler in handlers and id(module) not in seen:
            root_idxs = group[i].root_idxs
            if any(r is None for r in root_idxs):
                continue
            seen.add(id(module))
            out.append((module, list(idxs), list(root_idxs)))
    return out


class _Accumulating(tp.importance.Importance):
    """State shared by both Taylor forms: per-module statistics kept aligned with surgery."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.n_batches = 0

    def attach(self, model: nn.Module) -> _Accumulating:
        self.model = model
        return self

    def accumulate(self) -> None:
        """Read the statistics of the minibatch whose backward pass just ran."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the minibatch statistics (after a pruning step; smoothed state stays)."""
        self.n_batches = 0

    def commit(self) -> None:
        """Called once a pruning step has scored every group (the 2019 form keeps its EMA)."""

    def _drop(self, key: int, keep: torch.Tensor) -> None:
        """Keep only the channels `keep` (bool mask) in the statistics of module `key`."""
        raise NotImplementedError

    def pruned(self, group) -> None:
        """Drop the removed channels from the statistics of the group's modules (before surgery)."""
        for dep, idxs in group:
            if dep.handler in _BN_OUT + _FILTER_OUT:
                module = dep.target.module
                keep = torch.ones(module.weight.shape[0], dtype=torch.bool)
                keep[list(idxs)] = False
                self._drop(id(module), keep)

    def _require_batches(self) -> None:
        if self.n_batches == 0:
            raise RuntimeError(
                f"{type(self).__name__} has no statistics: call accumulate() after at least one "
                "backward pass before scoring"
            )


class TaylorFOBNImportance(_Accumulating):
    """Molchanov 2019: `(sum over a coupled group of the gate gradient)^2`, batch-averaged, EMA."""

    def __init__(self, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.batch_grads: dict[int, list[torch.Tensor]] = {}  # module -> per-batch (C,)
        self.smoothed: dict[int, torch.Tensor] = {}  # module -> (C,) group score, last step
        self._pending: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def accumulate(self) -> None:
        if self.model is None:
            raise RuntimeError("call attach(model) before accumulate()")
        for m in self.model.modules():
            if not isinstance(m, (_BN, nn.Conv2d, nn.Linear)):
                continue
            if getattr(m, "weight", None) is None or m.weight.grad is None:
                continue
            if isinstance(m, _BN):
                gate = m.weight * m.weight.grad + m.bias * m.bias.grad  # dE/dgate, (C,)
            else:  # filter form: sum over each output filter of g * w (and the bias)
                gate = (m.weight * m.weight.grad).flatten(1).sum(1)
                if m.bias is not None and m.bias.grad is not None:
                    gate = gate + m.bias * m.bias.grad
            self.batch_grads.setdefault(id(m), []).append(gate.detach().clone())
        self.n_batches += 1

    def reset(self) -> None:
        super().reset()
        self.batch_grads = {}

    def commit(self) -> None:
        self.smoothed.update(self._pending)
        self._pending = {}

    def _drop(self, key: int, keep: torch.Tensor) -> None:
        if key in self.batch_grads:
            self.batch_grads[key] = [g[keep] for g in self.batch_grads[key]]
        if key in self.smoothed:
            self.smoothed[key] = self.smoothed[key][keep]

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor | None:
        self._require_batches()
        deps = [d for d in _out_deps(group, _BN_OUT) if id(d[0]) in self.batch_grads]
        if not deps:  # no BatchNorm in the group: score the filters themselves
            deps = [d for d in _out_deps(group, _FILTER_OUT) if id(d[0]) in self.batch_grads]
        if not deps:
            return None  # Torch-Pruning skips a group it cannot score
        n = len(group[0].root_idxs)
        summed = torch.zeros(self.n_batches, n)
        for module, idxs, root_idxs in deps:
            per_batch = torch.stack(self.batch_grads[id(module)])[:, idxs]  # (batches, len)
            summed[:, root_idxs] += per_batch
        score = (summed**2).mean(0)  # (n,): squared group gradient, averaged over minibatches
        module, idxs, root_idxs = deps[0]
        if self.momentum and id(module) in self.smoothed:
            previous = torch.zeros(n)
            previous[root_idxs] = self.smoothed[id(module)][idxs]
            score = self.momentum * previous + (1 - self.momentum) * score
        for module, idxs, root_idxs in deps:
            state = torch.zeros(module.weight.shape[0])
            state[idxs] = score[root_idxs]
            self._pending[id(module)] = state
        return score


class TaylorActivationImportance(_Accumulating):
    """Molchanov 2017: `|mean_positions(z * dC/dz)|` averaged over examples, layer-wise L2."""

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize
        self.sums: dict[int, torch.Tensor] = {}  # module -> (C,) summed over examples
        self.counts: dict[int, int] = {}  # module -> examples seen
        self._pending_batch: dict[int, tuple[torch.Tensor, int]] = {}
        self._handles: list = []

    def attach(self, model: nn.Module) -> TaylorActivationImportance:
        super().attach(model)
        self.detach()
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.Conv2d)):
                self._handles.append(m.register_forward_hook(self._hook))
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, module: nn.Module, _inputs, output: torch.Tensor) -> None:
        if not (torch.is_grad_enabled() and output.requires_grad and output.ndim == 4):
            return
        z = output.detach()
        key = id(module)

        def on_grad(grad: torch.Tensor) -> None:
            # (B, C): per-example mean over positions, then |.| as in the paper
            self._pending_batch[key] = ((z * grad).mean((2, 3)).abs().sum(0), len(z))

        output.register_hook(on_grad)

    def accumulate(self) -> None:
        if self.model is None:
            raise RuntimeError("call attach(model) before accumulate()")
        if not self._pending_batch:
            raise RuntimeError("no activation gradients were seen: run forward and backward first")
        for key, (value, n_examples) in self._pending_batch.items():
            self.sums[key] = self.sums.get(key, 0) + value
            self.counts[key] = self.counts.get(key, 0) + n_examples
        self._pending_batch = {}
        self.n_batches += 1

    def reset(self) -> None:
        super().reset()
        self.sums, self.counts = {}, {}

    def _drop(self, key: int, keep: torch.Tensor) -> None:
        if key in self.sums:
            self.sums[key] = self.sums[key][keep]

    def layer_scores(self, module: nn.Module) -> torch.Tensor:
        """The (normalised) score of every channel of one module."""
        theta = self.sums[id(module)] / self.counts[id(module)]
        if self.normalize:
            theta = theta / theta.norm().clamp_min(1e-12)
        return theta

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor | None:
        self._require_batches()
        deps = [d for d in _out_deps(group, _BN_OUT) if id(d[0]) in self.sums]
        if not deps:
            deps = [d for d in _out_deps(group, _FILTER_OUT) if id(d[0]) in self.sums]
        if not deps:
            return None
        score = torch.zeros(len(group[0].root_idxs))
        for module, idxs, root_idxs in deps:
            score[root_idxs] += self.layer_scores(module)[idxs]
        return score


def make_importance(criterion: str) -> tp.importance.Importance:
    """An importance by name: taylor (2019 FO-BN), taylor2017, l1 or random."""
    if criterion == "taylor":
        return TaylorFOBNImportance()
    if criterion == "taylor2017":
        return TaylorActivationImportance()
    if criterion == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean", normalizer=None)
    if criterion == "random":
        return tp.importance.RandomImportance()
    raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")


CRITERIA = ("taylor", "taylor2017", "l1", "random")
