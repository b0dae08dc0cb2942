"""Unsupervised behaviours: tokens a model predicts well, embedded by the gradient of their loss,
sparsely projected and clustered with spherical k-means (Marks et al. 2024, section 5).

    rows = token_rows(texts, tok.encode, length=48)
    found = find_behaviours(model, rows, BehaviourConfig(n_tokens=1000, k=50))
    print(found.intra_cosine, found.inter_cosine, found.clusters[0].top_targets)

Each kept token is (context, next token) with loss below `max_loss` and no trigram ending at it
seen earlier in its context (those are induction, not a behaviour of its own). Its embedding is
the gradient of its loss with respect to chosen nn.Linear weights (by default the MLP output
weights of the upper third of the layers), one per token, projected by scikit-learn's
SparseRandomProjection and normalised. Clusters of these unit vectors are candidate behaviours;
`clusters_circuits` finds each one's feature circuit and `clusters_report` writes them as HTML.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from methods.circuits.hooks import hook_points, logits_of, n_layers

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    pass


@dataclass
class BehaviourConfig:
    """What `find_behaviours` keeps, embeds and clusters."""

    n_tokens: int = 1000
    max_loss: float = 0.3  # nats: tokens the model predicts well (the paper's cut-off)
    min_context: int = 16  # earliest position kept in a row; also the circuit window length
    stride: int = 5  # keep every 5th eligible token: neighbours are near-duplicates
    k: int = 50
    dims: int = 4096  # projection size (the paper used 30 k for Pythia-70M)
    parameters: str | None = None  # regex over parameter names; None: upper-third MLP outputs
    batch_size: int = 8  # tokens per backward; memory is batch x (chosen weights) floats
    n_init: int = 4  # k-means restarts; the best objective wins
    seed: int = 0

    def check(self) -> None:
        for name in ("n_tokens", "k", "dims", "batch_size", "n_init", "stride", "min_context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.k > self.n_tokens:
            raise ValueError(f"k ({self.k}) must not exceed n_tokens ({self.n_tokens})")
        if not self.max_loss > 0:
            raise ValueError(f"max_loss must be positive (nats), got {self.max_loss}")


@dataclass
class Site:
    """One kept token: `context` (ids before it, from its row's start) predicts `target`."""

    row: int
    pos: int
    target: int
    loss: float
    context: list[int]

    def window(self, length: int) -> list[int]:
        return self.context[-length:]


def token_rows(
    texts: list[str], encode: Callable[[str], list[int]], length: int, separator: str = ""
) -> torch.Tensor:
    """The texts' tokens as one stream (each text followed by `separator`), cut into rows."""
    if length < 3:
        raise ValueError(f"length must be at least 3 tokens, got {length}")
    stream: list[int] = []
    for text in texts:
        stream += encode(text + separator)
    n = len(stream) // length
    if n == 0:
        raise ValueError(f"texts hold {len(stream)} tokens: fewer than one row of {length}")
    return torch.tensor(stream[: n * length]).view(n, length)


def repeats_trigram(ids: list[int], pos: int) -> bool:
    """Whether the trigram ending at `pos` also ends somewhere earlier in `ids`."""
    if pos < 2:
        return False
    tri = tuple(ids[pos - 2 : pos + 1])
    return any(tuple(ids[j - 2 : j + 1]) == tri for j in range(2, pos))


@torch.no_grad()
def select_tokens(
    model: nn.Module,
    rows: torch.Tensor,
    n_tokens: int,
    max_loss: float = 0.3,
    min_context: int = 16,
    stride: int = 5,
    batch_size: int = 16,
    progress: Progress = _quiet,
) -> list[Site]:
    """Up to `n_tokens` positions (at `min_context` or later in their row) whose loss is below
    `max_loss` and whose trigram is new in the row, every `stride`-th in reading order."""
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(
            f"rows must be non-empty (rows, length) token ids, got {tuple(rows.shape)}"
        )
    if not 1 <= min_context < rows.shape[1]:
        raise ValueError(f"min_context must be in [1, {rows.shape[1] - 1}], got {min_context}")
    if n_tokens < 1 or stride < 1:
        raise ValueError(f"n_tokens and stride must be positive, got {n_tokens} and {stride}")
    sites: list[Site] = []
    eligible = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        logits = logits_of(model, batch[:, :-1]).float()  # (B, L-1, V)
        loss = nn.functional.cross_entropy(
            logits.transpose(1, 2), batch[:, 1:], reduction="none"
        )  # (B, L-1): loss[:, t-1] is the loss of token t
        for b, ids in enumerate(batch.tolist()):
            for t in range(min_context, len(ids)):
                lt = float(loss[b, t - 1])
                if lt >= max_loss or repeats_trigram(ids, t):
                    continue
                eligible += 1
                if (eligible - 1) % stride:
                    continue
                sites.append(Site(start + b, t, ids[t], lt, ids[:t]))
                if len(sites) == n_tokens:
                    return sites
        progress(
            min(len(sites) / n_tokens, 1.0), f"{len(sites)} tokens from {start + len(batch)} rows"
        )
    return sites


def gradient_parameters(model: nn.Module, pattern: str | None = None) -> list[str]:
    """Names of the nn.Linear weights whose gradients embed a token.

    `pattern` is a regex searched in parameter names (only nn.Linear weights count, as the paper
    leaves out embeddings and norms); None takes each of the upper third of the layers' MLP
    output weights (`down_proj` in llama-family models)."""
    linear = {
        f"{name}.weight" if name else "weight": m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear)
    }
    if pattern is not None:
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"parameters {pattern!r} is not a valid regex: {e}") from e
        chosen = [n for n in linear if rx.search(n)]
        if not chosen:
            raise ValueError(
                f"parameters {pattern!r} matches no nn.Linear weight; names look like "
                f"{list(linear)[:3]}"
            )
        return chosen
    depth = n_layers(model)
    points = hook_points(model)
    names_of = {id(m): n for n, m in linear.items()}
    chosen = []
    for layer in range(depth - math.ceil(depth / 3), depth):
        mlp_linears = [m for m in points[f"mlp_{layer}"].modules() if isinstance(m, nn.Linear)]
        if not mlp_linears:
            raise ValueError(
                f"mlp_{layer} holds no nn.Linear: give parameters, a regex over weight names"
            )
        chosen.append(names_of[id(mlp_linears[-1])])  # the output projection is defined last
    return chosen


