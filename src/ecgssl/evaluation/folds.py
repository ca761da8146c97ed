"""Deterministic splits: cross-validation folds and held-out validation subjects."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import GroupKFold, KFold

from ecgssl.util.checks import (
    check_int,
    check_number,
    check_option,
    check_probability,
)
from ecgssl.util.seeds import stable_seed

__all__ = [
    "PROTOCOLS",
    "assign_folds",
    "split_subjects",
    "stable_seed",
    "subsample_per_subject",
    "validation_split",
]

#: The cross-validation protocols :func:`assign_folds` knows.
PROTOCOLS = ("window_kfold", "subject_kfold")


def _shuffled_group_splits(
    groups: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """What ``GroupKFold(shuffle=True)`` of scikit-learn >= 1.6 does, for older ones.

    The sorted unique groups are permuted with ``RandomState(seed)`` and split into
    ``n_folds`` nearly equal parts with ``np.array_split``.
    """
    unique = np.random.RandomState(seed).permutation(np.unique(groups))
    out = []
    for test_groups in np.array_split(unique, n_folds):
        test_mask = np.isin(groups, test_groups)
        out.append((np.flatnonzero(~test_mask), np.flatnonzero(test_mask)))
    return out


def _grouped_splits(
    groups: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-wise (train, test) index pairs, seeded."""
    try:
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    except TypeError:  # scikit-learn < 1.6 has no shuffle for GroupKFold
        return _shuffled_group_splits(groups, n_folds, seed)
    return list(splitter.split(np.zeros(groups.size), groups=groups))


def assign_folds(
    subjects: Sequence[str] | np.ndarray,
    labelled_mask: Sequence[bool] | np.ndarray,
    *,
    protocol: str,
    n_folds: int,
    seed: int,
) -> np.ndarray:
    """Assign each labelled window of one dataset to a test fold.

    Parameters
    ----------
    subjects : sequence of str, shape (n_windows,)
        Subject of each window.
    labelled_mask : sequence of bool, shape (n_windows,)
        True where the window has a label (only those are put in folds).
    protocol : {"window_kfold", "subject_kfold"}
        ``"window_kfold"``: the paper's protocol, scikit-learn ``KFold(n_folds,
        shuffle=True, random_state=seed)`` over the labelled windows in the given
        order; a person's windows end up in training and test folds.
        ``"subject_kfold"``: scikit-learn ``GroupKFold(n_folds, shuffle=True,
        random_state=seed)`` grouped by subject, so no person is in both the training
        and the test part of any fold. The (sorted) subjects are permuted with the
        seed and split into ``n_folds`` nearly equal groups of subjects; the result
        does not depend on the row order. Fold sizes in windows are balanced only as
        far as subjects have similar numbers of labelled windows.
    n_folds : int
        Number of folds, >= 2 (at most the number of labelled windows, or of subjects
        with labelled windows for ``"subject_kfold"``).
    seed : int
        In ``[0, 2**32 - 1]``, e.g. from :func:`stable_seed`.

    Returns
    -------
    ndarray of int64, shape (n_windows,)
        Test-fold index (0 .. n_folds - 1) of each window, -1 for unlabelled windows.
    """
    check_option(protocol, PROTOCOLS, "protocol")
    n_folds = check_int(n_folds, "n_folds", minimum=2)
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    subj = np.asarray(subjects)
    mask = np.asarray(labelled_mask)
    if subj.ndim != 1:
        raise ValueError(f"subjects must be 1-D, got shape {subj.shape}")
    if mask.ndim != 1 or mask.shape != subj.shape:
        raise ValueError(
            f"labelled_mask must be 1-D with the length of subjects ({subj.shape[0]}),"
            f" got shape {mask.shape}"
        )
    if mask.dtype != np.bool_:
        raise TypeError(f"labelled_mask must be boolean, got dtype {mask.dtype}")
    subj = subj.astype(str)

    folds = np.full(subj.shape, -1, dtype=np.int64)
    labelled_idx = np.flatnonzero(mask)
    n_labelled = labelled_idx.size
    if protocol == "window_kfold":
        if n_folds > n_labelled:
            raise ValueError(
                f"n_folds={n_folds} is more than the {n_labelled} labelled windows"
            )
        splitter = KFold(n_splits=n_folds, shuffle=True, random_state=int(seed))
        splits = splitter.split(labelled_idx)
    else:
        groups = subj[labelled_idx]
        n_subjects = np.unique(groups).size
        if n_folds > n_subjects:
            raise ValueError(
                f"n_folds={n_folds} is more than the {n_subjects} subjects with "
                "labelled windows"
            )
        splits = _grouped_splits(groups, n_folds, int(seed))
    for fold, (_, test) in enumerate(splits):
        folds[labelled_idx[test]] = fold
    return folds


