"""Classification metrics of one test fold, computed with scikit-learn."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from ecgssl.util.checks import check_int

__all__ = ["METRIC_KEYS", "classification_metrics"]

#: Keys of the dict :func:`classification_metrics` returns.
METRIC_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "f1_macro_pr",
    "kappa",
    "confusion_matrix",
    "majority_accuracy",
    "test_majority_share",
    "n_test",
)


def _check_labels(y: Any, name: str, n_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n_classes:
        raise ValueError(
            f"{name} must hold class indices in [0, {n_classes - 1}], got values "
            f"from {arr.min()} to {arr.max()}"
        )
    return arr.astype(np.int64)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    n_classes: int,
    y_train: Sequence[int] | np.ndarray,
) -> dict[str, Any]:
    """Metrics of one test fold.

    All class-wise averages use ``labels=range(n_classes)``, so a class absent from
    this fold's truth and predictions still counts (as 0, ``zero_division=0``).

    Parameters
    ----------
    y_true, y_pred : array of int, shape (n_test,)
        True and predicted class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes of the label scheme (>= 2).
    y_train : array of int, shape (n_train,)
        Class indices of the training fold, for the majority baseline.

    Returns
    -------
    dict
        ``accuracy``: share of correct predictions.
        ``balanced_accuracy``: mean recall over the classes present in ``y_true``
        (scikit-learn ``balanced_accuracy_score``; chance is ``1 / n_classes``
        whatever the class balance).
        ``macro_f1``: unweighted mean of the per-class F1 scores (scikit-learn
        ``f1_score(average="macro")``); the number we report.
        ``f1_macro_pr``: ``2 P R / (P + R)`` with P the macro precision and R the
        macro recall -- the "F1" of the released code and of the paper's table. It is
        NOT the macro-F1 (the harmonic mean of averages is not the average of
        harmonic means) and is usually higher; it is here for comparison only.
        ``kappa``: Cohen's kappa.
        ``confusion_matrix``: list of ``n_classes`` lists, rows = true class, columns
        = predicted class.
        ``majority_accuracy``: accuracy on this fold of
        ``DummyClassifier(strategy="most_frequent")`` fitted on ``y_train`` (the
        chance level a classifier must beat).
        ``test_majority_share``: share of this fold's most frequent true class.
        ``n_test``: number of test windows.
        All values are plain Python floats/ints (JSON-serialisable).
    """
    n_classes = check_int(n_classes, "n_classes", minimum=2)
    yt = _check_labels(y_true, "y_true", n_classes)
    yp = _check_labels(y_pred, "y_pred", n_classes)
    ytr = _check_labels(y_train, "y_train", n_classes)
    if yt.shape != yp.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {yt.size} and {yp.size}"
        )
    labels = list(range(n_classes))
    precision = precision_score(yt, yp, labels=labels, average="macro", zero_division=0)
    recall = recall_score(yt, yp, labels=labels, average="macro", zero_division=0)
    f1_macro_pr = (
        2.0 * precision * recall / (precision + recall)
        if precision + recall > 0
        else 0.0
    )
    dummy = DummyClassifier(strategy="most_frequent")
    dummy.fit(np.zeros((ytr.size, 1)), ytr)
    majority_pred = dummy.predict(np.zeros((yt.size, 1)))
    # kappa is undefined (0/0) when truth and predictions are one and the same class.
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = cohen_kappa_score(yt, yp, labels=labels)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(yt, yp)
    return {
        "accuracy": float(accuracy_score(yt, yp)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(
            f1_score(yt, yp, labels=labels, average="macro", zero_division=0)
        ),
        "f1_macro_pr": float(f1_macro_pr),
        "kappa": float(kappa),
        "confusion_matrix": confusion_matrix(yt, yp, labels=labels).tolist(),
        "majority_accuracy": float(accuracy_score(yt, majority_pred)),
        "test_majority_share": float(np.bincount(yt).max() / yt.size),
        "n_test": int(yt.size),
    }
