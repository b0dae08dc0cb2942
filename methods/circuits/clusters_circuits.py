"""A feature circuit per behaviour cluster: no-pair discovery (zero patch, m = -log p of the true
next token), faithfulness on held-out contexts of the cluster, sharded across processes.

    found = find_behaviours(model, rows, BehaviourConfig(k=50))
    config = ClusterCircuitConfig(window=16, n_nodes=500)
    circuits = cluster_circuits(model, saes, found, found.clusters[:5], config, workers=2)
    # beyond one machine: each cluster a Ray task on a running cluster (pip install 'ponder[ray]')
    circuits = cluster_circuits(..., backend="ray", ray_address="auto")

Contexts are the `window` tokens before each predicted token (right-aligned, so the prediction
is always at the last position). Effects are summed over positions (the paper's "sum"
aggregation: a node is a feature, or a submodule's error term, wherever it fires), the window's
first position (the attention sink) is never ablated, and faithfulness zero-ablates what is
outside the circuit, as discovery's zero patch does; mean ablation is reported beside it.

Clusters are independent, so they shard: over spawned processes on this machine, or as Ray
tasks (an optional extra) where one machine is not enough. Ray then schedules, ships the model
and SAEs to each node once (its object store), and retries a task whose worker dies.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from methods.circuits.attribution import (
    Effects,
    Node,
    Task,
    effect_of,
    next_token_loss,
    node_effects,
)
from methods.circuits.circuit import (
    Circuit,
    Evaluator,
    empty_like,
    sum_over_positions,
    top_circuit,
)
from methods.circuits.clusters import Behaviours, Cluster
from methods.circuits.render import node_id

Progress = Callable[[float, str], None]
Backend = Literal["processes", "ray"]
BACKENDS: tuple[str, ...] = get_args(Backend)


@dataclass
class ClusterCircuitConfig:
    """How each cluster's circuit is found and judged."""

    window: int = 16  # context tokens per example (at most BehaviourConfig.min_context)
    max_contexts: int = 100  # discovery contexts per cluster (the paper's cap)
    method: Literal["ig", "attrib"] = "ig"
    # What a node is patched to in discovery: zero (the paper's no-pair setting) or its mean
    # over the discovery contexts (the value faithfulness's mean ablation sets it to).
    baseline: Literal["zero", "mean"] = "zero"
    # What faithfulness sets nodes outside the circuit to. Zero by default: a cluster's contexts
    # differ, and a mean over them turns on, at every position, features a context lacks.
    ablation: Literal["zero", "mean"] = "zero"
    steps: int = 10  # IG points per submodule
    n_nodes: int = 500  # the circuit: this many nodes of largest |effect|, per position
    sizes: tuple[int, ...] = (10, 30, 100, 300, 500)  # faithfulness curve
    held_out: float = 0.5  # share of a cluster's contexts kept for evaluation
    # Leading positions never ablated nor counted: a window's first token is the attention sink
    # (huge activations; zeroing it wrecks every position), as BOS is in the paper.
    keep_first: int = 1
    # "sum" (the paper's default for clusters): a node is a feature, or a submodule's error, at
    # every position, effects summed over positions; "none": one node per position, which only
    # lines up when contexts are templated (a cluster's contexts are not).
    aggregation: Literal["sum", "none"] = "sum"
    seed: int = 0

    def check(self) -> None:
        for name in ("window", "max_contexts", "steps", "n_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0 <= self.keep_first < self.window:
            raise ValueError(f"keep_first must be in [0, window), got {self.keep_first}")
        if not 0 <= self.held_out < 1:
            raise ValueError(f"held_out must be in [0, 1), got {self.held_out}")
        if self.aggregation not in ("sum", "none"):
            raise ValueError(f"aggregation must be 'sum' or 'none', got {self.aggregation!r}")
        if self.method not in ("ig", "attrib"):
            raise ValueError(f"method must be 'ig' or 'attrib', got {self.method!r}")


@dataclass
class ClusterCircuit:
    """One cluster's circuit: size, faithfulness (at n_nodes and along `curve`), top nodes."""

    cluster: int
    n_discovery: int
    n_eval: int
    in_sample: bool  # True when the cluster was too small to hold contexts out
    n_nodes: int
    faithfulness: float
    m_full: float  # mean -log p(next token) on the evaluation windows, whole model
    m_empty: float  # the same with every node ablated (but the first `keep_first` positions)
    curve: dict[int, float]
    top_nodes: list[tuple[str, float]]
    seconds: float
    nodes_to_half: int | None = None  # smallest curve size with faithfulness >= 0.5
    ablation: str = "zero"
    faithfulness_other_ablation: float | None = None  # at n_nodes, under the other ablation
    faithfulness_discovery: float | None = None  # at n_nodes, on the discovery contexts


def split_contexts(
    n: int, held_out: float, max_contexts: int, seed: int
) -> tuple[list[int], list[int], bool]:
    """Discovery and evaluation indices among `n` contexts (both capped at `max_contexts`);
    with fewer than 4 contexts both are all of them (in-sample)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_eval = int(round(n * held_out))
    if n < 4 or n_eval == 0:
        return order[:max_contexts], order[:max_contexts], True
    return order[n_eval:][:max_contexts], order[:n_eval][:max_contexts], False


def circuit_for_contexts(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    discovery: tuple[torch.Tensor, torch.Tensor],
    evaluation: tuple[torch.Tensor, torch.Tensor],
    config: ClusterCircuitConfig,
    cluster: int = -1,
    in_sample: bool = False,
) -> ClusterCircuit:
    """No-pair discovery on (windows (n, W), next tokens (n,)) and faithfulness on another set."""
    config.check()
    start = time.perf_counter()
    (d_ids, d_targets), (e_ids, e_targets) = discovery, evaluation
    for name, ids, tg in (("discovery", d_ids, d_targets), ("evaluation", e_ids, e_targets)):
        if ids.ndim != 2 or len(ids) == 0 or tg.shape != (len(ids),):
            raise ValueError(
                f"{name} must be (windows (n, W), targets (n,)) with n > 0, got "
                f"{tuple(ids.shape)} and {tuple(tg.shape)}"
            )
    task = Task(d_ids, next_token_loss(d_targets), baseline=config.baseline)
    effects = _drop_first(
        node_effects(model, dictionaries, task, config.method, steps=config.steps),
        config.keep_first,
    )
    if config.aggregation == "sum":
        effects = sum_over_positions(effects)
    T = e_ids.shape[1]
    eval_task = Task(e_ids, next_token_loss(e_targets))
    first = config.keep_first if config.aggregation == "none" else 0
    total = effects.n_nodes() - first * (
        len(effects.names) + sum(v.shape[1] for v in effects.features.values())
    )
    size = min(config.n_nodes, total)
    sizes = [n for n in sorted(set(config.sizes)) if n < size] + [size]
    curve, m_full, m_empty = _curve(model, dictionaries, eval_task, effects, sizes, config, T)
    other = "mean" if config.ablation == "zero" else "zero"
    other_curve, _, _ = _curve(model, dictionaries, eval_task, effects, [size], config, T, other)
    own, _, _ = _curve(model, dictionaries, Task(d_ids, task.metric), effects, [size], config, T)
    reached = [n for n, f in sorted(curve.items()) if f >= 0.5]
    circuit = top_circuit(effects, size)
    ranked = sorted(circuit.nodes(), key=lambda nd: -abs(effect_of(effects, nd)))[:20]
    return ClusterCircuit(
        cluster=cluster,
        n_discovery=len(d_ids),
        n_eval=len(e_ids),
        in_sample=in_sample,
        n_nodes=size,
        faithfulness=curve[size],
        m_full=m_full,
        m_empty=m_empty,
        curve=curve,
        top_nodes=[(_label(nd, config.aggregation), effect_of(effects, nd)) for nd in ranked],
        seconds=time.perf_counter() - start,
        nodes_to_half=reached[0] if reached else None,
        ablation=config.ablation,
        faithfulness_other_ablation=other_curve[size],
        faithfulness_discovery=own[size],
    )


def _curve(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    task: Task,
    effects: Effects,
    sizes: list[int],
    config: ClusterCircuitConfig,
    T: int,
    ablation: str | None = None,
) -> tuple[dict[int, float], float, float]:
    """Faithfulness of the top-n circuits, n in `sizes`, and m(M), m(∅); the leading
    `keep_first` positions stay unablated in every circuit, the empty one included."""
    ev = Evaluator(model, dictionaries, task, ablation or config.ablation)  # type: ignore[arg-type]
    m_empty = ev.metric(_keep_first(empty_like(effects), config.keep_first, T))
    if abs(ev.m_full - m_empty) < 1e-9:
        raise ValueError("ablating every node leaves the loss unchanged: faithfulness is undefined")
    curve = {}
    for n in sizes:
        m = ev.metric(_keep_first(top_circuit(effects, n), config.keep_first, T))
        curve[n] = (m - m_empty) / (ev.m_full - m_empty)
    return curve, ev.m_full, m_empty


def cluster_inputs(
    found: Behaviours, cluster: Cluster, config: ClusterCircuitConfig
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], bool]:
    """The cluster's discovery and evaluation (windows, targets)."""
    if config.window > found.config.min_context:
        raise ValueError(
            f"window ({config.window}) exceeds the selection's min_context "
            f"({found.config.min_context}): some contexts are shorter"
        )
    sites = [found.sites[i] for i in cluster.members]
    disc, ev, in_sample = split_contexts(
        len(sites), config.held_out, config.max_contexts, config.seed + cluster.index
    )

    def pack(idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.tensor([sites[i].window(config.window) for i in idx])
        return ids, torch.tensor([sites[i].target for i in idx])

    return pack(disc), pack(ev), in_sample


def _drop_first(effects: Effects, n: int) -> Effects:
    """Effects with the first `n` positions zeroed, so no circuit picks them."""
    feats = {k: v.clone() for k, v in effects.features.items()}
    errs = {k: v.clone() for k, v in effects.errors.items()}
    for k in feats:
        feats[k][:n] = 0
        errs[k][:n] = 0
    return Effects(feats, errs, effects.method, effects.seconds, effects.grads)


def _label(node: Node, aggregation: str) -> str:
    """'resid_5/12@14' per position; 'resid_5/12' for a node summed over positions."""
    return node_id(node).rsplit("@", 1)[0] if aggregation == "sum" else node_id(node)


def _keep_first(circuit: Circuit, n: int, T: int) -> Circuit:
    """The circuit over T positions (a summed one is repeated) with the first `n` kept."""
    out = Circuit(
        {k: m.expand(T, -1).clone() for k, m in circuit.features.items()},
        {k: m.expand(T).clone() for k, m in circuit.errors.items()},
    )
    for k in out.features:
        out.features[k][:n] = True
        out.errors[k][:n] = True
    return out


_WORKER: dict = {}


def _init_worker(model: nn.Module, dictionaries: dict[str, nn.Module], threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER["model"], _WORKER["dictionaries"] = model, dictionaries


def _work(job: tuple) -> ClusterCircuit:
    disc, ev, config, cluster, in_sample = job
    return circuit_for_contexts(
        _WORKER["model"], _WORKER["dictionaries"], disc, ev, config, cluster, in_sample
    )


def cluster_circuits(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    found: Behaviours,
    clusters: list[Cluster],
    config: ClusterCircuitConfig | None = None,
    workers: int = 1,
    progress: Progress = lambda f, m: None,
    backend: Backend = "processes",
    ray_address: str | None = None,
) -> dict[int, ClusterCircuit]:
    """A circuit per given cluster, keyed by cluster index.

    backend "processes": `workers` > 1 shards the clusters over that many spawned processes
    (each gets a copy of the model and SAEs). backend "ray": each cluster is a Ray task; with
    `ray_address` (e.g. "auto" or "ray://head:10001") on that cluster, where every node needs
    Ponder installed, else on a local Ray instance with `workers` CPUs. Each worker runs
    PONDER_THREADS torch threads (default 1)."""
    c = config or ClusterCircuitConfig()
    c.check()
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if ray_address is not None and backend != "ray":
        raise ValueError("ray_address needs backend='ray'")
    if not dictionaries:
        raise ValueError("dictionaries is empty: give at least one {hook point: SAE}")
    jobs = []
    for cl in clusters:
        disc, ev, in_sample = cluster_inputs(found, cl, c)
        jobs.append((disc, ev, c, cl.index, in_sample))
    out: dict[int, ClusterCircuit] = {}
    threads = int(os.environ.get("PONDER_THREADS", "1"))
    if backend == "ray":
        out = _ray_circuits(model, dictionaries, jobs, workers, ray_address, threads, progress)
    elif workers == 1 or len(jobs) <= 1:
        for i, (d, e, cfg, idx, ins) in enumerate(jobs):
            progress(i / max(len(jobs), 1), f"circuit of cluster {idx}")
            out[idx] = circuit_for_contexts(model, dictionaries, d, e, cfg, idx, ins)
    else:
        import multiprocessing

        # Spawned, not forked: a fork of a process whose OpenMP pool is running can hang.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            min(workers, len(jobs)), ctx, _init_worker, (model, dictionaries, threads)
        ) as pool:
            futures = {pool.submit(_work, job): job[3] for job in jobs}
            for i, fut in enumerate(as_completed(futures)):
                got = fut.result()
                out[got.cluster] = got
                progress((i + 1) / len(jobs), f"circuit of cluster {got.cluster}")
    progress(1.0, f"{len(out)} circuits")
    return {cl.index: out[cl.index] for cl in clusters}


def _ray_circuits(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    jobs: list[tuple],
    workers: int,
    address: str | None,
    threads: int,
    progress: Progress,
) -> dict[int, ClusterCircuit]:
    """Run each job as a Ray task, reporting progress as they finish."""
    try:
        import ray
    except ImportError as err:
        raise ImportError("backend 'ray' needs Ray: pip install 'ponder[ray]'") from err
    started_here = not ray.is_initialized()
    if started_here:
        local = {"num_cpus": workers} if address is None else {}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
    try:
        model_ref, dictionaries_ref = ray.put(model), ray.put(dictionaries)
        task = ray.remote(num_cpus=1)(_circuit_task)
        pending = {task.remote(model_ref, dictionaries_ref, job, threads): job for job in jobs}
        out: dict[int, ClusterCircuit] = {}
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            pending.pop(done)
            got = ray.get(done)
            out[got.cluster] = got
            progress(len(out) / len(jobs), f"circuit of cluster {got.cluster} (Ray)")
        return out
    finally:
        if started_here:
            ray.shutdown()


def _circuit_task(
    model: nn.Module, dictionaries: dict[str, nn.Module], job: tuple, threads: int
) -> ClusterCircuit:
    """One cluster's circuit, in a Ray worker."""
    torch.set_num_threads(threads)
    disc, ev, config, cluster, in_sample = job
    return circuit_for_contexts(model, dictionaries, disc, ev, config, cluster, in_sample)
