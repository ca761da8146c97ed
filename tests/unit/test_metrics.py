"""Tests of the fold metrics against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgssl.evaluation.metrics import METRIC_KEYS, classification_metrics

# Hand-computed case (3 classes):
#   class 0: TP 2, FP 0, FN 1 -> P 1,   R 2/3, F1 0.8
#   class 1: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 0.5
#   class 2: TP 1, FP 1, FN 0 -> P 1/2, R 1,   F1 2/3
# macro P = 2/3, macro R = 13/18 -> 2PR/(P+R) = 468/675; macro-F1 = 59/90.
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_hand_computed_case():
    m = classification_metrics(Y_TRUE, Y_PRED, n_classes=3, y_train=[1, 1, 2, 0])
    assert set(m) == set(METRIC_KEYS)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["f1_macro_pr"] == pytest.approx(468 / 675)
    assert m["f1_macro_pr"] != pytest.approx(m["macro_f1"], abs=1e-3)
    # po = 2/3, pe = (3*2 + 2*2 + 1*2) / 36 = 1/3 -> kappa = 0.5
    assert m["kappa"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # training majority class is 1: 2 of 6 test windows are class 1
    assert m["majority_accuracy"] == pytest.approx(2 / 6)
    assert m["test_majority_share"] == pytest.approx(3 / 6)
    assert m["n_test"] == 6
    json.dumps(m)  # plain Python types only


def test_absent_class_counts_in_macro_averages():
    # class 2 never appears: its F1 is 0 (zero_division=0) and it still counts
    m = classification_metrics([0, 1], [0, 1], n_classes=3, y_train=[0, 1, 2])
    assert m["accuracy"] == 1.0
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert m["majority_accuracy"] == pytest.approx(0.5)  # tie -> smallest class 0


def test_constant_prediction_kappa_zero():
    m = classification_metrics([0, 1, 1, 1], [1, 1, 1, 1], n_classes=2, y_train=[1])
    assert m["kappa"] == pytest.approx(0.0)
    assert m["accuracy"] == m["majority_accuracy"] == pytest.approx(0.75)


def test_validation():
    with pytest.raises(ValueError, match="y_pred"):
        classification_metrics([0, 1], [0, 3], n_classes=3, y_train=[0])
    with pytest.raises(ValueError, match="same length"):
        classification_metrics([0, 1], [0], n_classes=2, y_train=[0])
    with pytest.raises(ValueError, match="n_classes"):
        classification_metrics([0], [0], n_classes=1, y_train=[0])
    with pytest.raises(TypeError, match="y_true"):
        classification_metrics(np.array([0.0, 1.0]), [0, 1], n_classes=2, y_train=[0])
    with pytest.raises(ValueError, match="y_train"):
        classification_metrics([0, 1], [0, 1], n_classes=2, y_train=[-1])