@dataclass
class Embedding:
    """Unit-norm projected gradients (N, dims), the losses they came from, and their source."""

    vectors: np.ndarray
    losses: np.ndarray
    parameters: list[str]
    n_weights: int
    seconds: float


def token_gradients(
    model: nn.Module,
    sites: list[Site],
    parameters: list[str],
    dims: int = 4096,
    seed: int = 0,
    batch_size: int = 8,
    progress: Progress = _quiet,
) -> Embedding:
    """Each site's gradient of its loss w.r.t. the named nn.Linear weights, projected to `dims`
    by a sparse random projection and normalised to unit length.

    Per-token gradients come from one backward per batch: for a linear layer y = W a, the
    gradient of one sequence's loss is Σ_t (∂loss/∂y_t) a_tᵀ, so keeping each sequence's
    activations and output gradients gives its own gradient without mixing the batch."""
    from scipy import sparse
    from sklearn.random_projection import SparseRandomProjection

    if dims < 1:
        raise ValueError(f"dims must be a positive integer, got {dims}")
    if not sites:
        raise ValueError("sites is empty: no token passed the selection to take gradients of")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    start = time.perf_counter()
    modules = dict(model.named_modules())
    layers: list[nn.Linear] = []
    for p in parameters:
        m = modules.get(p.removesuffix(".weight"))
        if not p.endswith("weight") or not isinstance(m, nn.Linear):
            raise ValueError(f"parameters: {p!r} is not the weight of an nn.Linear in the model")
        layers.append(m)
    n_weights = sum(m.weight.numel() for m in layers)
    progress(0.0, f"sparse projection of {n_weights:,} weights to {dims}")
    projection = SparseRandomProjection(dims, random_state=seed, dense_output=True)
    projection.fit(sparse.csr_matrix((1, n_weights), dtype=np.float32))
    vectors = np.zeros((len(sites), dims), np.float32)
    losses = np.zeros(len(sites), np.float32)
    # Batches of similar context length waste little on padding.
    order = sorted(range(len(sites)), key=lambda i: len(sites[i].context))
    for b0 in range(0, len(sites), batch_size):
        idx = order[b0 : b0 + batch_size]
        grads, batch_losses = _per_site_gradients(model, layers, [sites[i] for i in idx])
        if not torch.isfinite(grads).all():
            raise ValueError(f"non-finite gradients for sites {idx}")
        z = projection.transform(grads.numpy())  # (B, dims)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        vectors[idx] = z / np.maximum(norms, 1e-12)
        losses[idx] = batch_losses
        done = b0 + len(idx)
        progress(done / len(sites), f"gradients {done}/{len(sites)}")
    return Embedding(vectors, losses, list(parameters), n_weights, time.perf_counter() - start)


