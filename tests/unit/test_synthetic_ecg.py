"""Tests of the synthetic ECG generator: realism, emotion effects and no trivial cue."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from scipy import ndimage, signal, stats

from ecgssl.data.synthetic.ecg import (
    SubjectProfile,
    draw_lead,
    draw_subject,
    simulate_ecg,
    simulate_leads,
    state_hr_bpm,
)

FS = 256.0


# --------------------------------------------------------------------------- helpers
def detect_r_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """R-peak times in s: QRS energy (5-25 Hz band) then the refined local maximum.

    A Pan-Tompkins-like detector: band-pass, square, 80 ms moving average,
    ``find_peaks`` with a 300 ms refractory period, then the maximum of a 0.5-40 Hz
    copy within +-60 ms, refined by parabolic interpolation.
    """
    band = signal.butter(2, [5.0, 25.0], "bandpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(band, x)
    n_avg = max(1, int(0.08 * fs))
    energy = np.convolve(y * y, np.ones(n_avg) / n_avg, mode="same")
    peaks, _ = signal.find_peaks(
        energy, height=0.3 * np.percentile(energy, 99), distance=int(0.3 * fs)
    )
    z = _ecg_band(x, fs)
    w = int(0.06 * fs)
    times = []
    for p in peaks:
        lo, hi = max(p - w, 1), min(p + w, z.size - 2)
        q = lo + int(np.argmax(z[lo:hi]))
        left, mid, right = z[q - 1], z[q], z[q + 1]
        den = left - 2 * mid + right
        times.append(q + (0.5 * (left - right) / den if den != 0 else 0.0))
    return np.asarray(times) / fs


def _ecg_band(x: np.ndarray, fs: float) -> np.ndarray:
    """0.5-40 Hz band-passed copy (no baseline wander, no mains)."""
    sos = signal.butter(2, [0.5, 40.0], "bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, x)


def hrv(r_times: np.ndarray) -> dict[str, float]:
    """Mean HR (bpm, beats over time), HR std (bpm) and RMSSD (ms).

    Intervals more than 20 % away from the local median (ectopic beats, missed
    detections) are excluded from the std and RMSSD, as in standard HRV practice.
    """
    rr = np.diff(r_times)
    med = ndimage.median_filter(rr, size=9, mode="nearest")
    ok = np.abs(rr / med - 1.0) < 0.2
    d_rr = np.diff(rr)[ok[1:] & ok[:-1]]
    return {
        "hr": 60.0 * rr.size / (r_times[-1] - r_times[0]),
        "hr_std": float(np.std(60.0 / rr[ok])),
        "rmssd": 1000.0 * float(np.sqrt(np.mean(d_rr**2))),
    }


def average_beat(x: np.ndarray, r_times: np.ndarray, fs: float):
    """Median beat from -0.3 s to 0.62 RR after R, baseline taken in the PR segment.

    Returns the beat (mV, baseline removed) and the index of the R peak in it.
    """
    z = _ecg_band(x, fs)
    rr = float(np.median(np.diff(r_times)))
    pre, post = int(0.3 * fs), int(0.62 * rr * fs)
    idx = np.round(r_times * fs).astype(int)
    idx = idx[(idx > pre) & (idx < z.size - post)]
    beat = np.median(np.stack([z[i - pre : i + post] for i in idx]), axis=0)
    base = np.median(beat[pre - int(0.09 * fs) : pre - int(0.065 * fs)])
    return beat - base, pre


def t_to_r(x: np.ndarray, r_times: np.ndarray, fs: float) -> float:
    """T-wave peak over R-wave peak on the average beat (T searched from 120 ms)."""
    beat, r = average_beat(x, r_times, fs)
    return float(beat[r + int(0.12 * fs) :].max() / beat[r])


def r_to_t_ms(x: np.ndarray, r_times: np.ndarray, fs: float) -> float:
    """Time from the R peak to the T peak on the average beat, in ms."""
    beat, r = average_beat(x, r_times, fs)
    start = r + int(0.12 * fs)
    return 1000.0 * (start + int(np.argmax(beat[start:])) - r) / fs


def tachogram_spectrum(r_times: np.ndarray):
    """Welch spectrum of the HR tachogram resampled at 4 Hz: (freqs Hz, power)."""
    t = np.arange(r_times[1], r_times[-1], 0.25)
    hr = np.interp(t, r_times[1:], 60.0 / np.diff(r_times))
    return signal.welch(hr - hr.mean(), fs=4.0, nperseg=256)


def clean(profile: SubjectProfile) -> SubjectProfile:
    """The same subject without ectopic beats (HRV statistics need sinus rhythm)."""
    return dataclasses.replace(profile, ectopic_per_min=0.0)


def subject(seed: int) -> SubjectProfile:
    """Subject ``seed`` of the test population."""
    return draw_subject(np.random.default_rng(seed))


def record(profile, duration_s, arousal, valence=0.5, seed=0, fs=FS) -> np.ndarray:
    """One simulated recording with its own seed."""
    return simulate_ecg(
        profile,
        duration_s=duration_s,
        fs=fs,
        arousal=arousal,
        valence=valence,
        rng=np.random.default_rng(1000 + seed),
    )


# ----------------------------------------------------------------- basic contract
def test_same_seed_identical_different_seed_different():
    p = subject(1)
    x1 = record(p, 20.0, 0.3, 0.7, seed=5)
    x2 = record(p, 20.0, 0.3, 0.7, seed=5)
    x3 = record(p, 20.0, 0.3, 0.7, seed=6)
    assert np.array_equal(x1, x2)
    assert not np.allclose(x1, x3)
    q1 = draw_subject(np.random.default_rng(9))
    q2 = draw_subject(np.random.default_rng(9))
    assert q1.hr_bpm == q2.hr_bpm
    assert np.array_equal(q1.amps, q2.amps)
    assert draw_subject(np.random.default_rng(10)).hr_bpm != q1.hr_bpm


@pytest.mark.parametrize(
    ("duration_s", "fs", "n"),
    [(10.0, 256.0, 2560), (2.5, 700.0, 1750), (1.001, 128, 128)],
)
def test_length_and_dtype(duration_s, fs, n):
    x = record(subject(2), duration_s, 0.5, fs=fs)
    assert x.shape == (n,)
    assert x.dtype == np.float64
    assert np.all(np.isfinite(x))


def test_chunking_does_not_change_the_signal():
    p = dataclasses.replace(subject(3), ectopic_per_min=3.0, motion_per_min=3.0)
    kwargs = {"duration_s": 40.0, "fs": FS, "arousal": 0.4, "valence": 0.6}
    x1 = simulate_ecg(p, rng=np.random.default_rng(1), chunk_s=60.0, **kwargs)
    x2 = simulate_ecg(p, rng=np.random.default_rng(1), chunk_s=1.7, **kwargs)
    np.testing.assert_allclose(x1, x2, rtol=0, atol=1e-12)


def test_profile_population_ranges():
    rng = np.random.default_rng(0)
    subjects = [draw_subject(rng) for _ in range(300)]
    hr = np.array([s.hr_bpm for s in subjects])
    gain = np.array([s.gain_mv for s in subjects])
    effect = np.array([s.arousal_hr_bpm for s in subjects])
    assert hr.min() >= 60.0
    assert hr.max() <= 80.0
    assert gain.min() >= 0.3
    assert gain.max() <= 2.0
    assert gain.max() / gain.min() > 4.0  # amplitude varies a lot between subjects
    assert effect.min() >= 5.0
    assert effect.max() <= 15.0
    # subjects differ more than states: resting-HR range exceeds the mean effect
    assert np.ptp(hr) > effect.mean()
    assert sum(s.ectopic_per_min > 0 for s in subjects) < 150  # ectopy is the exception


# ------------------------------------------------------------------------ realism
def test_heart_rate_and_hrv_at_rest_are_realistic():
    for seed in range(4):
        p = clean(subject(seed))
        x = record(p, 300.0, 0.0, seed=seed)
        m = hrv(detect_r_peaks(x, FS))
        assert abs(m["hr"] - p.hr_bpm) < 1.0, (seed, m, p.hr_bpm)
        assert 2.0 < m["hr_std"] < 6.0, (seed, m)
        assert 10.0 < m["rmssd"] < 80.0, (seed, m)
        # real recordings give T/R 0.10-0.24 (docs/synthetic.md); this helper's
        # 40 Hz low-pass takes up to 15 % off the (realistically narrow) R wave
        assert 0.05 < t_to_r(x, detect_r_peaks(x, FS), FS) < 0.3


def test_measured_hr_follows_the_requested_state():
    p = clean(subject(4))
    for arousal, valence in [(0.3, 0.2), (0.8, 0.9)]:
        x = record(p, 180.0, arousal, valence, seed=7)
        measured = hrv(detect_r_peaks(x, FS))["hr"]
        assert abs(measured - state_hr_bpm(p, arousal, valence)) < 1.5


def test_qt_shortens_with_heart_rate_like_bazett():
    # Noise-free: a realistic T wave is broad and low (R to T peak ~230 ms, not
    # ECGSYN's ~280 ms), so the 5-15 bpm arousal effect moves its peak by only 2-4
    # samples at 256 Hz, less than muscle noise moves the arg-max of a flat top.
    p = _noise_free(5)
    times, rr = [], []
    for arousal in (0.0, 1.0):
        x = record(p, 120.0, arousal, seed=3)
        r = detect_r_peaks(x, FS)
        times.append(r_to_t_ms(x, r, FS))
        rr.append(np.median(np.diff(r)))
    assert times[1] < times[0] - 5.0
    bazett = np.sqrt(rr[1] / rr[0])
    assert abs(times[1] / times[0] - bazett) < 0.08
    assert 180.0 < times[1] < times[0] < 320.0  # plausible R-to-T-peak times


def test_ectopic_beats_are_premature_and_rare():
    def premature(profile):
        rr = np.diff(detect_r_peaks(record(profile, 120.0, 0.2, seed=2), FS))
        ratio = rr / ndimage.median_filter(rr, size=9, mode="nearest")
        return ratio < 0.87, ratio

    early, ratio = premature(dataclasses.replace(clean(subject(6)), ectopic_per_min=4))
    assert 3 <= early.sum() <= 10  # about 8 expected, 15-30 % premature
    assert ratio.min() > 0.6
    # the sinus node is reset: the beat after a premature one is not delayed
    after = np.flatnonzero(early[:-1]) + 1
    assert np.all(ratio[after] < 1.15)
    assert not np.any(premature(clean(subject(6)))[0])


def test_mains_only_below_nyquist():
    p = dataclasses.replace(
        clean(subject(7)), powerline_mv=0.05, powerline_hz=60.0, motion_per_min=0.0
    )
    f, pxx = signal.welch(record(p, 20.0, 0.5, fs=500.0), fs=500.0, nperseg=1000)
    near = np.abs(f - 60.0) < 1.0
    ref = (f > 45) & (f < 55)
    assert pxx[near].max() > 100 * np.median(pxx[ref])
    q = dataclasses.replace(p, powerline_mv=0.0)
    f, pxx0 = signal.welch(record(q, 20.0, 0.5, fs=500.0), fs=500.0, nperseg=1000)
    assert pxx0[near].max() < 10 * np.median(pxx0[ref])


# ---------------------------------------------------------------- emotion effects
@pytest.fixture(scope="module")
def arousal_sweep():
    """Measurements for 3 subjects at arousal 0, 0.5 and 1 (150 s each)."""
    out = {}
    for seed in (10, 11, 12):
        p = clean(subject(seed))
        rows = []
        for arousal in (0.0, 0.5, 1.0):
            x = record(p, 150.0, arousal, seed=seed)
            r = detect_r_peaks(x, FS)
            f, pxx = tachogram_spectrum(r)
            hf = (f >= 0.15) & (f < 0.5)
            lf = (f >= 0.04) & (f < 0.15)
            rows.append(
                hrv(r)
                | {
                    "t_to_r": t_to_r(x, r, FS),
                    "resp_hz": float(f[hf][np.argmax(pxx[hf])]),
                    "lfhf": float(pxx[lf].sum() / pxx[hf].sum()),
                }
            )
        out[seed] = (p, rows)
    return out


def test_arousal_raises_heart_rate_monotonically(arousal_sweep):
    for p, rows in arousal_sweep.values():
        hr = [r["hr"] for r in rows]
        assert hr[0] < hr[1] < hr[2]
        assert abs((hr[2] - hr[0]) - p.arousal_hr_bpm) < 1.5


def test_arousal_lowers_hrv(arousal_sweep):
    for _, rows in arousal_sweep.values():
        assert rows[2]["hr_std"] < 0.8 * rows[0]["hr_std"]
        assert rows[2]["rmssd"] < 0.7 * rows[0]["rmssd"]
        assert rows[1]["rmssd"] < rows[0]["rmssd"]
        assert rows[2]["rmssd"] > 5.0


def test_arousal_raises_breathing_rate_and_lfhf(arousal_sweep):
    for p, rows in arousal_sweep.values():
        assert abs(rows[0]["resp_hz"] - p.resp_hz) < 0.04  # RSA follows breathing
        assert rows[2]["resp_hz"] > rows[0]["resp_hz"] + 0.07
        assert rows[2]["lfhf"] > 1.5 * rows[0]["lfhf"]


def test_arousal_flattens_t_wave_within_realistic_range(arousal_sweep):
    for p, rows in arousal_sweep.values():
        tr = [r["t_to_r"] for r in rows]
        assert tr[2] < tr[1] < tr[0]
        assert tr[2] < (1.0 - 0.5 * p.arousal_t_drop) * tr[0]
        assert tr[2] > 0.05
        assert tr[0] < 0.27


def test_valence_effect_on_hr_is_small_and_below_subject_spread():
    hr_rest, valence_effect, arousal_effect = [], [], []
    for seed in range(20, 30):
        p = clean(subject(seed))
        hr = {}
        for arousal, valence in [(0.0, 0.0), (0.0, 1.0), (0.0, 0.5), (1.0, 0.5)]:
            x = record(p, 60.0, arousal, valence, seed=seed)
            hr[arousal, valence] = hrv(detect_r_peaks(x, FS))["hr"]
        hr_rest.append(hr[0.0, 0.5])
        valence_effect.append(hr[0.0, 1.0] - hr[0.0, 0.0])
        arousal_effect.append(hr[1.0, 0.5] - hr[0.0, 0.5])
        assert abs(valence_effect[-1]) < 0.5 * arousal_effect[-1]
    valence_effect = np.array(valence_effect)
    assert np.abs(valence_effect).max() < 3.5
    assert 0.5 < valence_effect.mean() < 2.5  # unpleasant decelerates, a little
    assert np.abs(valence_effect).mean() < 0.25 * np.mean(arousal_effect)
    # between-subject spread of HR exceeds the within-subject valence effect
    assert np.std(hr_rest) > 2 * np.abs(valence_effect).mean()
    assert np.ptp(hr_rest) > 0.8 * np.mean(arousal_effect)


def test_valence_morphology_effect_has_a_subject_sign_and_is_small():
    base = _noise_free(16)
    ratios = {}
    for sign in (-1.0, 1.0):
        p = dataclasses.replace(base, valence_sign=sign)
        tr = []
        for valence in (0.0, 1.0):
            x = record(p, 60.0, 0.0, valence, seed=4)
            tr.append(t_to_r(x, detect_r_peaks(x, FS), FS))
        ratios[sign] = tr[1] / tr[0]
    assert ratios[-1.0] < 0.98 < 1.02 < ratios[1.0]
    assert 0.85 < ratios[-1.0] < ratios[1.0] < 1.15  # about +-10 % from 0 to 1
    # far below the spread of T/R between subjects
    rng = np.random.default_rng(3)
    peaks = [p.amps * p.widths**2 for p in (draw_subject(rng) for _ in range(200))]
    spread = np.std([h[4] / h[2] for h in peaks])
    mean = np.mean([h[4] / h[2] for h in peaks])
    assert spread / mean > 2 * (ratios[1.0] - 1.0)


def _hr_of_window(x: np.ndarray, fs: float) -> float:
    """Mean HR of a short window from its R peaks."""
    return 60.0 / float(np.mean(np.diff(detect_r_peaks(x, fs))))


def _auc(feature: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``feature`` for the binary ``label``."""
    u = stats.mannwhitneyu(feature[label], feature[~label]).statistic
    return float(u / (label.sum() * (~label).sum()))


