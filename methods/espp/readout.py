"""Readouts of a frozen SNN: logistic regression and ridge on spike counts, and few-shot."""

from __future__ import annotations

import numpy as np
import torch

READOUTS = ("logistic", "ridge")


def _as_numpy(features: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    arr = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (samples, features) array, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr.astype(np.float64)


def linear_readout(
    train_x: torch.Tensor | np.ndarray,
    train_y: np.ndarray,
    test_x: torch.Tensor | np.ndarray,
    test_y: np.ndarray,
    kind: str = "logistic",
) -> float:
    """Test accuracy of a linear readout fitted on standardised spike counts.

    logistic: multinomial logistic regression (the softmax-on-an-integrator readout);
    ridge: Ridge(alpha=1) on one-hot targets, the reference's closed-form readout.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    tr, te = _as_numpy(train_x, "train_x"), _as_numpy(test_x, "test_x")
    if tr.shape[1] != te.shape[1]:
        raise ValueError(f"train_x has {tr.shape[1]} features but test_x has {te.shape[1]}")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_y.shape != (tr.shape[0],) or test_y.shape != (te.shape[0],):
        raise ValueError("train_y/test_y must hold one label per row of train_x/test_x")
    scaler = StandardScaler().fit(tr)
    tr, te = scaler.transform(tr), scaler.transform(te)
    if kind == "logistic":
        model = LogisticRegression(max_iter=2000).fit(tr, train_y)
        pred = model.predict(te)
    elif kind == "ridge":
        classes = np.unique(train_y)
        onehot = (train_y[:, None] == classes[None, :]).astype(np.float64)
        pred = classes[Ridge(alpha=1.0).fit(tr, onehot).predict(te).argmax(1)]
    else:
        raise ValueError(f"kind must be one of {READOUTS}, got {kind!r}")
    return float((pred == test_y).mean())


def few_shot_readout(
    train_x: torch.Tensor | np.ndarray,
    train_y: np.ndarray,
    test_x: torch.Tensor | np.ndarray,
    test_y: np.ndarray,
    shots: int = 20,
    seed: int = 0,
) -> float:
    """Nearest prototype: each class is the normalised spike-count sum of `shots` samples."""
    tr, te = _as_numpy(train_x, "train_x"), _as_numpy(test_x, "test_x")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    rng = np.random.default_rng(seed)
    classes = np.unique(train_y)
    protos = []
    for c in classes:
        pool = np.flatnonzero(train_y == c)
        pick = rng.choice(pool, size=min(shots, pool.size), replace=False)
        proto = tr[pick].sum(0)
        protos.append(proto / max(np.linalg.norm(proto), 1e-12))
    pred = classes[(te @ np.stack(protos).T).argmax(1)]
    return float((pred == test_y).mean())
