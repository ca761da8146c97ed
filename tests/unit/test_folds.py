"""Tests of fold assignment and stable seeds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecgssl.evaluation.folds import _shuffled_group_splits, assign_folds, stable_seed


def _dataset(n_subjects: int = 10, per_subject: int = 12) -> tuple[np.ndarray, ...]:
    subjects = np.repeat([f"S{i:02d}" for i in range(n_subjects)], per_subject)
    labelled = np.ones(subjects.size, dtype=bool)
    labelled[::5] = False
    return subjects, labelled


@pytest.mark.parametrize("protocol", ["window_kfold", "subject_kfold"])
def test_each_labelled_window_in_exactly_one_fold(protocol):
    subjects, labelled = _dataset()
    folds = assign_folds(subjects, labelled, protocol=protocol, n_folds=5, seed=7)
    assert folds.dtype == np.int64
    np.testing.assert_array_equal(folds[~labelled], -1)
    assert set(folds[labelled].tolist()) == set(range(5))


def test_window_kfold_matches_sklearn_and_balanced():
    from sklearn.model_selection import KFold

    subjects, labelled = _dataset()
    folds = assign_folds(subjects, labelled, protocol="window_kfold", n_folds=4, seed=3)
    idx = np.flatnonzero(labelled)
    for k, (_, test) in enumerate(KFold(4, shuffle=True, random_state=3).split(idx)):
        np.testing.assert_array_equal(np.flatnonzero(folds == k), idx[test])
    sizes = np.bincount(folds[labelled])
    assert sizes.max() - sizes.min() <= 1


def test_subject_kfold_no_subject_overlap_and_balanced():
    subjects, labelled = _dataset(n_subjects=11)
    folds = assign_folds(
        subjects, labelled, protocol="subject_kfold", n_folds=3, seed=1
    )
    for s in np.unique(subjects):
        assert np.unique(folds[(subjects == s) & labelled]).size == 1
    subjects_per_fold = [np.unique(subjects[folds == k]).size for k in range(3)]
    assert max(subjects_per_fold) - min(subjects_per_fold) <= 1
    # windows: at most one subject's worth apart, plus the per-subject spread
    per_subject = np.unique(subjects[labelled], return_counts=True)[1]
    spread = per_subject.max() - per_subject.min()
    sizes = np.bincount(folds[labelled])
    assert sizes.max() - sizes.min() <= per_subject.max() + spread * 4


def test_subject_kfold_depends_on_seed_and_is_deterministic():
    subjects, labelled = _dataset(n_subjects=12)
    a = assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=4, seed=1)
    b = assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=4, seed=1)
    c = assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=4, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_subject_kfold_independent_of_row_order():
    subjects, labelled = _dataset(n_subjects=9)
    base = assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=3, seed=5)
    perm = np.random.default_rng(0).permutation(subjects.size)
    shuffled = assign_folds(
        subjects[perm], labelled[perm], protocol="subject_kfold", n_folds=3, seed=5
    )
    np.testing.assert_array_equal(shuffled, base[perm])


def test_folds_do_not_depend_on_other_datasets_or_global_rng():
    subjects, labelled = _dataset()
    first = assign_folds(subjects, labelled, protocol="window_kfold", n_folds=5, seed=9)
    other, other_lab = _dataset(n_subjects=4, per_subject=30)
    perm = np.random.default_rng(1).permutation(other.size)
    assign_folds(
        other[perm], other_lab[perm], protocol="window_kfold", n_folds=3, seed=9
    )
    np.random.seed(123)  # noqa: NPY002 - the global RNG must not matter
    again = assign_folds(subjects, labelled, protocol="window_kfold", n_folds=5, seed=9)
    np.testing.assert_array_equal(first, again)


def test_fallback_matches_sklearn_group_kfold_shuffle():
    from sklearn.model_selection import GroupKFold

    subjects, labelled = _dataset(n_subjects=10)
    groups = subjects[labelled]
    try:
        splitter = GroupKFold(n_splits=3, shuffle=True, random_state=4)
    except TypeError:
        pytest.skip("this scikit-learn has no GroupKFold(shuffle=True)")
    ours = _shuffled_group_splits(groups, 3, 4)
    theirs = list(splitter.split(np.zeros(groups.size), groups=groups))
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_more_folds_than_subjects():
    subjects, labelled = _dataset(n_subjects=3)
    with pytest.raises(ValueError, match=r"n_folds=4.*3 subjects"):
        assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=4, seed=0)


def test_subjects_without_labels_do_not_count():
    subjects, labelled = _dataset(n_subjects=3)
    labelled[subjects == "S02"] = False
    with pytest.raises(ValueError, match="2 subjects"):
        assign_folds(subjects, labelled, protocol="subject_kfold", n_folds=3, seed=0)


def test_argument_errors():
    subjects, labelled = _dataset(n_subjects=3)
    with pytest.raises(ValueError, match="protocol"):
        assign_folds(subjects, labelled, protocol="loso", n_folds=2, seed=0)
    with pytest.raises(ValueError, match="n_folds"):
        assign_folds(subjects, labelled, protocol="window_kfold", n_folds=1, seed=0)
    with pytest.raises(ValueError, match="labelled_mask"):
        assign_folds(
            subjects, labelled[:-1], protocol="window_kfold", n_folds=2, seed=0
        )
    with pytest.raises(TypeError, match="labelled_mask"):
        assign_folds(
            subjects, labelled.astype(int), protocol="window_kfold", n_folds=2, seed=0
        )
    with pytest.raises(ValueError, match="seed"):
        assign_folds(subjects, labelled, protocol="window_kfold", n_folds=2, seed=-1)


def test_stable_seed_known_values():
    assert stable_seed("a") == 3398926610
    assert stable_seed(2020, "dreamer", "valence", 0) == 2020150594
    assert stable_seed(2020, "dreamer", "valence", 1) != stable_seed(
        2020, "dreamer", "valence", 0
    )
    assert 0 <= stable_seed("x", 1) < 2**32


def test_stable_seed_same_in_another_process():
    code = (
        "from ecgssl.evaluation.folds import stable_seed; "
        "print(stable_seed(7, 'wesad'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == stable_seed(7, "wesad")


def test_stable_seed_rejects_bad_parts():
    with pytest.raises(ValueError, match="parts"):
        stable_seed()
    with pytest.raises(TypeError, match=r"parts\[1\]"):
        stable_seed("a", 1.5)