def test_no_trivial_cue_in_amplitude_or_hr_for_valence():
    rng = np.random.default_rng(2024)
    fs = 128.0
    rows = []
    for _ in range(80):
        p = draw_subject(rng)
        for _ in range(3):
            a, v = rng.uniform(), rng.uniform()
            x = simulate_ecg(p, duration_s=10.0, fs=fs, arousal=a, valence=v, rng=rng)
            rows.append((a, v, x.std(), np.ptp(x), _hr_of_window(x, fs)))
    a, v, std, ptp, hr = np.array(rows).T
    for amplitude in (std, ptp):
        assert abs(stats.spearmanr(amplitude, a)[0]) < 0.2
        assert abs(stats.spearmanr(amplitude, v)[0]) < 0.2
    assert _auc(hr, a > 0.5) > 0.62  # HR carries arousal ...
    assert abs(_auc(hr, v > 0.5) - 0.5) < 0.1  # ... but hardly valence


def _noise_free(seed: int) -> SubjectProfile:
    """Subject ``seed`` without broadband noise, mains or motion (ECG + wander only)."""
    return dataclasses.replace(
        clean(subject(seed)), emg_mv=0.0, powerline_mv=0.0, motion_per_min=0.0
    )


def _jumps_outside_qrs(x: np.ndarray, fs: float) -> np.ndarray:
    """``|diff(x)|`` with QRS complexes and the first and last 0.5 s set to 0.

    Samples within 120 ms of a detected R peak are zeroed, and so are the ends,
    where a cut QRS may go undetected.
    """
    jumps = np.abs(np.diff(x))
    jumps[: int(0.5 * fs)] = 0.0
    jumps[-int(0.5 * fs) :] = 0.0
    for i in np.round(detect_r_peaks(x, fs) * fs).astype(int):
        jumps[max(i - int(0.12 * fs), 0) : i + int(0.12 * fs)] = 0.0
    return jumps


