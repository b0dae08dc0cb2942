"""The paper's mesh metrics: volumetric IoU, Chamfer-L1 and normal consistency (scipy KD-tree)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

N_POINTS = 100_000  # the paper's count for both the IoU points and the surface samples


@dataclass(frozen=True)
class Scores:
    iou: float
    chamfer_l1: float  # mean of accuracy and completeness, unit-cube units
    normal_consistency: float
    accuracy: float  # mean distance from prediction to ground truth
    completeness: float  # mean distance from ground truth to prediction

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean occupancy arrays of the same shape."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted: shape {predicted.shape} does not match truth {truth.shape}")
    if predicted.size == 0:
        raise ValueError("truth: no points to compare")
    union = np.logical_or(predicted, truth).sum()
    # Both empty: the prediction is exactly right.
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def surface_distances(
    pred_points: np.ndarray,
    pred_normals: np.ndarray,
    true_points: np.ndarray,
    true_normals: np.ndarray,
) -> tuple[float, float, float]:
    """(accuracy, completeness, normal consistency) between two oriented point samples.

    Distances are Euclidean nearest-neighbour distances, averaged; normal consistency is the
    mean |n . n_nearest| over both directions, so the normals' orientation does not matter.
    """
    for name, arr in (
        ("pred_points", pred_points),
        ("pred_normals", pred_normals),
        ("true_points", true_points),
        ("true_normals", true_normals),
    ):
        if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
            raise ValueError(f"{name}: expected a non-empty (N, 3) array, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
    d_pred, i_pred = cKDTree(true_points).query(pred_points, workers=1)
    d_true, i_true = cKDTree(pred_points).query(true_points, workers=1)
    nc_pred = np.abs(np.sum(pred_normals * true_normals[i_pred], -1))
    nc_true = np.abs(np.sum(true_normals * pred_normals[i_true], -1))
    return float(d_pred.mean()), float(d_true.mean()), float((nc_pred.mean() + nc_true.mean()) / 2)


def scores(
    pred_inside: np.ndarray,
    true_inside: np.ndarray,
    pred_surface: tuple[np.ndarray, np.ndarray],
    true_surface: tuple[np.ndarray, np.ndarray],
) -> Scores:
    """All three metrics from occupancy at the IoU points and oriented surface samples."""
    accuracy, completeness, nc = surface_distances(*pred_surface, *true_surface)
    return Scores(
        iou=iou(pred_inside, true_inside),
        chamfer_l1=(accuracy + completeness) / 2,
        normal_consistency=nc,
        accuracy=accuracy,
        completeness=completeness,
    )


def mean_scores(all_scores: list[Scores]) -> dict[str, float]:
    if not all_scores:
        raise ValueError("all_scores: no scores to average")
    keys = all_scores[0].as_dict()
    return {k: float(np.mean([getattr(s, k) for s in all_scores])) for k in keys}
