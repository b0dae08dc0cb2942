"""The whole WIDIn pipeline on one source domain, its baselines, and the mechanism probes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.widin.clip import CaptionBank, ClipConfig, ClipTower, caption_bank, train_clip_tower
from methods.widin.clip import zero_shot as zero_shot_predict
from methods.widin.data import DGData, digits_dg
from methods.widin.decompose import (
    Stage2,
    Stage2Config,
    Standardizer,
    decompose,
    disentangle,
    predict,
    train_stage2,
)
from methods.widin.encoders import SimCLRConfig, SmallCNN, embed_images, train_simclr
from methods.widin.openclip import OpenClipImage, load_open_clip
from methods.widin.probes import linear_probe, probe_accuracy
from methods.widin.text import TextTower
from methods.widin.wording import (
    Projector,
    TextMap,
    WordingConfig,
    class_embeddings,
    train_text_map,
    train_wording,
    word_images,
)

Progress = Callable[[float, str], None]
# An image tower already in the text encoder's sentence space, so G is the identity.
JointEncoder = ClipTower | OpenClipImage
METHODS = ("linear", "mlp", "widin", "widin_no_ia")
CLIP_METHODS = ("linear", "mlp", "zero_shot", "widin", "widin_no_ia")
ENCODERS = ("unimodal", "clip")


@dataclass(frozen=True)
class WidinConfig:
    # "unimodal": SimCLR CNN + a learnt bridge G into the text space; "clip": a LiT-style tower
    # trained against the frozen text encoder on a captioned pool, so G is the identity.
    encoder: str = "unimodal"
    simclr: SimCLRConfig = SimCLRConfig()
    clip: ClipConfig = ClipConfig()
    wording: WordingConfig = WordingConfig()
    stage2: Stage2Config = Stage2Config()
    source: str = "clean"
    train_fraction: float = 0.5  # of the digits: source training images
    val_fraction: float = 0.1  # source validation (picks k); the rest is held out everywhere
    mechanism_per_domain: int = 200
    size: int = 32
    # "pool": SimCLR on unlabelled source-training digits drawn in every style, disjoint from
    # every evaluated image (the stand-in for MoCo's ImageNet pretraining); "source": source only.
    pretrain: str = "source"
    # CLIP-like path: this share of the digits, drawn in `pool_domains` (every domain of the data
    # when empty) with captions, pretrains the tower; those digits are never trained on or tested.
    pool_fraction: float = 0.4
    pool_domains: tuple[str, ...] = ()


class JointSpace(nn.Module):
    """G for the CLIP-like path: undo the source standardisation, back to the joint space."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x * self.std + self.mean, dim=1)