def _per_site_gradients(
    model: nn.Module, layers: list[nn.Linear], sites: list[Site]
) -> tuple[torch.Tensor, np.ndarray]:
    lengths = [len(s.context) for s in sites]
    ids = torch.zeros(len(sites), max(lengths), dtype=torch.long)
    for i, s in enumerate(sites):
        # Right padding: a causal model's earlier positions never see it.
        ids[i, : len(s.context)] = torch.tensor(s.context)
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []

    def keep(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        inputs.append(args[0].detach())
        outputs.append(out)

    was = [m.weight.requires_grad for m in layers]
    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        for m in layers:
            m.weight.requires_grad_(True)  # puts the layer outputs in the autograd graph
        with torch.enable_grad():
            logits = logits_of(model, ids)
            last = logits[torch.arange(len(sites)), torch.tensor(lengths) - 1].float()
            targets = torch.tensor([s.target for s in sites])
            loss = nn.functional.cross_entropy(last, targets, reduction="none")  # (B,)
            out_grads = torch.autograd.grad(loss.sum(), outputs)
    finally:
        for h in handles:
            h.remove()
        for m, w in zip(layers, was, strict=True):
            m.weight.requires_grad_(w)
    per_site = [
        torch.einsum("blo,bli->boi", g.float(), a.float()).reshape(len(sites), -1)
        for g, a in zip(out_grads, inputs, strict=True)
    ]  # each (B, out * in)
    return torch.cat(per_site, 1), loss.detach().numpy()


@dataclass
class KMeans:
    labels: np.ndarray  # (N,)
    centroids: np.ndarray  # (k, D), unit rows
    objective: float  # Σ cos(x, its centroid)
    n_iter: int


def spherical_kmeans(
    x: np.ndarray, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100
) -> KMeans:
    """k-means on the unit sphere (cosine similarity; centroids are normalised means), k-means++
    seeding, the best of `n_init` restarts."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (n, dims) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be in [1, {len(x)}] (the number of vectors), got {k}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    best: KMeans | None = None
    for _ in range(n_init):
        run = _one_kmeans(x, k, rng, max_iter)
        if best is None or run.objective > best.objective + 1e-9:
            best = run
    assert best is not None
    return best


def _one_kmeans(x: np.ndarray, k: int, rng: np.random.Generator, max_iter: int) -> KMeans:
    centres = [int(rng.integers(len(x)))]
    dist = 1 - x @ x[centres[0]]
    for _ in range(1, k):
        w = np.clip(dist, 0, None) ** 2
        pick = int(rng.choice(len(x), p=w / w.sum())) if w.sum() > 0 else int(rng.integers(len(x)))
        centres.append(pick)
        dist = np.minimum(dist, 1 - x @ x[pick])
    c = x[centres].copy()
    labels = np.full(len(x), -1)
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        sims = x @ c.T  # (N, k)
        new = sims.argmax(1)
        for j in np.setdiff1d(np.arange(k), new):
            # An empty cluster takes the point its centroid explains worst.
            worst = int(sims[np.arange(len(x)), new].argmin())
            new[worst] = j
            sims[worst] = -np.inf
            sims[worst, j] = 1
        if (new == labels).all():
            break
        labels = new
        sums = np.zeros_like(c)
        np.add.at(sums, labels, x)
        c = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    objective = float((x * c[labels]).sum())
    return KMeans(labels, c, objective, n_iter)


def cosine_stats(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cosine over pairs in the same cluster and over pairs in different clusters."""
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"labels has {len(labels)} entries for {len(x)} vectors")
    gram = x @ x.T
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    diff = labels[:, None] != labels[None, :]
    intra = float(gram[same].mean()) if same.any() else float("nan")
    inter = float(gram[diff].mean()) if diff.any() else float("nan")
    return intra, inter


def purities(labels: np.ndarray, targets: np.ndarray) -> dict[int, float]:
    """Per cluster: the share of its tokens whose next token is the cluster's commonest."""
    labels, targets = np.asarray(labels), np.asarray(targets)
    if len(labels) != len(targets):
        raise ValueError(f"labels ({len(labels)}) and targets ({len(targets)}) differ in length")
    out = {}
    for c in np.unique(labels):
        members = targets[labels == c]
        out[int(c)] = Counter(members.tolist()).most_common(1)[0][1] / len(members)
    return out