def split_subjects(
    subjects: ArrayLike, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Choose validation subjects deterministically from the seed.

    Parameters
    ----------
    subjects : array-like of str, shape (n_windows,)
        Subject id of each window.
    val_fraction : float
        Share of distinct subjects for validation, in [0, 1). Rounded to the
        nearest count, but at least 1 when there are >= 2 subjects and the share is
        > 0, and at most all subjects but one.
    seed : int
        Seed.

    Returns
    -------
    train_subjects, val_subjects : list of str
        Sorted, disjoint.
    """
    val_fraction = check_probability(val_fraction, "val_fraction")
    unique = sorted({str(s) for s in np.asarray(subjects).ravel().tolist()})
    n = len(unique)
    if n < 2 or val_fraction == 0:
        n_val = 0
    else:
        n_val = min(n - 1, max(1, math.floor(val_fraction * n + 0.5)))
    rng = np.random.default_rng(stable_seed(seed, "split"))
    chosen = set(rng.permutation(n)[:n_val].tolist())
    val = [s for i, s in enumerate(unique) if i in chosen]
    train = [s for i, s in enumerate(unique) if i not in chosen]
    return train, val


def subsample_per_subject(
    rows: np.ndarray, subjects: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    """Keep a share of each subject's rows: the label budget of a training fold.

    Each subject keeps ``max(1, round(fraction * n))`` of its ``n`` rows, drawn
    without replacement from ``default_rng(seed)``; subjects are visited in sorted
    order, so the draw does not depend on the row order.

    Parameters
    ----------
    rows : np.ndarray of int, shape (n,)
        Candidate rows (e.g. a training fold's labelled windows).
    subjects : np.ndarray of str, shape (n,)
        Subject of each candidate row.
    fraction : float
        Share in (0, 1]; 1 keeps every row.
    seed : int
        Seed of the draw (the same for every method, so they all see one subset).

    Returns
    -------
    np.ndarray of int
        The kept rows, sorted.
    """
    fraction = check_number(fraction, "fraction", minimum=0.0, maximum=1.0,
                            exclusive_minimum=True)  # fmt: skip
    rows, subjects = np.asarray(rows), np.asarray(subjects).astype(str)
    if rows.shape != subjects.shape:
        raise ValueError(f"rows {rows.shape} and subjects {subjects.shape} differ")
    if fraction == 1.0:
        return np.sort(rows)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    kept = []
    for subject in np.unique(subjects):
        own = rows[subjects == subject]
        n_keep = max(1, int(round(fraction * own.size)))
        kept.append(rng.choice(own, size=n_keep, replace=False))
    return np.sort(np.concatenate(kept)) if kept else rows[:0]


def validation_split(
    rows: np.ndarray,
    subjects: np.ndarray,
    *,
    protocol: str,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out part of a training fold to select the epoch (never the test fold).

    Under ``subject_kfold`` whole subjects are held out (:func:`split_subjects`),
    so the selection, like the test, is across people; under ``window_kfold``
    windows are. Nothing is held out when ``fraction`` is 0 or when too little is
    left to train on (fewer than two subjects, or fewer than two windows).

    Returns
    -------
    train_rows, val_rows : np.ndarray of int
        Sorted and disjoint; ``val_rows`` may be empty.
    """
    check_option(protocol, PROTOCOLS, "protocol")
    fraction = check_probability(fraction, "fraction")
    rows, subjects = np.asarray(rows), np.asarray(subjects).astype(str)
    if rows.shape != subjects.shape:
        raise ValueError(f"rows {rows.shape} and subjects {subjects.shape} differ")
    empty = rows[:0]
    if fraction == 0 or rows.size < 2:
        return np.sort(rows), empty
    if protocol == "subject_kfold":
        _, val_subjects = split_subjects(subjects, fraction, seed)
        held = np.isin(subjects, val_subjects)
    else:
        rng = np.random.default_rng(stable_seed(seed, "validation-windows"))
        n_val = min(rows.size - 1, max(1, int(round(fraction * rows.size))))
        held = np.zeros(rows.size, dtype=bool)
        held[rng.permutation(rows.size)[:n_val]] = True
    return np.sort(rows[~held]), np.sort(rows[held])