@dataclass
class WidinModel:
    """A fitted WIDIn classifier: E_v -> F_D -> F_C at test time; G and F_p kept for analysis."""

    encoder: SmallCNN | JointEncoder
    scaler: Standardizer
    text_map: TextMap | JointSpace
    projector: Projector
    stage2: Stage2
    k: float
    class_names: tuple[str, ...]
    template: str
    val_accuracy: dict[float, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if isinstance(self.encoder, OpenClipImage):
            return "open_clip"
        return "clip" if isinstance(self.encoder, ClipTower) else "unimodal"

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.scaler(embed_images(self.encoder, images))

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Domain-invariant embeddings F_D(E_v(image)), (N, dim_text)."""
        return disentangle(self.stage2, self.features(images))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return predict(self.stage2, self.features(images))

    def save(self, path: str | Path) -> Path:
        """Everything trained here; an open_clip tower is saved as where to load it from."""
        path = Path(path)
        if isinstance(self.encoder, OpenClipImage):
            if self.encoder.source is None:
                raise ValueError(
                    "this model's open_clip tower was built in memory, so a saved model could "
                    "not find it again: load the tower with load_open_clip(name, weights)"
                )
            encoder, shape = self.encoder.source, None
        else:
            encoder, shape = self.encoder.state_dict(), (self.encoder.width, self.encoder.dim)
        torch.save(
            {
                "kind": self.kind,
                "encoder": encoder,
                "encoder_shape": shape,
                "scaler": (self.scaler.mean, self.scaler.std),
                "text_map": self.text_map.state_dict(),
                "projector": self.projector.state_dict(),
                "stage2": self.stage2.state_dict(),
                "k": self.k,
                "class_names": self.class_names,
                "template": self.template,
                "val_accuracy": self.val_accuracy,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> WidinModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model_path {str(path)!r} does not exist")
        state = torch.load(path, weights_only=False)
        s2 = state["stage2"]
        text_dim = s2["classifier.weight"].shape[1]
        scaler = Standardizer.__new__(Standardizer)
        scaler.mean, scaler.std = state["scaler"]
        kind = state.get("kind", "unimodal")
        encoder: SmallCNN | JointEncoder
        text_map: TextMap | JointSpace
        if kind == "open_clip":
            encoder, dim = load_open_clip(**state["encoder"]).image, text_dim
            text_map = JointSpace(scaler.mean, scaler.std)
        elif kind == "clip":
            width, dim = state["encoder_shape"]
            encoder = ClipTower(width, dim, text_dim)
            encoder.load_state_dict(state["encoder"])
            text_map = JointSpace(scaler.mean, scaler.std)
            dim = text_dim  # the features are the joint-space embeddings
        else:
            width, dim = state["encoder_shape"]
            encoder = SmallCNN(width, dim)
            encoder.load_state_dict(state["encoder"])
            text_map = TextMap(dim, text_dim)
        stage2 = Stage2(dim, text_dim, s2["classifier.weight"].shape[0])
        stage2.load_state_dict(s2)
        text_map.load_state_dict(state["text_map"])
        projector = Projector(dim, state["projector"]["word_mean"])
        projector.load_state_dict(state["projector"])
        return cls(
            encoder.eval(),
            scaler,
            text_map.eval(),
            projector.eval(),
            stage2.eval(),
            state["k"],
            tuple(state["class_names"]),
            state["template"],
            state["val_accuracy"],
        )


def fit_widin(
    train: DGData,
    val: DGData,
    text: TextTower,
    config: WidinConfig = WidinConfig(),
    seed: int = 0,
    encoder: SmallCNN | JointEncoder | None = None,
    progress: Progress | None = None,
) -> WidinModel:
    """Train WIDIn on one source domain: SimCLR encoder (unless given), G, F_p, k, F_D and F_C.

    A ClipTower or an open_clip image tower is already in the text space: G is then the
    identity (JointSpace). An open_clip tower needs its own model's text tower as `text`.
    """
    say = progress or (lambda f, m: None)
    if isinstance(encoder, OpenClipImage) and getattr(text, "model", None) is not encoder.model:
        raise ValueError(
            "text must be the text tower of the same open_clip model as the image encoder "
            "(load_open_clip(...).text)"
        )
    if encoder is None:
        if config.encoder != "unimodal":
            raise ValueError("encoder must be given for the CLIP-like path (see run_digits_dg)")
        encoder = train_simclr(train.images, config.simclr, seed, lambda f, m: say(0.4 * f, m))
    raw = embed_images(encoder, train.images)
    scaler = Standardizer(raw)
    x_train, x_val = scaler(raw), scaler(embed_images(encoder, val.images))
    t_c = class_embeddings(text, train.class_names, config.wording.class_template)
    g: TextMap | JointSpace
    if isinstance(encoder, (ClipTower, OpenClipImage)):
        g = JointSpace(scaler.mean, scaler.std)
    else:
        g = train_text_map(x_train, train.labels, t_c, config.wording, seed)
    projector = train_wording(
        x_train,
        train.labels,
        g,
        t_c,
        text,
        config.wording,
        seed,
        lambda f, m: say(0.4 + 0.5 * f, m),
    )
    say(0.9, "choosing k on the source validation split")
    with torch.no_grad():
        img_text = g(torch.from_numpy(x_train)).numpy()
    t_x = word_images(projector, x_train, text, config.wording.template)
    t_c_rows = t_c.numpy()[train.labels]
    best: tuple[float, float, Stage2] | None = None
    val_accuracy = {}
    for k in config.stage2.k_grid:
        x_e = decompose(img_text, t_x, t_c_rows, k)
        model = train_stage2(
            x_train, train.labels, len(train.class_names), config.stage2, x_e, seed=seed
        )
        acc = float((predict(model, x_val) == val.labels).mean())
        val_accuracy[k] = acc
        if best is None or acc > best[1]:  # the first k of the grid wins a tie
            best = (k, acc, model)
    assert best is not None, "k_grid is empty"
    say(1.0, f"k = {best[0]} (source validation accuracy {best[1]:.3f})")
    return WidinModel(
        encoder,
        scaler,
        g,
        projector,
        best[2],
        best[0],
        train.class_names,
        config.wording.template,
        val_accuracy,
    )


@dataclass
class DGReport:
    """Per-domain accuracy of every method, the mechanism probes, and what was chosen."""

    source: str
    domains: tuple[str, ...]
    accuracy: dict[str, dict[str, float]]
    mechanism: dict[str, float]
    k: float
    k_no_ia: float
    seconds: float
    model: WidinModel | None = None

    def in_domain(self, method: str) -> float:
        return self.accuracy[method][self.source]

    def mean_target(self, method: str) -> float:
        return float(np.mean([a for d, a in self.accuracy[method].items() if d != self.source]))

    def gain(self, method: str = "widin") -> float:
        """Mean target-domain accuracy over the linear probe's."""
        return self.mean_target(method) - self.mean_target("linear")


def split_indices(labels: np.ndarray, config: WidinConfig, seed: int) -> tuple[np.ndarray, ...]:
    """Stratified pool / train / validation / held-out digit indices.

    The pool (CLIP-like path only; empty otherwise) is split off first; the train and validation
    fractions are of the digits left, so the uni-modal split is unchanged by the pool.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    pool = idx[:0]
    if config.encoder == "clip":
        if not 0 < config.pool_fraction < 1:
            raise ValueError(f"pool_fraction must lie in (0, 1), got {config.pool_fraction}")
        pool, idx = train_test_split(
            idx, train_size=config.pool_fraction, random_state=seed, stratify=labels
        )
    if (
        config.train_fraction <= 0
        or config.val_fraction <= 0
        or config.train_fraction + config.val_fraction >= 1
    ):
        raise ValueError(
            f"train_fraction ({config.train_fraction}) and val_fraction ({config.val_fraction}) "
            "must be positive and leave held-out digits (sum below 1)"
        )
    train, rest = train_test_split(
        idx, train_size=config.train_fraction, random_state=seed, stratify=labels[idx]
    )
    val_share = config.val_fraction / (1 - config.train_fraction)
    val, held = train_test_split(
        rest, train_size=val_share, random_state=seed, stratify=labels[rest]
    )
    return pool, train, val, held


def mechanism_probes(
    model: WidinModel, data: DGData, text: TextTower, class_template: str, seed: int = 0
) -> dict[str, float]:
    """Domain and class probes on Delta = t_x - t_c, on G(x) and on x_e = G(x) - k Delta.

    t_c is the sentence of the class G(x) predicts (nearest class sentence), not the true
    label, so x_e carries no label the probe could read.
    """
    x = model.features(data.images)
    t_c = class_embeddings(text, model.class_names, class_template).numpy()
    with torch.no_grad():
        img_text = model.text_map(torch.from_numpy(x)).numpy()
    t_x = word_images(model.projector, x, text, model.template)
    t_c_hat = t_c[(img_text @ t_c.T).argmax(1)]
    x_e = decompose(img_text, t_x, t_c_hat, model.k)
    return {
        "domain_on_delta": probe_accuracy(t_x - t_c_hat, data.domains, seed),
        "domain_on_x": probe_accuracy(img_text, data.domains, seed),
        "domain_on_x_e": probe_accuracy(x_e, data.domains, seed),
        "class_on_x": probe_accuracy(img_text, data.labels, seed),
        "class_on_x_e": probe_accuracy(x_e, data.labels, seed),
        "domain_on_features": probe_accuracy(x, data.domains, seed),
        "domain_on_f_d": probe_accuracy(disentangle(model.stage2, x), data.domains, seed),
    }


def pretrain_clip(
    pool: DGData,
    text: TextTower,
    config: WidinConfig,
    seed: int = 0,
    bank: CaptionBank | None = None,
    progress: Progress | None = None,
) -> ClipTower:
    """The CLIP-like tower, trained on captioned pool images in `config.pool_domains` styles."""
    styles = config.pool_domains or pool.domain_names
    missing = [d for d in styles if d not in pool.domain_names]
    if missing:
        raise ValueError(f"pool_domains must be domains of the data {pool.domain_names}: {missing}")
    if bank is None or bank.styles != tuple(styles):
        bank = caption_bank(text, pool.class_names, tuple(styles))
    keep = np.isin(pool.domains, [pool.domain_names.index(d) for d in styles])
    pool = pool.subset(np.flatnonzero(keep))
    style_index = {pool.domain_names.index(name): i for i, name in enumerate(bank.styles)}
    style = np.array([style_index[d] for d in pool.domains], dtype=np.int64)
    if progress:
        progress(0.0, f"CLIP-like tower on {len(pool)} captioned images, {len(styles)} styles")
    return train_clip_tower(pool.images, pool.labels, style, bank, config.clip, seed, progress)


def run_digits_dg(
    text: TextTower,
    config: WidinConfig = WidinConfig(),
    seed: int = 0,
    data: DGData | None = None,
    progress: Progress | None = None,
    bank: CaptionBank | None = None,
    encoder: JointEncoder | None = None,
) -> DGReport:
    """Every method trained on `config.source` only, tested on every domain of `data`.

    Uni-modal: linear probe, MLP probe, WIDIn, WIDIn without L_ia on a SimCLR encoder.
    CLIP-like: the tower is first trained on a captioned pool of digits (disjoint from every
    trained-on or tested digit), and zero-shot classification joins the baselines. `bank` is a
    precomputed caption bank for the pool styles (saves re-embedding the captions per seed).
    `encoder` is a joint-space tower trained elsewhere (an open_clip model's, with its text
    tower as `text`): the pool is then held out but not trained on.
    """
    say = progress or (lambda f, m: None)
    if config.encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if encoder is not None and config.encoder != "clip":
        raise ValueError("a pretrained joint-space encoder needs WidinConfig(encoder='clip')")
    if config.pretrain not in ("pool", "source"):
        raise ValueError(f"pretrain must be 'pool' or 'source', got {config.pretrain!r}")
    started = time.perf_counter()
    data = data if data is not None else digits_dg(size=config.size, seed=seed)
    source = data.domain(config.source)
    pool_i, train_i, val_i, held_i = split_indices(source.labels, config, seed)
    train, val = source.subset(train_i), source.subset(val_i)
    held = data.subset(np.flatnonzero(np.isin(data.index, source.index[held_i])))
    if encoder is not None:
        say(0.3, "using the given joint-space encoder")
    elif config.encoder == "clip":
        pool = data.subset(np.flatnonzero(np.isin(data.index, source.index[pool_i])))
        encoder = pretrain_clip(pool, text, config, seed, bank, lambda f, m: say(0.3 * f, m))
    else:
        if config.pretrain == "pool":
            unlabelled = data.subset(np.flatnonzero(np.isin(data.index, train.index))).images
        else:
            unlabelled = train.images
        say(0.0, f"SimCLR on {len(unlabelled)} unlabelled images ({config.pretrain})")
        encoder = train_simclr(unlabelled, config.simclr, seed, lambda f, m: say(0.3 * f, m))
    model = fit_widin(train, val, text, config, seed, encoder, lambda f, m: say(0.3 + 0.3 * f, m))
    no_ia_config = replace(config, wording=replace(config.wording, lambda_ia=0.0))
    no_ia = fit_widin(
        train,
        val,
        text,
        no_ia_config,
        seed,
        encoder,
        lambda f, m: say(0.6 + 0.3 * f, "no L_ia: " + m),
    )
    say(0.9, "baselines and probes")
    x_train = model.features(train.images)
    x_held = model.features(held.images)
    mlp = train_stage2(x_train, train.labels, len(train.class_names), config.stage2, seed=seed)
    predictions = {
        "linear": linear_probe(x_train, train.labels, x_held),
        "mlp": predict(mlp, x_held),
    }
    if config.encoder == "clip":
        t_c = class_embeddings(text, train.class_names, config.wording.class_template).numpy()
        with torch.no_grad():
            joint = model.text_map(torch.from_numpy(x_held)).numpy()
        predictions["zero_shot"] = zero_shot_predict(joint, t_c)
    predictions["widin"] = predict(model.stage2, x_held)
    predictions["widin_no_ia"] = predict(no_ia.stage2, x_held)
    accuracy = {
        method: {
            name: float((pred[held.domains == d] == held.labels[held.domains == d]).mean())
            for d, name in enumerate(data.domain_names)
        }
        for method, pred in predictions.items()
    }
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.permutation(np.flatnonzero(held.domains == d))[: config.mechanism_per_domain]
            for d in range(len(data.domain_names))
        ]
    )
    mechanism = mechanism_probes(
        model, held.subset(rows), text, config.wording.class_template, seed
    )
    say(1.0, "done")
    return DGReport(
        config.source,
        data.domain_names,
        accuracy,
        mechanism,
        model.k,
        no_ia.k,
        time.perf_counter() - started,
        model,
    )
