"""Sparse autoencoders (TopK, ReLU/L1, JumpReLU, identity): training recipe, quality and files.

x ≈ decode(encode(x)) = W_decᵀ f + b_dec, f = act(W_enc (x - b_dec) + b_enc). The TopK recipe is
Gao et al. 2024 as dictionary_learning implements it: unit-norm decoder rows, b_dec at the data
mean, lr = 2e-4 / sqrt(F / 2^14), AuxK loss (alpha 1/32) on dead latents, linear warm-up and a
linear decay over the last 20 %, activations scaled to unit mean squared norm (folded into the
weights after training, so a saved SAE reads raw activations).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

Kind = Literal["topk", "relu", "jumprelu"]


class SparseAutoencoder(nn.Module):
    """A dictionary of `n_latents` directions for `d`-dimensional activations."""

    def __init__(self, d: int, n_latents: int, kind: Kind = "topk", k: int = 32) -> None:
        super().__init__()
        if d < 1 or n_latents < 1:
            raise ValueError(f"d and n_latents must be positive, got d={d}, n_latents={n_latents}")
        if kind not in ("topk", "relu", "jumprelu"):
            raise ValueError(f"kind must be 'topk', 'relu' or 'jumprelu', got {kind!r}")
        if kind == "topk" and not 1 <= k <= n_latents:
            raise ValueError(f"k must be in [1, n_latents={n_latents}], got {k}")
        self.d, self.n_latents, self.kind, self.k = d, n_latents, kind, k
        w = torch.randn(n_latents, d)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w)  # (F, d), unit-norm rows
        self.W_enc = nn.Parameter(w.t().clone())  # (d, F)
        self.b_enc = nn.Parameter(torch.zeros(n_latents))
        self.b_dec = nn.Parameter(torch.zeros(d))
        self.register_buffer("threshold", torch.zeros(n_latents))  # JumpReLU only

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features (..., F) of activations (..., d)."""
        if x.shape[-1] != self.d:
            raise ValueError(f"x must end in d={self.d}, got shape {tuple(x.shape)}")
        pre = self.pre_acts(x)
        if self.kind == "topk":
            top = pre.topk(self.k, dim=-1)
            return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
        if self.kind == "jumprelu":
            return pre * (pre > self.threshold)
        return pre.relu()

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))


class IdentityDictionary(nn.Module):
    """The neuron basis as a dictionary: f = x, no error. Neuron circuits use it."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.d = self.n_latents = d
        self.kind = "identity"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f


@dataclass
class TrainConfig:
    """TopK / ReLU training. Defaults follow dictionary_learning's TopK trainer, scaled down."""

    steps: int = 2000
    batch_size: int = 1024
    lr: float | None = None  # None: 2e-4 / sqrt(F / 2^14), the recipe's width scaling
    warmup_steps: int = 200  # the recipe's 1 k, scaled to short runs
    decay_start: float = 0.8  # linear decay to 0 over the last 20 %
    auxk_alpha: float = 1 / 32
    dead_after_tokens: int = 200_000  # a latent silent this long is dead (10 M in the recipe)
    l1_coefficient: float = 5.0  # ReLU SAEs only, on the scaled activations
    seed: int = 0


@dataclass
class TrainLog:
    steps: int
    final_mse: float
    activation_scale: float


