"""Signal functions checked against SciPy references and on synthetic sines."""

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from ecgssl.data.signal import (
    FilterSpec,
    filter_ecg,
    interpolate_nans,
    resample,
    resample_ratio,
    saturation_mask,
    window_starts,
)


@pytest.mark.parametrize(
    ("fs_in", "expected"),
    [(700, (64, 175)), (2048, (1, 8)), (128, (2, 1)), (256, (1, 1)), (1000, (32, 125))],
)
def test_resample_ratio_is_exact(fs_in, expected):
    assert resample_ratio(fs_in, 256) == expected


def test_resample_ratio_rejects_bad_rates():
    with pytest.raises(ValueError, match="fs_in"):
        resample_ratio(0, 256)
    with pytest.raises(ValueError, match="fs_out"):
        resample_ratio(700, float("nan"))


@pytest.mark.parametrize("n", [7000, 7001, 2_520_001 // 100])
def test_resample_length_follows_ceil_formula(n):
    y = resample(np.zeros(n), fs_in=700, fs_out=256)
    assert y.size == -(-n * 64 // 175)


def _sine(freq, fs, seconds, phase=0.0):
    t = np.arange(int(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t + phase), t


def test_resample_preserves_in_band_frequency_and_timing():
    x, _ = _sine(7.0, 700, 20)
    y = resample(x, fs_in=700, fs_out=256)
    ref, _ = _sine(7.0, 256, 20)
    ref = ref[: y.size]
    interior = slice(256, y.size - 256)
    assert np.max(np.abs(y[interior] - ref[interior])) < 2e-3


def test_resample_removes_content_above_new_nyquist():
    x, _ = _sine(200.0, 700, 20)  # 200 Hz > 128 Hz: must not alias into the output
    y = resample(x, fs_in=700, fs_out=256)
    assert np.std(y[256:-256]) < 0.01


def test_resample_with_dc_offset_has_no_edge_transient():
    y = resample(np.full(7000, 3.0), fs_in=700, fs_out=256)
    np.testing.assert_allclose(y, 3.0, atol=1e-3)  # zero padding: ~1 off


def _gain(freq, spec, fs=256.0, seconds=120):
    x, _ = _sine(freq, fs, seconds)
    y = filter_ecg(x, fs=fs, spec=spec)
    mid = slice(len(x) // 4, 3 * len(x) // 4)
    return np.std(y[mid]) / np.std(x[mid])


def test_highpass_response_at_cutoff_stop_and_pass_band():
    spec = FilterSpec()  # 4th order Butterworth, 0.8 Hz, zero phase
    assert 20 * np.log10(_gain(0.8, spec)) == pytest.approx(-6.02, abs=0.15)
    assert 20 * np.log10(_gain(0.2, spec)) < -80
    assert _gain(10.0, spec) == pytest.approx(1.0, abs=1e-3)


def test_highpass_has_no_phase_shift_and_matches_scipy_interior():
    fs = 256.0
    x, t = _sine(5.0, fs, 60)
    x = x + 2.0 * np.sin(2 * np.pi * 0.05 * t) + 1.0  # wander and offset to remove
    y = filter_ecg(x, fs=fs, spec=FilterSpec())
    ref = sosfiltfilt(butter(4, 0.8, "highpass", fs=fs, output="sos"), x)
    mid = slice(20 * 256, 40 * 256)
    np.testing.assert_allclose(y[mid], ref[mid], atol=1e-6)
    clean, _ = _sine(5.0, fs, 60)
    np.testing.assert_allclose(y[mid], clean[mid], atol=2e-3)  # in phase, no delay


def test_bandpass_variant():
    spec = FilterSpec(kind="bandpass", l_freq=3.0, h_freq=45.0)
    assert _gain(10.0, spec) == pytest.approx(1.0, abs=1e-2)
    assert _gain(0.5, spec) < 1e-3
    assert _gain(100.0, spec) < 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "lowpass"}, "kind"),
        ({"l_freq": 0.0}, "l_freq"),
        ({"kind": "bandpass", "h_freq": None}, "h_freq"),
        ({"h_freq": 40.0}, "h_freq"),
        ({"order": 0}, "order"),
    ],
)
def test_filter_spec_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FilterSpec(**kwargs)


def test_filter_does_not_modify_input():
    x = np.random.default_rng(0).standard_normal(5000)
    before = x.copy()
    filter_ecg(x, fs=256.0, spec=FilterSpec())
    np.testing.assert_array_equal(x, before)


def test_interpolate_nans_bridges_runs_and_reports_them():
    x = np.array([0.0, 1.0, np.nan, np.nan, 4.0, np.inf])
    filled, mask = interpolate_nans(x)
    np.testing.assert_allclose(filled, [0, 1, 2, 3, 4, 4])
    np.testing.assert_array_equal(mask, [0, 0, 1, 1, 0, 1])
    assert np.isnan(x[2])  # input untouched
    filled, mask = interpolate_nans(np.full(3, np.nan))
    assert mask.all()
    assert np.all(filled == 0)


def test_saturation_mask_marks_runs_at_extremes_only():
    x = np.array([0.0, 5, 5, 5, 5, 1, -2, -2, 5, 0])
    mask = saturation_mask(x, min_run=3)
    np.testing.assert_array_equal(mask, [0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    assert not saturation_mask(np.ones(10), min_run=3).any()  # flat is not clipped
    assert not saturation_mask(x, min_run=5).any()


def test_window_starts_drop_the_tail():
    np.testing.assert_array_equal(window_starts(25, size=10), [0, 10])
    assert window_starts(9, size=10).size == 0
    with pytest.raises(ValueError, match="size"):
        window_starts(10, size=0)
