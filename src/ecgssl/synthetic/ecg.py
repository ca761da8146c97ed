"""A vectorised ECGSYN-like ECG generator with documented emotion effects.

The beat model is the closed form of McSharry et al. (2003)'s ECGSYN: the phase
``theta(t)`` advances by ``2*pi/RR(t)`` and each of the P, Q, R, S, T waves is a Gaussian
bump in phase, ``a_i * b_i**2 * exp(-dtheta_i**2 / (2 b_i**2))``. The RR process has a
low-frequency (0.1 Hz, Mayer wave) and a respiratory (RSA) component whose centre
follows the breathing rate, which may change over time.

Emotion effects (all drawn per subject first, then shifted per state; the subject
spread is larger than the state effects on purpose):

===========  =======================  ===========================================
factor       parameter                effect from low to high
===========  =======================  ===========================================
arousal      heart rate               +``arousal_hr_bpm`` (5-15 bpm per subject)
arousal      HR variability           std x (1 - 0.5 arousal): about 4 -> 2 bpm
arousal      LF/HF ratio              x (1 + 3 arousal): RMSSD falls
arousal      breathing rate           0.2 -> 0.35 Hz
arousal      T-wave amplitude         x (1 - ``arousal_t_drop`` arousal), 10-30 %
valence      heart rate               -1.5 bpm x (1 - valence) (deceleration)
valence      T and P amplitude        +-5 % T, +-10 % P around the subject's value
===========  =======================  ===========================================

Arousal and valence are given on a normalised 0-1 scale; dataset writers map each
dataset's native label scale onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SubjectProfile", "draw_subject", "simulate_ecg"]

_GRID_HZ = 4.0  # rate of the RR / state process
_ANGLES = np.deg2rad([-70.0, -15.0, 0.0, 15.0, 100.0])  # P Q R S T
_AMPS = np.array([1.2, -5.0, 30.0, -7.5, 0.4])
_WIDTHS = np.array([0.25, 0.1, 0.1, 0.1, 0.4])


@dataclass(frozen=True)
class SubjectProfile:
    """Per-subject physiology, morphology and noise (drawn by :func:`draw_subject`)."""

    hr_bpm: float  # resting heart rate
    hr_std_bpm: float  # resting heart-rate variability
    lfhf: float  # resting LF/HF ratio
    arousal_hr_bpm: float  # HR increase from arousal 0 to 1
    arousal_t_drop: float  # relative T-wave flattening from arousal 0 to 1
    angles: np.ndarray  # (5,) wave positions in radians (P Q R S T)
    amps: np.ndarray  # (5,) wave amplitudes (ECGSYN units)
    widths: np.ndarray  # (5,) wave widths in radians
    gain_mv: float  # R-wave amplitude in mV
    emg_mv: float  # white muscle noise std
    wander_mv: float  # baseline wander amplitude
    wander_hz: float  # baseline wander frequency
    powerline_mv: float  # mains interference amplitude
    powerline_hz: float  # 50 or 60 Hz
    valence_sign: float  # +-1: direction of the (weak) valence morphology effect


def draw_subject(rng: np.random.Generator) -> SubjectProfile:
    """Draw one subject's profile.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    SubjectProfile
    """
    amps = _AMPS * rng.uniform(0.8, 1.2, 5)
    amps[4] = rng.uniform(0.3, 0.5)  # realistic T/R (ECGSYN's 0.75 is twice too large)
    return SubjectProfile(
        hr_bpm=float(rng.uniform(60.0, 80.0)),
        hr_std_bpm=float(rng.uniform(3.0, 5.0)),
        lfhf=float(rng.uniform(0.5, 1.0)),
        arousal_hr_bpm=float(rng.uniform(5.0, 15.0)),
        arousal_t_drop=float(rng.uniform(0.1, 0.3)),
        angles=_ANGLES + np.deg2rad(rng.uniform(-5.0, 5.0, 5)),
        amps=amps,
        widths=_WIDTHS * rng.uniform(0.85, 1.15, 5),
        gain_mv=float(np.exp(rng.uniform(np.log(0.3), np.log(2.0)))),
        emg_mv=float(rng.uniform(0.005, 0.03)),
        wander_mv=float(rng.uniform(0.05, 0.3)),
        wander_hz=float(rng.uniform(0.1, 0.4)),
        powerline_mv=float(rng.uniform(0.0, 0.02)),
        powerline_hz=float(rng.choice([50.0, 60.0])),
        valence_sign=float(rng.choice([-1.0, 1.0])),
    )


def _schedule(value: ArrayLike, n_grid: int, duration_s: float, name: str) -> np.ndarray:
    """Interpolate a scalar or per-second schedule in [0, 1] onto the state grid."""
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a 1-D per-second schedule")
    if np.any(~np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must lie in [0, 1], got {arr.min()}..{arr.max()}")
    if arr.size == 1:
        return np.full(n_grid, arr[0])
    t_src = np.arange(arr.size) + 0.5
    t_grid = np.arange(n_grid) / _GRID_HZ
    return np.interp(t_grid, t_src, arr)


def _narrowband(n: int, rng: np.random.Generator, centre_hz: float, width_hz: float):
    """Unit-variance Gaussian noise with a Gaussian spectrum at ``centre_hz``."""
    freqs = np.fft.rfftfreq(n, d=1.0 / _GRID_HZ)
    amp = np.exp(-0.5 * ((freqs - centre_hz) / width_hz) ** 2)
    spec = amp * (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size))
    x = np.fft.irfft(spec, n=n)
    return x / (x.std() + 1e-12)


def simulate_ecg(
    profile: SubjectProfile,
    *,
    duration_s: float,
    fs: float,
    arousal: ArrayLike,
    valence: ArrayLike,
    rng: np.random.Generator,
    chunk_s: float = 60.0,
) -> np.ndarray:
    """Simulate an ECG recording of one subject in one (possibly changing) state.

    Parameters
    ----------
    profile : SubjectProfile
        The subject (see :func:`draw_subject`).
    duration_s : float
        Length in seconds.
    fs : float
        Sampling rate in Hz.
    arousal, valence : float | array_like
        Normalised 0-1 state, either constant or a schedule with one value per second
        (interpolated linearly, so state changes have no discontinuity).
    rng : numpy.random.Generator
        The only source of randomness.
    chunk_s : float
        Evaluation chunk length; bounds memory for long recordings.

    Returns
    -------
    np.ndarray, shape (round(duration_s * fs),)
        ECG in mV (float64), including baseline wander, muscle noise and mains.
    """
    if duration_s <= 0 or fs <= 0:
        raise ValueError(f"duration_s and fs must be positive, got {duration_s}, {fs}")
    n = int(round(duration_s * fs))
    n_grid = int(np.ceil(duration_s * _GRID_HZ)) + 2
    a = _schedule(arousal, n_grid, duration_s, "arousal")
    v = _schedule(valence, n_grid, duration_s, "valence")

    # RR process on the state grid
    hr = profile.hr_bpm + profile.arousal_hr_bpm * a - 1.5 * (1.0 - v)
    hr_std = profile.hr_std_bpm * (1.0 - 0.5 * a)
    lfhf = profile.lfhf * (1.0 + 3.0 * a)
    resp_hz = 0.2 + 0.15 * a
    resp_phase = 2 * np.pi * np.cumsum(resp_hz) / _GRID_HZ + rng.uniform(0, 2 * np.pi)
    lf = _narrowband(n_grid, rng, 0.1, 0.01)
    hf = np.sin(resp_phase) * np.sqrt(2.0)
    w_lf, w_hf = np.sqrt(lfhf / (1 + lfhf)), np.sqrt(1 / (1 + lfhf))
    rr = 60.0 / hr + (60.0 * hr_std / hr**2) * (w_lf * lf + w_hf * hf)
    rr = np.clip(rr, 0.3, 2.0)

    t = np.arange(n) / fs
    t_grid = np.arange(n_grid) / _GRID_HZ
    rr_t = np.interp(t, t_grid, rr)
    theta = 2 * np.pi * np.cumsum(1.0 / (rr_t * fs)) + rng.uniform(-np.pi, np.pi)

    # time-varying morphology: arousal flattens T; valence nudges T and P
    a_t = np.interp(t, t_grid, a)
    v_t = np.interp(t, t_grid, v) - 0.5
    hr_t = np.interp(t, t_grid, hr)
    t_scale = (1 - profile.arousal_t_drop * a_t) * (1 + 0.1 * profile.valence_sign * v_t)
    p_scale = 1 + 0.2 * profile.valence_sign * v_t
    resp_t = np.sin(np.interp(t, t_grid, resp_phase))
    r_peak = profile.amps[2] * profile.widths[2] ** 2

    out = np.empty(n)
    step = max(1, int(chunk_s * fs))
    for s in range(0, n, step):
        sl = slice(s, min(n, s + step))
        qt = np.sqrt(hr_t[sl] / 60.0)  # QT shortening with heart rate
        z = np.zeros(sl.stop - sl.start)
        for i in range(5):
            ang = profile.angles[i] * (qt if i != 2 else 1.0)
            width = profile.widths[i] * (qt if i != 2 else 1.0)
            d = np.angle(np.exp(1j * (theta[sl] - ang)))
            amp = profile.amps[i]
            if i == 4:
                amp = amp * t_scale[sl]
            elif i == 0:
                amp = amp * p_scale[sl]
            z += amp * width**2 * np.exp(-0.5 * (d / width) ** 2)
        out[sl] = z / r_peak * (1.0 + 0.05 * resp_t[sl])  # respiratory modulation

    out *= profile.gain_mv
    out += profile.wander_mv * np.sin(
        2 * np.pi * profile.wander_hz * t + rng.uniform(0, 2 * np.pi)
    )
    out += 0.3 * profile.wander_mv * resp_t
    out += profile.powerline_mv * np.sin(
        2 * np.pi * profile.powerline_hz * t + rng.uniform(0, 2 * np.pi)
    )
    out += profile.emg_mv * rng.standard_normal(n)
    return out
