"""Tests of the label schemes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgssl.data.labels import encode_labels, round_half_up


def test_multiclass_uses_sorted_unique_scores_and_marks_unlabelled():
    y, names = encode_labels([3, None, 1, 5, np.nan, 3], scheme="multiclass")
    assert names == ["1", "3", "5"]
    np.testing.assert_array_equal(y, [1, -1, 0, 2, -1, 1])
    assert y.dtype == np.int64


def test_multiclass_rounds_half_up_not_to_even():
    # np.round would give 2, 4, 0 (halves to even); half-up gives 3, 5, 1
    y, names = encode_labels([2.5, 4.5, 0.5, 1.49], scheme="multiclass")
    assert names == ["1", "3", "5"]
    np.testing.assert_array_equal(y, [1, 2, 0, 0])
    np.testing.assert_array_equal(round_half_up(np.array([2.5, -0.5, 7.49])), [3, 0, 7])


def test_multiclass_forced_classes_keep_unused_scores():
    y, names = encode_labels([2, 4], scheme="multiclass", classes=[1, 2, 3, 4, 5])
    assert names == ["1", "2", "3", "4", "5"]
    np.testing.assert_array_equal(y, [1, 3])


def test_multiclass_forced_classes_reject_values_outside():
    with pytest.raises(ValueError, match="not in classes"):
        encode_labels([1, 6], scheme="multiclass", classes=[1, 2, 3])


def test_same_classes_for_every_fold_when_encoded_once():
    values = np.array([1, 2, 3, 4, 5, 1, 2])
    y, names = encode_labels(values, scheme="multiclass")
    # a fold lacking class 5 still maps 4 -> index 3, because classes come from all
    assert y[3] == 3
    assert len(names) == 5


def test_binary_threshold_inclusive():
    y, names = encode_labels(
        pd.Series([1.0, 4.99, 5.0, None, 9.0], dtype="Float64"),
        scheme="binary",
        threshold=5,
    )
    assert names == ["low", "high"]
    np.testing.assert_array_equal(y, [0, 0, 1, -1, 1])


def test_binary_requires_threshold():
    with pytest.raises(ValueError, match="threshold"):
        encode_labels([1, 2], scheme="binary")


def test_threshold_not_allowed_with_multiclass():
    with pytest.raises(ValueError, match="threshold"):
        encode_labels([1, 2], scheme="multiclass", threshold=3)


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="ordinal"):
        encode_labels([1, 2], scheme="ordinal")


def test_bad_values():
    with pytest.raises(ValueError, match="1-D"):
        encode_labels(np.ones((2, 2)), scheme="multiclass")
    with pytest.raises(ValueError, match="inf"):
        encode_labels([1.0, np.inf], scheme="multiclass")
    with pytest.raises(TypeError, match="values"):
        encode_labels(["a", "b"], scheme="multiclass")


def test_all_unlabelled():
    y, names = encode_labels([None, None], scheme="multiclass")
    np.testing.assert_array_equal(y, [-1, -1])
    assert names == []
