"""Intervals and paired comparisons of cross-validated accuracies.

Under subject-wise folds the people are the units of replication: every test window
of a person is predicted by the classifier of the fold that held that person out, so
the out-of-fold predictions are pooled per person and the people are resampled with
replacement (``scipy.stats.bootstrap``, percentile intervals). Under window-wise
folds the folds (and repeats) are the units and their accuracies are resampled.

Accuracies of a resample are computed from the sum of the resampled units'
confusion matrices (scikit-learn's ``confusion_matrix``): accuracy is the trace over
the total, balanced accuracy the mean recall over the classes present, exactly as
``sklearn.metrics.accuracy_score`` and ``balanced_accuracy_score`` on the pooled
predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

from ecgssl.util.checks import check_int, check_number

__all__ = [
    "Interval",
    "accuracy_of",
    "balanced_accuracy_of",
    "interval",
    "paired_interval",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval (NaN bounds with < 2 units)."""

    estimate: float
    low: float
    high: float
    n_units: int


def accuracy_of(cm: np.ndarray) -> np.ndarray:
    """Accuracy of confusion matrices ``(..., C, C)`` (rows: true class)."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.trace(cm, axis1=-2, axis2=-1) / total


def balanced_accuracy_of(cm: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the truth, of ``(..., C, C)``."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=-1)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diagonal(cm, axis1=-2, axis2=-1) / support
        return np.where(present, recall, 0.0).sum(axis=-1) / present.sum(axis=-1)


def _check(confidence: float, n_resamples: int) -> tuple[float, int]:
    confidence = check_number(
        confidence, "confidence", minimum=0.0, maximum=1.0,
        exclusive_minimum=True, exclusive_maximum=True,
    )  # fmt: skip
    return confidence, check_int(n_resamples, "n_resamples", minimum=100)


def _percentile(
    statistic, n_units: int, *, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    if n_units < 2:
        return float("nan"), float("nan")
    result = bootstrap(
        (np.arange(n_units),),
        statistic,
        vectorized=True,
        axis=-1,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        batch=500,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def interval(
    confusion: np.ndarray,
    *,
    metric: str = "accuracy",
    pooled: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval of an accuracy over units (people, or folds).

    Parameters
    ----------
    confusion : np.ndarray, shape (n_units, C, C)
        One confusion matrix per unit: per person (their pooled out-of-fold
        predictions) or per fold.
    metric : {"accuracy", "balanced_accuracy"}
    pooled : bool
        True: the statistic is the metric of the summed matrices (people: every
        window counts once). False: the mean of the units' own metrics (folds: the
        mean over folds, as cross-validation reports it).
    confidence : float
        Level of the percentile interval.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Interval
    """
    confidence, n_resamples = _check(confidence, n_resamples)
    of = accuracy_of if metric == "accuracy" else balanced_accuracy_of
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 3 or cm.shape[1] != cm.shape[2] or cm.shape[0] == 0:
        raise ValueError(f"confusion must be (n_units, C, C), got {cm.shape}")

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        if pooled:
            return of(cm[idx].sum(axis=-3))
        return np.nanmean(of(cm[idx]), axis=-1)

    estimate = float(statistic(np.arange(cm.shape[0])))
    low, high = _percentile(statistic, cm.shape[0], confidence=confidence,
                            n_resamples=n_resamples, seed=seed)  # fmt: skip
    return Interval(estimate, low, high, cm.shape[0])


def paired_interval(
    confusion_a: np.ndarray,
    confusion_b: np.ndarray,
    *,
    metric: str = "accuracy",
    pooled: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Interval of ``metric(a) - metric(b)`` with the units resampled jointly.

    ``confusion_a[i]`` and ``confusion_b[i]`` belong to the same unit (person or
    fold), so the comparison is paired: both methods are judged on the same people
    in every resample.
    """
    confidence, n_resamples = _check(confidence, n_resamples)
    of = accuracy_of if metric == "accuracy" else balanced_accuracy_of
    a = np.asarray(confusion_a, dtype=np.float64)
    b = np.asarray(confusion_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"paired confusions must match: {a.shape} vs {b.shape}")

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        if pooled:
            return of(a[idx].sum(axis=-3)) - of(b[idx].sum(axis=-3))
        return np.nanmean(of(a[idx]) - of(b[idx]), axis=-1)

    estimate = float(statistic(np.arange(a.shape[0])))
    low, high = _percentile(statistic, a.shape[0], confidence=confidence,
                            n_resamples=n_resamples, seed=seed)  # fmt: skip
    return Interval(estimate, low, high, a.shape[0])
