"""Logistic-regression probes: the linear-probe baseline and the mechanism's domain/class probes."""

from __future__ import annotations

import numpy as np


def linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, c: float = 1.0
) -> np.ndarray:
    """Fit logistic regression on standardised train features; predictions for test_x."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(train_y)) < 2:
        raise ValueError("train_y needs at least two classes for a probe")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    return clf.fit(train_x, train_y).predict(test_x)


def probe_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0, c: float = 1.0) -> float:
    """Held-out accuracy of a logistic probe on a stratified 50/50 split of (x, y)."""
    from sklearn.model_selection import train_test_split

    if len(x) != len(y):
        raise ValueError(f"x ({len(x)}) and y ({len(y)}) must have the same length")
    xa, xb, ya, yb = train_test_split(x, y, test_size=0.5, random_state=seed, stratify=y)
    return float((linear_probe(xa, ya, xb, c) == yb).mean())
