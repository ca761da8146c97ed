"""Average-beat and rhythm features of preprocessed ECG windows (real or synthetic).

One measurement routine for every source, so that synthetic and real ECG are compared
like for like: the input is what the encoder sees (z-scored windows at 256 Hz after
the 0.8 Hz high-pass, from :func:`ecgssl.data.preprocess.prepare_windows` or a
window store), never the raw signal.

1. **R peaks**: SleepECG's Pan-Tompkins detector (:func:`sleepecg.detect_heartbeats`)
   on each window, each beat moved to the largest sample within 50 ms (the R peak of
   an upright QRS).
2. **Beats**: segments from 350 ms before to 750 ms after each R peak whose two
   neighbouring RR intervals are within 20 % of the window's median (no premature or
   compensatory beat, no missed detection), then only those that correlate at least
   0.9 with the median of all of them from 100 ms before to 150 ms after R (drops
   ectopic beats such as the premature ventricular beats of MIT-BIH record 208,
   and noise-corrupted ones).
3. **Average beat**: the sample-wise mean of the kept beats, R peak at index
   ``round(0.35 * fs)``.
4. **Delineation** of the average beat (the classical slope-threshold and tangent
   methods; see docs/synthetic.md):

   * isoelectric level: mean of the flattest 16 ms between 130 and 25 ms before R;
   * QRS onset and offset: going out from R (after the S nadir, if any), the first
     sample whose slope is below 8 % of the steepest QRS slope and that lies within
     15 % of R of the isoelectric level (onset) or whose slope stays below the
     threshold (offset);
   * Q, S: the minima between onset and R and between R and offset; R, Q, S, T, P
     amplitudes are taken from the isoelectric level;
   * T: the largest deviation (either sign) from 80 ms after the QRS offset to
     ``min(0.6 RR, 560 ms)`` after R; T end where the tangent at the steepest point
     of its descending limb crosses the isoelectric level; QT from QRS onset to T end,
     QTc by Bazett (QT / sqrt(RR));
   * P: the largest deviation from 300 ms (at most 0.45 RR before R) to 20 ms before
     the QRS onset; P
     onset where the tangent at the steepest point of its rising limb crosses the
     isoelectric level; PR from P onset to QRS onset.

Rhythm statistics come from the RR intervals inside each window (no interval spans
two windows): mean heart rate, the standard deviation of the instantaneous heart rate
within windows (averaged over windows) and RMSSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgssl.util.checks import check_int, check_number

__all__ = [
    "BEAT_FEATURES",
    "RHYTHM_FEATURES",
    "AverageBeat",
    "average_beat",
    "beat_features",
    "beat_values_at",
    "delineate",
    "detect_r_peaks",
    "rhythm_features",
]

#: Keys of :func:`beat_features` (durations in ms, amplitudes relative to R).
BEAT_FEATURES: tuple[str, ...] = (
    "qrs_ms",
    "r_width_ms",
    "pr_ms",
    "qt_ms",
    "qtc_ms",
    "r_to_t_ms",
    "q_to_r",
    "s_to_r",
    "r_to_s",
    "t_to_r",
    "p_to_r",
    "t_asymmetry",
    "noise_to_r",
)

#: Keys of :func:`rhythm_features`.
RHYTHM_FEATURES: tuple[str, ...] = ("hr_bpm", "hr_std_bpm", "rmssd_ms", "n_beats")

_PRE_S = 0.35
_POST_S = 0.75
_RR_TOLERANCE = 0.2
_MIN_CORRELATION = 0.9
_R_SEARCH_S = 0.05


def _windows(windows: np.ndarray) -> np.ndarray:
    """Validate windows as a float64 (n_windows, n_samples) array."""
    arr = np.asarray(windows, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(
            f"windows must have shape (n_windows, n_samples), got {np.shape(windows)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("windows must be finite")
    return arr


def detect_r_peaks(x: np.ndarray, *, fs: float) -> np.ndarray:
    """R-peak sample indices of one window or recording.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
        ECG (any units, upright R waves).
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    np.ndarray of int, shape (n_beats,)
        Sorted, unique indices: SleepECG's detections, each moved to the largest
        sample within 50 ms.
    """
    from sleepecg import detect_heartbeats

    fs = check_number(fs, "fs", minimum=0.0, exclusive_minimum=True)
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1))
    if x.size < 2 * fs:  # the detector needs a couple of beats to set thresholds
        return np.zeros(0, dtype=np.int64)
    found = np.asarray(detect_heartbeats(x, fs), dtype=np.int64)
    half = int(round(_R_SEARCH_S * fs))
    out = np.empty(found.size, dtype=np.int64)
    for k, i in enumerate(found):
        lo, hi = max(int(i) - half, 0), min(int(i) + half + 1, x.size)
        out[k] = lo + int(np.argmax(x[lo:hi]))
    return np.unique(out)


@dataclass(frozen=True)
class AverageBeat:
    """The average beat of some windows and what it was made from.

    Attributes
    ----------
    beat : np.ndarray, shape (n_samples,)
        Mean of the kept beats (the windows' units, z-scores for preprocessed
        windows).
    r_index : int
        Index of the R peak in ``beat``.
    fs : float
        Sampling rate in Hz.
    rr_s : float
        Median RR interval of the kept beats in s.
    n_beats : int
        Number of beats averaged.
    noise : float
        Median over kept beats of the standard deviation of (beat - average beat)
        outside the QRS (the beat-to-beat noise, in the windows' units).
    """

    beat: np.ndarray
    r_index: int
    fs: float
    rr_s: float
    n_beats: int
    noise: float


def _segments(
    windows: np.ndarray, fs: float
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Regular beats (n, pre + post samples), their RR (s), and each window's RR."""
    pre, post = int(round(_PRE_S * fs)), int(round(_POST_S * fs))
    segs, rrs, per_window = [], [], []
    for w in windows:
        r = detect_r_peaks(w, fs=fs)
        if r.size < 2:
            continue
        rr = np.diff(r) / fs
        per_window.append(rr)
        if r.size < 3:
            continue
        med = np.median(rr)
        regular = np.abs(rr / med - 1.0) <= _RR_TOLERANCE
        for k in range(1, r.size - 1):
            i = int(r[k])
            if i < pre or i + post > w.size or not (regular[k - 1] and regular[k]):
                continue
            segs.append(w[i - pre : i + post])
            rrs.append(rr[k - 1])
    if not segs:
        return np.zeros((0, pre + post)), np.zeros(0), per_window
    return np.asarray(segs), np.asarray(rrs), per_window


def average_beat(windows: np.ndarray, *, fs: float) -> AverageBeat:
    """Average the regular, typical beats of some windows of one person and lead.

    Parameters
    ----------
    windows : np.ndarray, shape (n_windows, n_samples)
        Preprocessed windows (or one recording as a single row).
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    AverageBeat

    Raises
    ------
    ValueError
        If fewer than 5 beats are left to average.
    """
    fs = check_number(fs, "fs", minimum=0.0, exclusive_minimum=True)
    segs, rrs, _ = _segments(_windows(windows), fs)
    if segs.shape[0] >= 5:
        r = int(round(_PRE_S * fs))
        qrs = segs[:, r - int(round(0.1 * fs)) : r + int(round(0.15 * fs))]
        template = np.median(qrs, axis=0)
        centred = qrs - qrs.mean(axis=1, keepdims=True)
        t = template - template.mean()
        corr = centred @ t / (np.linalg.norm(centred, axis=1) * np.linalg.norm(t))
        keep = corr >= _MIN_CORRELATION
        segs, rrs = segs[keep], rrs[keep]
    if segs.shape[0] < 5:
        raise ValueError(f"only {segs.shape[0]} regular beats found; need at least 5")
    beat = segs.mean(axis=0)
    r = int(round(_PRE_S * fs))
    qrs = slice(r - int(0.08 * fs), r + int(0.08 * fs))
    resid = segs - beat
    resid[:, qrs] = np.nan
    noise = float(np.median(np.nanstd(resid, axis=1)))
    return AverageBeat(beat, r, fs, float(np.median(rrs)), int(segs.shape[0]), noise)


def _tangent_crossing(
    beat: np.ndarray, lo: int, hi: int, base: float, sign: float, fs: float
) -> float:
    """Where the tangent at the steepest point of ``beat[lo:hi]`` meets ``base``.

    ``sign`` is +1 for a rising limb (crossing before the point) and -1 for a falling
    one; returns a fractional sample index (NaN without a usable slope).
    """
    lo, hi = max(lo, 1), min(hi, beat.size - 1)
    if hi - lo < 2:
        return float("nan")
    d = np.gradient(beat)
    k = lo + int(np.argmax(sign * d[lo:hi]))
    slope = d[k]
    if sign * slope <= 0:
        return float("nan")
    return float(k - (beat[k] - base) / slope)


def delineate(avg: AverageBeat) -> dict[str, float]:
    """Wave amplitudes and intervals of an average beat (see the module docstring).

    Parameters
    ----------
    avg : AverageBeat
        From :func:`average_beat`.

    Returns
    -------
    dict
        :data:`BEAT_FEATURES`: ``qrs_ms``, ``r_width_ms`` (R wave above half its
        height, in whole samples), ``pr_ms``, ``qt_ms``, ``qtc_ms`` (Bazett),
        ``r_to_t_ms`` (R peak to T peak), ``q_to_r``, ``s_to_r`` (depths of Q and
        S over the R height, >= 0), ``r_to_s`` (R over S depth, capped at 50),
        ``t_to_r``, ``p_to_r`` (signed: negative for inverted waves),
        ``t_asymmetry`` (duration of the T wave's rise from half height to its peak
        over that of its fall back to half height; > 1 is a slow rise and faster
        fall) and ``noise_to_r`` (beat-to-beat noise over R height). A feature that
        cannot be measured is NaN.
    """
    b, r, fs = avg.beat, avg.r_index, avg.fs

    def ms(n: float) -> float:
        return 1000.0 * n / fs

    def at(s: float) -> int:
        return int(round(s * fs))

    d = np.gradient(b)
    # isoelectric level: the flattest 16 ms between 130 and 25 ms before R
    width = max(2, at(0.016))
    lo, hi = r - at(0.13), r - at(0.025)
    energy = np.convolve(np.abs(d[lo:hi]), np.ones(width) / width, mode="valid")
    start = lo + int(np.argmin(energy))
    base = float(b[start : start + width].mean())
    r_amp = float(b[r] - base)
    near = slice(r - at(0.06), r + at(0.06))
    thr = 0.08 * float(np.max(np.abs(d[near])))

    onset = r
    while onset > r - at(0.15):
        if abs(d[onset]) < thr and abs(b[onset] - base) < 0.15 * r_amp:
            break
        onset -= 1
    s_idx = r + int(np.argmin(b[r : r + at(0.07)]))
    start_off = s_idx if b[s_idx] < base else r
    offset = start_off + 1
    while offset < r + at(0.16):
        if abs(d[offset]) < thr and abs(d[offset + 1]) < thr:
            break
        offset += 1
    q_amp = float(min(b[onset : r + 1].min() - base, 0.0))
    s_amp = float(min(b[r : offset + 1].min() - base, 0.0))

    # T wave
    t_lo = offset + at(0.08)
    t_hi = r + min(at(0.6 * avg.rr_s), at(0.56))
    seg = b[t_lo:t_hi] - base
    t_peak = t_lo + int(np.argmax(np.abs(seg)))
    t_amp = float(b[t_peak] - base)
    sign = 1.0 if t_amp >= 0 else -1.0
    t_end = _tangent_crossing(b, t_peak, t_peak + at(0.2), base, -sign, fs)
    half = base + 0.5 * t_amp
    dev = sign * (b - half)
    rise = t_peak
    while rise > t_lo and dev[rise] > 0:
        rise -= 1
    fall = t_peak
    while fall < b.size - 1 and dev[fall] > 0:
        fall += 1
    asym = (t_peak - rise) / max(fall - t_peak, 1)

    # P wave
    p_lo = max(onset - at(0.3), r - at(0.45 * avg.rr_s), 1)
    p_hi = onset - at(0.02)
    pseg = b[p_lo:p_hi] - base
    p_peak = p_lo + int(np.argmax(np.abs(pseg)))
    p_amp = float(b[p_peak] - base)
    p_sign = 1.0 if p_amp >= 0 else -1.0
    p_on = _tangent_crossing(b, max(p_peak - at(0.08), 1), p_peak + 1, base, p_sign, fs)
    if not p_on >= p_lo - at(0.04):  # no usable P wave (flat, or lost in the T)
        p_on = float("nan")

    qt = ms(t_end - onset)
    s_depth = -s_amp
    above = b - base > 0.5 * r_amp  # R wave above half its height, around R
    left, right = r, r
    while left > 0 and above[left - 1]:
        left -= 1
    while right < b.size - 1 and above[right + 1]:
        right += 1
    return {
        "qrs_ms": ms(offset - onset),
        "r_width_ms": ms(right - left + 1),
        "pr_ms": ms(onset - p_on),
        "qt_ms": qt,
        "qtc_ms": qt / np.sqrt(avg.rr_s),
        "r_to_t_ms": ms(t_peak - r),
        "q_to_r": -q_amp / r_amp,
        "s_to_r": s_depth / r_amp,
        "r_to_s": min(r_amp / s_depth, 50.0) if s_depth > 0 else 50.0,
        "t_to_r": t_amp / r_amp,
        "p_to_r": p_amp / r_amp,
        "t_asymmetry": float(asym),
        "noise_to_r": avg.noise / r_amp,
    }


def beat_features(windows: np.ndarray, *, fs: float) -> dict[str, float]:
    """Delineated features of the average beat of some windows (one person, lead).

    Parameters
    ----------
    windows : np.ndarray, shape (n_windows, n_samples)
        Preprocessed windows.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict
        :data:`BEAT_FEATURES` (see :func:`delineate`).
    """
    return delineate(average_beat(windows, fs=fs))


def beat_values_at(
    windows: np.ndarray, *, fs: float, offsets_ms: tuple[float, ...]
) -> dict[float, float]:
    """Values of the average beat at given offsets from the R peak.

    Parameters
    ----------
    windows : np.ndarray, shape (n_windows, n_samples)
        Preprocessed (z-scored) windows.
    fs : float
        Sampling rate in Hz.
    offsets_ms : tuple of float
        Offsets in ms, within -350 and +750.

    Returns
    -------
    dict
        Offset -> value (nearest sample).
    """
    avg = average_beat(windows, fs=fs)
    out = {}
    for ms in offsets_ms:
        ms = check_number(
            ms, "offsets_ms", minimum=-1000 * _PRE_S, maximum=1000 * _POST_S
        )
        k = avg.r_index + int(round(ms * fs / 1000.0))
        out[ms] = float(avg.beat[min(k, avg.beat.size - 1)])
    return out


def rhythm_features(windows: np.ndarray, *, fs: float) -> dict[str, float]:
    """Heart rate and heart-rate variability from the RR intervals inside windows.

    Intervals more than 20 % away from their window's median (ectopic beats, missed
    or extra detections) are left out of the variability measures.

    Parameters
    ----------
    windows : np.ndarray, shape (n_windows, n_samples)
        Preprocessed windows of one person.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict
        ``hr_bpm`` (60 / mean RR), ``hr_std_bpm`` (standard deviation of the
        instantaneous heart rate within a window, averaged over windows),
        ``rmssd_ms`` and ``n_beats`` (RR intervals used).
    """
    fs = check_number(fs, "fs", minimum=0.0, exclusive_minimum=True)
    _, _, per_window = _segments(_windows(windows), fs)
    all_rr, stds, diffs = [], [], []
    for rr in per_window:
        ok = np.abs(rr / np.median(rr) - 1.0) <= _RR_TOLERANCE
        all_rr.append(rr[ok])
        if ok.sum() >= 3:
            stds.append(float(np.std(60.0 / rr[ok])))
        both = ok[1:] & ok[:-1]
        diffs.append(np.diff(rr)[both])
    rr = np.concatenate(all_rr) if all_rr else np.zeros(0)
    check_int(int(rr.size), "number of RR intervals", minimum=1)
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    return {
        "hr_bpm": float(60.0 / rr.mean()),
        "hr_std_bpm": float(np.mean(stds)) if stds else float("nan"),
        "rmssd_ms": float(1000.0 * np.sqrt(np.mean(d**2))) if d.size else float("nan"),
        "n_beats": float(rr.size),
    }