def test_state_change_mid_recording_has_no_discontinuity():
    p = _noise_free(13)
    arousal = np.r_[np.zeros(30), np.ones(30)]
    valence = np.r_[np.ones(30), np.zeros(30)]
    x = record(p, 60.0, arousal, valence, seed=1)
    jumps = np.abs(np.diff(x))
    join = slice(int(29 * FS), int(31 * FS))
    assert jumps[join].max() <= 1.05 * np.percentile(jumps, 99.9)  # QRS slope
    r = detect_r_peaks(x, FS)
    rr = np.diff(r)
    around = (r[1:] > 27.0) & (r[1:] < 33.0)
    assert rr[around].min() > 0.8 * np.median(rr[r[1:] > 40.0])  # no phase jump
    before = hrv(r[r < 29.0])["hr"]
    after = hrv(r[r > 31.0])["hr"]
    assert after - before > p.arousal_hr_bpm - p.valence_hr_bpm - 2.0


def test_frequent_state_changes_keep_p_and_t_waves_smooth():
    # 30 joins: some land on a T or P wave, where a stepped state would show
    p = _noise_free(15)
    arousal = np.tile([0.0, 0.0, 1.0, 1.0], 15)
    valence = np.tile([1.0, 1.0, 0.0, 0.0], 15)
    x = record(p, 60.0, arousal, valence, seed=2)
    reference = max(
        _jumps_outside_qrs(record(p, 60.0, a, v, seed=2), FS).max()
        for a, v in [(0.0, 1.0), (1.0, 0.0)]
    )
    assert _jumps_outside_qrs(x, FS).max() <= 1.1 * reference