class Trainer:
    """One SAE's optimiser state: `step(batch)` per batch, `finish()` folds the input scale in.

    The first batch sets the activation scale and b_dec (the data mean)."""

    def __init__(self, sae: SparseAutoencoder, first: torch.Tensor, config: TrainConfig) -> None:
        torch.manual_seed(config.seed)
        first = _check_batch(first, sae.d)
        self.sae, self.config, self.step_no, self.mse = sae, config, 0, float("nan")
        # Unit mean squared norm: one scale for the run, folded into the weights at the end.
        self.scale = float(math.sqrt(sae.d) / first.norm(dim=-1).mean().clamp_min(1e-8))
        with torch.no_grad():
            sae.b_dec.copy_((first * self.scale).mean(0))
        lr = config.lr or 2e-4 / math.sqrt(sae.n_latents / 2**14)
        self.opt = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
        decay_from = int(config.decay_start * config.steps)

        def schedule(step: int) -> float:
            warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
            if step < decay_from:
                return warm
            return warm * max(0.0, (config.steps - step) / max(config.steps - decay_from, 1))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, schedule)
        self.since_fired = torch.zeros(sae.n_latents)

    def step(self, batch: torch.Tensor) -> float:
        sae, config = self.sae, self.config
        x = _check_batch(batch, sae.d) * self.scale
        pre = sae.pre_acts(x)
        f = sae.encode(x)
        err = x - sae.decode(f)
        loss = err.pow(2).sum(-1).mean()
        self.mse = float(loss.detach()) / sae.d
        fired = (f > 0).any(0)
        self.since_fired = torch.where(
            fired, torch.zeros_like(self.since_fired), self.since_fired + len(x)
        )
        if sae.kind == "topk":
            dead = self.since_fired >= config.dead_after_tokens
            if dead.any():
                loss = loss + config.auxk_alpha * _auxk_loss(sae, pre, err, dead)
        else:
            ramp = min(1.0, (self.step_no + 1) / max(config.warmup_steps, 1))
            l1 = (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
            loss = loss + ramp * config.l1_coefficient * l1
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if sae.kind == "topk":
            _remove_parallel_grad(sae)
        self.opt.step()
        self.sched.step()
        if sae.kind == "topk":
            sae.normalise_decoder()
        self.step_no += 1
        return self.mse

    def finish(self) -> TrainLog:
        _fold_scale(self.sae, self.scale)
        return TrainLog(self.step_no, self.mse, self.scale)


def train_sae(
    sae: SparseAutoencoder,
    batches: Iterable[torch.Tensor],
    config: TrainConfig | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> TrainLog:
    """Train `sae` on activation batches (B, d) from `batches`, for `config.steps` steps or
    until the batches run out."""
    config = config or TrainConfig()
    it: Iterator[torch.Tensor] = iter(batches)
    first = next(it, None)
    if first is None:
        raise ValueError("batches is empty: no activations to train on")
    trainer = Trainer(sae, first, config)
    batch = first
    while trainer.step_no < config.steps and batch is not None:
        trainer.step(batch)
        if progress and trainer.step_no % 50 == 0:
            progress(
                trainer.step_no / config.steps, f"step {trainer.step_no}: mse {trainer.mse:.4f}"
            )
        batch = next(it, None)
    return trainer.finish()


def train_saes(
    saes: dict[str, SparseAutoencoder],
    batches: Iterable[dict[str, torch.Tensor]],
    config: TrainConfig | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, TrainLog]:
    """Train one SAE per hook point on shared batches ({name: (B, d)}, e.g. an ActivationBuffer),
    so one forward pass feeds every SAE."""
    config = config or TrainConfig()
    it = iter(batches)
    first = next(it, None)
    if first is None:
        raise ValueError("batches is empty: no activations to train on")
    missing = sorted(set(saes) - set(first))
    if missing:
        raise KeyError(f"batches hold no activations for {missing}; they hold {sorted(first)}")
    trainers = {n: Trainer(sae, first[n], config) for n, sae in saes.items()}
    batch = first
    step = 0
    while step < config.steps and batch is not None:
        for n, trainer in trainers.items():
            trainer.step(batch[n])
        step += 1
        if progress and step % 20 == 0:
            mses = ", ".join(f"{n} {t.mse:.3f}" for n, t in trainers.items())
            progress(step / config.steps, f"step {step}: mse {mses}")
        batch = next(it, None)
    return {n: t.finish() for n, t in trainers.items()}


def _check_batch(x: torch.Tensor, d: int) -> torch.Tensor:
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"activation batches must be (batch, d={d}), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("activation batch holds NaN or inf values")
    return x.float()


def _auxk_loss(
    sae: SparseAutoencoder, pre: torch.Tensor, err: torch.Tensor, dead: torch.Tensor
) -> torch.Tensor:
    """Reconstruct the residual error from the top dead latents (Gao et al.'s AuxK)."""
    k_aux = min(int(dead.sum()), sae.d // 2)
    masked = torch.where(dead, pre, torch.full_like(pre, -math.inf))
    top = masked.topk(k_aux, dim=-1)
    f_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    err_hat = f_aux @ sae.W_dec
    target = err.detach()
    denom = (target - target.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
    return (err_hat - target).pow(2).sum(-1).mean() / denom


@torch.no_grad()
def _remove_parallel_grad(sae: SparseAutoencoder) -> None:
    """Keep decoder rows on the unit sphere: drop the gradient component along each row."""
    if sae.W_dec.grad is None:
        return
    w = sae.W_dec
    sae.W_dec.grad -= (sae.W_dec.grad * w).sum(1, keepdim=True) * w


@torch.no_grad()
def _fold_scale(sae: SparseAutoencoder, scale: float) -> None:
    """Make the SAE read raw activations: encode(s·x) features equal encode'(x) features."""
    sae.W_enc.mul_(scale)
    sae.W_dec.div_(scale)
    sae.b_dec.div_(scale)


@dataclass
class Quality:
    fraction_variance_explained: float
    l0: float
    dead_fraction: float
    ce_loss_recovered: float | None = None
    ce_clean: float | None = None
    ce_spliced: float | None = None
    ce_zero: float | None = None


@torch.no_grad()
def quality(sae: SparseAutoencoder, acts: torch.Tensor) -> Quality:
    """FVE, mean L0 and the fraction of latents that never fire on `acts` (N, d)."""
    acts = _check_batch(acts.reshape(-1, sae.d), sae.d)
    f = sae.encode(acts)
    resid = (acts - sae.decode(f)).pow(2).sum()
    total = (acts - acts.mean(0)).pow(2).sum().clamp_min(1e-12)
    return Quality(
        fraction_variance_explained=float(1 - resid / total),
        l0=float((f > 0).float().sum(-1).mean()),
        dead_fraction=float(((f > 0).sum(0) == 0).float().mean()),
    )


@torch.no_grad()
def ce_loss_recovered(
    model: nn.Module, name: str, sae: nn.Module, input_ids: torch.Tensor, skip_first: bool = True
) -> tuple[float, float, float, float]:
    """(recovered, CE clean, CE with the SAE spliced in, CE with the activation zeroed).

    With `skip_first` the first position (the attention sink, left out of SAE training) keeps
    its clean activation in both the spliced and the zeroed run."""
    from methods.circuits.hooks import edit_outputs, logits_of

    start = int(skip_first)

    def ce(logits: torch.Tensor) -> float:
        return float(
            nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1)
            )
        )

    def splice(x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[:, start:] = sae.decode(sae.encode(x[:, start:].float())).to(x.dtype)
        return out

    def zero(x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[:, start:] = 0
        return out

    clean = ce(logits_of(model, input_ids))
    with edit_outputs(model, {name: splice}):
        spliced = ce(logits_of(model, input_ids))
    with edit_outputs(model, {name: zero}):
        zeroed = ce(logits_of(model, input_ids))
    recovered = (zeroed - spliced) / (zeroed - clean) if zeroed != clean else float("nan")
    return recovered, clean, spliced, zeroed


# Files ------------------------------------------------------------------------------------------

_DL_CLASS = {"topk": "AutoEncoderTopK", "relu": "AutoEncoder", "jumprelu": "JumpReluAutoEncoder"}


def save_dictionary(
    sae: SparseAutoencoder, folder: str | Path, meta: dict | None = None, half: bool = True
) -> Path:
    """Write `ae.pt` + `config.json` in the dictionary_learning layout (fp16 by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    enc = sae.W_enc.detach().t().contiguous().to(dtype)  # nn.Linear(d, F).weight is (F, d)
    dec = sae.W_dec.detach().t().contiguous().to(dtype)  # nn.Linear(F, d).weight is (d, F)
    if sae.kind == "relu":
        # dictionary_learning's AutoEncoder: f = relu(encoder(x - bias)), x̂ = decoder(f) + bias.
        state = {
            "encoder.weight": enc,
            "encoder.bias": sae.b_enc.detach().to(dtype),
            "decoder.weight": dec,
            "bias": sae.b_dec.detach().to(dtype),
        }
    else:
        state = {
            "encoder.weight": enc,
            "encoder.bias": sae.b_enc.detach().to(dtype),
            "decoder.weight": dec,
            "b_dec": sae.b_dec.detach().to(dtype),
            "k": torch.tensor(sae.k),
            "threshold": sae.threshold.detach().to(dtype),
        }
    torch.save(state, folder / "ae.pt")
    trainer = {
        "dict_class": _DL_CLASS[sae.kind],
        "activation_dim": sae.d,
        "dict_size": sae.n_latents,
        "k": sae.k,
        **(meta or {}),
    }
    (folder / "config.json").write_text(json.dumps({"trainer": trainer}, indent=2))
    return folder


def load_dictionary(folder: str | Path) -> SparseAutoencoder:
    """Load a dictionary_learning folder (ae.pt + config.json) or a SAELens folder
    (cfg.json + sae_weights.safetensors)."""
    folder = Path(folder)
    if (folder / "cfg.json").is_file():
        return _load_saelens(folder)
    if not (folder / "ae.pt").is_file():
        raise FileNotFoundError(
            f"{folder} holds no dictionary: expected ae.pt + config.json (dictionary_learning) "
            "or cfg.json + sae_weights.safetensors (SAELens)"
        )
    state = torch.load(folder / "ae.pt", map_location="cpu", weights_only=True)
    config = (
        json.loads((folder / "config.json").read_text())["trainer"]
        if (folder / "config.json").is_file()
        else {}
    )
    kind_of = {v: k for k, v in _DL_CLASS.items()}
    kind = kind_of.get(config.get("dict_class", ""), "topk" if "k" in state else "relu")
    d_latents, d = state["encoder.weight"].shape
    k = int(state["k"]) if "k" in state else int(config.get("k", 1))
    sae = SparseAutoencoder(d, d_latents, kind, k=min(max(k, 1), d_latents))
    with torch.no_grad():
        sae.W_enc.copy_(state["encoder.weight"].float().t())
        sae.b_enc.copy_(state["encoder.bias"].float())
        sae.W_dec.copy_(state["decoder.weight"].float().t())
        sae.b_dec.copy_(state["bias" if kind == "relu" else "b_dec"].float())
        if "threshold" in state and kind == "jumprelu":
            sae.threshold.copy_(state["threshold"].float())
    return sae


def _load_saelens(folder: Path) -> SparseAutoencoder:
    from safetensors.torch import load_file

    cfg = json.loads((folder / "cfg.json").read_text())
    arch = cfg.get("architecture", "standard")
    kinds = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}
    if arch not in kinds:
        raise ValueError(
            f"SAELens architecture {arch!r} is not supported; expected one of {list(kinds)}"
        )
    weights = load_file(str(folder / "sae_weights.safetensors"))
    d, n = weights["W_enc"].shape
    k = int(cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k", 1))
    sae = SparseAutoencoder(d, n, kinds[arch], k=min(max(k, 1), n))
    with torch.no_grad():
        sae.W_enc.copy_(weights["W_enc"].float())
        sae.b_enc.copy_(weights["b_enc"].float())
        sae.W_dec.copy_(weights["W_dec"].float())
        sae.b_dec.copy_(weights["b_dec"].float())
        if arch == "jumprelu":
            sae.threshold.copy_(weights["threshold"].float())
    return sae


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
