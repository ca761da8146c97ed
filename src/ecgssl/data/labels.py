"""Label schemes: raw self-report scores or states -> integer class indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgssl.util.checks import check_number

__all__ = ["SCHEMES", "encode_labels", "round_half_up"]

#: The label schemes :func:`encode_labels` knows.
SCHEMES = ("multiclass", "binary")

#: Class names of the binary scheme, in class-index order.
BINARY_CLASS_NAMES = ["low", "high"]


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero upwards (2.5 -> 3).

    NumPy's ``np.round`` rounds halves to even (2.5 -> 2), which would put an AMIGOS
    score of 2.5 with 2 and 3.5 with 4; half-up treats every half the same way.

    Parameters
    ----------
    values : ndarray of float
        Any shape; NaN stays NaN.

    Returns
    -------
    ndarray of float
        Same shape as ``values``.
    """
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5)


def _as_float_array(values: Any) -> np.ndarray:
    """Raw label values (None/NaN = unlabelled) as a 1-D float64 array."""
    if isinstance(values, str | bytes):
        raise TypeError("values must be a sequence of numbers, got a string")
    try:
        if hasattr(values, "to_numpy"):  # pandas Series/array, possibly with pd.NA
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(
                [np.nan if v is None else v for v in values]
                if not isinstance(values, np.ndarray)
                else values,
                dtype=np.float64,
            )
    except (TypeError, ValueError) as exc:
        raise TypeError(f"values must be numbers or None/NaN: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("values must be finite or NaN (unlabelled), found inf")
    return arr


def _class_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def encode_labels(
    values: Sequence[float | None] | np.ndarray,
    *,
    scheme: str,
    threshold: float | None = None,
    classes: Sequence[float] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Turn raw label values into class indices.

    Parameters
    ----------
    values : sequence of float or None, or ndarray, shape (n_windows,)
        Raw labels of ALL windows of one dataset (e.g. DREAMER valence 1-5, AMIGOS
        arousal 1-9 real-valued, WESAD affect 1-4, SWELL stress 0-2). ``None`` or NaN
        marks an unlabelled window.
    scheme : {"multiclass", "binary"}
        ``"multiclass"``: each raw integer score is a class, as the released code
        does. Real-valued scores (AMIGOS) are first rounded half-up (``floor(x +
        0.5)``, so 4.5 -> 5; the released code used Python 3's ``round``, which rounds
        halves to even -- we do not copy that asymmetry). The class list is the sorted
        unique rounded values over all windows passed in, so call this once per
        dataset (not per fold) and every fold shares the classes; pass ``classes`` to
        force a list (e.g. the full 1-5 scale even if a score never occurs).
        ``"binary"``: 1 ("high") where ``value >= threshold``, else 0 ("low").
    threshold : float, optional
        Required for ``"binary"``; not allowed for ``"multiclass"``.
    classes : sequence of float, optional
        Multiclass only: the raw values that are classes, in class-index order. A
        labelled value outside this list is an error.

    Returns
    -------
    y : ndarray of int64, shape (n_windows,)
        Class index per window, -1 where unlabelled.
    class_names : list of str
        Name of each class index: the raw value as text for ``"multiclass"`` (e.g.
        ``"1"`` ... ``"5"``), ``["low", "high"]`` for ``"binary"``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    arr = _as_float_array(values)
    labelled = ~np.isnan(arr)
    y = np.full(arr.shape, -1, dtype=np.int64)

    if scheme == "binary":
        if classes is not None:
            raise ValueError("classes is only allowed with scheme='multiclass'")
        if threshold is None:
            raise ValueError("threshold is required with scheme='binary'")
        threshold = check_number(threshold, "threshold")
        y[labelled] = (arr[labelled] >= threshold).astype(np.int64)
        return y, list(BINARY_CLASS_NAMES)

    if threshold is not None:
        raise ValueError("threshold is only allowed with scheme='binary'")
    rounded = round_half_up(arr[labelled])
    if classes is None:
        class_values = np.unique(rounded)
    else:
        class_values = np.asarray(list(classes), dtype=np.float64)
        if class_values.ndim != 1 or class_values.size == 0:
            raise ValueError("classes must be a non-empty 1-D sequence of numbers")
        if np.unique(class_values).size != class_values.size:
            raise ValueError(f"classes has duplicates: {list(classes)}")
        unknown = np.setdiff1d(np.unique(rounded), class_values)
        if unknown.size:
            raise ValueError(
                f"values contain {unknown.tolist()} (after rounding), which are not "
                f"in classes={list(classes)}"
            )
    # Index of each labelled value in class_values (exact match after rounding).
    order = np.argsort(class_values, kind="stable")
    pos = np.searchsorted(class_values[order], rounded)
    y[labelled] = order[pos]
    return y, [_class_name(v) for v in class_values]