def test_one_hour_is_fast():
    p = subject(14)
    start = time.perf_counter()
    x = record(p, 3600.0, 0.5)
    assert x.size == 3600 * 256
    assert time.perf_counter() - start < 2.0  # about 0.1 s on a 2-core machine


def test_two_leads_share_the_heartbeat_not_the_morphology():
    p = _noise_free(17)
    lead = draw_lead(p, np.random.default_rng(4))
    np.testing.assert_array_equal(lead.angles, p.angles)  # same timing
    np.testing.assert_array_equal(lead.widths, p.widths)
    assert not np.allclose(lead.amps, p.amps)  # other heights
    x = simulate_leads(
        p,
        [p, lead],
        duration_s=30.0,
        fs=FS,
        arousal=0.3,
        valence=0.5,
        rng=np.random.default_rng(1),
    )
    assert x.shape == (2, int(30 * FS))
    r0, r1 = (detect_r_peaks(v, FS) for v in x)
    assert r0.size == r1.size
    assert np.abs(r0 - r1).max() < 0.03  # the same beats, within a few ms
    # one lead alone is simulate_ecg with the same seed
    alone = simulate_leads(
        p, [p], duration_s=30.0, fs=FS, arousal=0.3, valence=0.5,
        rng=np.random.default_rng(1),
    )[0]  # fmt: skip
    np.testing.assert_array_equal(alone, record(p, 30.0, 0.3, 0.5, seed=-999))
    with pytest.raises(ValueError, match="leads"):
        simulate_leads(p, [], duration_s=1.0, fs=FS, arousal=0, valence=0,
                       rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(TypeError, match="leads"):
        simulate_leads(p, [p, "II"], duration_s=1.0, fs=FS, arousal=0, valence=0,
                       rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(TypeError, match="profile"):
        draw_lead("p", np.random.default_rng(0))


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arousal": -0.1}, "arousal"),
        ({"arousal": 1.1}, "arousal"),
        ({"arousal": np.array([0.2, np.nan] * 5)}, "arousal"),
        ({"valence": 2.0}, "valence"),
        ({"valence": np.zeros((2, 5))}, "valence"),
        ({"valence": np.zeros(3)}, "valence"),  # schedule too short for 10 s
        ({"fs": 0.0}, "fs"),
        ({"fs": -256.0}, "fs"),
        ({"fs": float("nan")}, "fs"),
        ({"fs": 20.0}, "fs"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"chunk_s": -1.0}, "chunk_s"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, match):
    args = {
        "duration_s": 10.0,
        "fs": FS,
        "arousal": 0.5,
        "valence": 0.5,
        "rng": np.random.default_rng(0),
    } | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_ecg(subject(0), **args)


def test_invalid_types_raise_type_error():
    p = subject(0)
    with pytest.raises(TypeError, match="rng"):
        simulate_ecg(p, duration_s=1.0, fs=FS, arousal=0, valence=0, rng=0)
    with pytest.raises(TypeError, match="profile"):
        simulate_ecg(
            {"hr_bpm": 70},
            duration_s=1.0,
            fs=FS,
            arousal=0,
            valence=0,
            rng=np.random.default_rng(0),
        )
    with pytest.raises(TypeError, match="fs"):
        simulate_ecg(
            p,
            duration_s=1.0,
            fs="256",
            arousal=0,
            valence=0,
            rng=np.random.default_rng(),
        )
    with pytest.raises(TypeError, match="rng"):
        draw_subject(42)
    with pytest.raises(ValueError, match="angles"):
        dataclasses.replace(p, angles=np.zeros(4))
    with pytest.raises(ValueError, match="arousal"):
        state_hr_bpm(p, 1.5, 0.5)