@dataclass
class PurityCheck:
    """How many of the `top` largest clusters reach purity `bar`, against shuffled labels."""

    top: int
    bar: float
    n_pure: int
    mean_purity: float
    shuffled_n_pure: float  # mean over shuffles
    shuffled_mean_purity: float


def purity_vs_shuffled(
    labels: np.ndarray,
    targets: np.ndarray,
    top: int = 20,
    bar: float = 0.5,
    n_shuffles: int = 100,
    seed: int = 0,
) -> PurityCheck:
    """Purity of the `top` largest clusters, and the same statistic when the cluster labels are
    permuted across tokens (same sizes, no relation to the gradients)."""
    labels, targets = np.asarray(labels), np.asarray(targets)

    def stat(lab: np.ndarray) -> tuple[int, float]:
        sizes = Counter(lab.tolist())
        # Ties in size break by cluster id, so the choice is deterministic.
        largest = sorted(sizes, key=lambda c: (-sizes[c], c))[:top]
        p = purities(lab, targets)
        chosen = [p[c] for c in largest]
        return sum(v >= bar for v in chosen), float(np.mean(chosen))

    n_pure, mean = stat(labels)
    rng = np.random.default_rng(seed)
    shuffled = [stat(rng.permutation(labels)) for _ in range(n_shuffles)]
    return PurityCheck(
        top,
        bar,
        n_pure,
        mean,
        float(np.mean([s[0] for s in shuffled])),
        float(np.mean([s[1] for s in shuffled])),
    )


@dataclass
class Cluster:
    index: int
    members: list[int]  # indices into Behaviours.sites
    purity: float
    top_targets: list[tuple[int, int]]  # (token id, count), commonest first

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Behaviours:
    """What `find_behaviours` found: sites, their embeddings, and clusters largest first."""

    sites: list[Site]
    embedding: Embedding
    kmeans: KMeans
    clusters: list[Cluster]
    intra_cosine: float
    inter_cosine: float
    purity: PurityCheck
    config: BehaviourConfig
    seconds: dict[str, float] = field(default_factory=dict)


def find_behaviours(
    model: nn.Module,
    rows: torch.Tensor,
    config: BehaviourConfig | None = None,
    progress: Progress = _quiet,
) -> Behaviours:
    """Select tokens from `rows`, embed them by their projected loss gradients and cluster them."""
    c = config or BehaviourConfig()
    c.check()
    parameters = gradient_parameters(model, c.parameters)  # fails early on a bad pattern
    t0 = time.perf_counter()
    sites = select_tokens(
        model,
        rows,
        c.n_tokens,
        c.max_loss,
        c.min_context,
        c.stride,
        progress=lambda f, m: progress(0.2 * f, m),
    )
    if not sites:
        raise ValueError(
            f"no token in the {len(rows)} rows has loss below max_loss={c.max_loss} without a "
            "repeated trigram: give more text or raise max_loss"
        )
    if len(sites) < c.k:
        raise ValueError(
            f"k ({c.k}) exceeds the {len(sites)} tokens selected: give more text or lower k"
        )
    t1 = time.perf_counter()
    emb = token_gradients(
        model,
        sites,
        parameters,
        c.dims,
        c.seed,
        c.batch_size,
        lambda f, m: progress(0.2 + 0.75 * f, m),
    )
    t2 = time.perf_counter()
    km = spherical_kmeans(emb.vectors, c.k, c.seed, c.n_init)
    intra, inter = cosine_stats(emb.vectors, km.labels)
    targets = np.array([s.target for s in sites])
    pur = purities(km.labels, targets)
    clusters = []
    for j in np.unique(km.labels):
        members = np.flatnonzero(km.labels == j).tolist()
        top = Counter(targets[members].tolist()).most_common(10)
        clusters.append(Cluster(int(j), members, pur[int(j)], top))
    clusters.sort(key=lambda cl: (-cl.size, cl.index))
    check = purity_vs_shuffled(km.labels, targets, seed=c.seed)
    progress(1.0, f"{len(clusters)} clusters of {len(sites)} tokens")
    seconds = {
        "select": t1 - t0,
        "gradients": t2 - t1,
        "kmeans": time.perf_counter() - t2,
    }
    return Behaviours(sites, emb, km, clusters, intra, inter, check, c, seconds)
