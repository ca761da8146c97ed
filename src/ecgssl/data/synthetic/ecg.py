"""A vectorised ECGSYN-like ECG generator with realistic beats and emotion effects.

Beat model
----------
The closed form of McSharry et al. (2003)'s ECGSYN: the cardiac phase ``theta(t)``
advances at ``2*pi*HR(t)/60`` rad/s and each of the P, Q, R, S and T waves is a
Gaussian bump in phase around its angle (the P and T waves with a separate width on
each side). Unlike ECGSYN, the peak height of wave ``i`` is fixed at
``amps[i] * widths[i]**2`` (relative to the R wave, whose peak is ``gain_mv``)
whatever the heart rate, and the angles and widths are rescaled with the
instantaneous heart rate so that the QRS keeps its duration in time, the PR interval
shortens a little (``RR**0.25``) and the QT interval follows Bazett (``RR**0.5``).
The phase is integrated exactly on a 4 Hz state grid (piecewise-quadratic phase), so
the output does not depend on ``chunk_s`` and state changes never produce a jump.

Every wave is drawn per subject from published normal ranges (in time at 60 bpm;
docs/synthetic.md gives the sources), so that no single waveform detail is shared by
all subjects:

* PR interval 120-200 ms (mean 160), P duration 80-110 ms, P height 5-20 % of R
  (flat or slightly inverted in 15 % of leads);
* QRS: R wave sigma 7-11 ms; Q wave 16-24 ms before R and S wave 16-30 ms after R
  (sigmas 4-7 and 8-16 ms), which gives a measured single-lead QRS of about 55-90 ms;
  Q depth up to 5 % of R, or a marked Q of 8-30 % in 45 % of leads; S depth 0-50 %
  of R, most often small (a squared uniform draw, median 12 %);
* QT: QTc (Bazett) 350-440 ms (mean 385); T peak 2 falling sigmas before the QT
  end; rising sigma 45-75 ms and a falling half 55-85 % as wide (slow rise, faster
  fall); T height 7-21 % of R, inverted (5-20 %) in 8 % of leads.

A second lead of the same heart (:func:`draw_lead`, :func:`simulate_leads`) keeps
the timing and redraws the lead-dependent heights and the gain.

Heart rate process
------------------
``HR(t) = mean(t) + std(t) * (VLF + LF + HF)``: a very-low-frequency band
(0.025 Hz, 10 % of the variance), a Mayer-wave band (0.1 Hz) and a respiratory sinus
arrhythmia (RSA) term locked to the breathing phase, whose rate drifts by a few
percent and follows arousal. LF and HF share the remaining variance according to
the LF/HF ratio. Rare premature atrial beats (a phase advance in diastole that
resets the sinus rhythm) occur at ``ectopic_per_min``.

Noise
-----
Baseline wander (narrow-band around ``wander_hz`` plus a respiratory component),
respiratory amplitude modulation of the beats, white EMG noise, mains at 50 or
60 Hz (omitted when above Nyquist) and rare short motion artifacts (0.2-1 s
bumps). None of them depends on the emotional state.

Emotion effects
---------------
Every parameter is drawn per subject first (:func:`draw_subject`), then shifted per
state; the subject spread is larger than the state effects on purpose (resting HR
60-80 bpm against an arousal effect of 5-15 bpm; the valence effects are smaller
still). Arousal ``a`` and valence ``v`` are given on a normalised 0-1 scale;
dataset writers map each dataset's native label scale onto it.

===========  ===================  =================================================
factor       parameter            effect (``a``, ``v`` in [0, 1])
===========  ===================  =================================================
arousal      heart rate           + ``arousal_hr_bpm * a`` (5-15 bpm per subject)
arousal      HR variability       std x (1 - 0.4 a): 3-5 bpm at rest, 1.8-3 at 1
arousal      LF/HF ratio          x (1 + 3 a): 0.5-1 -> 2-4, so RMSSD falls more
arousal      breathing rate       ``resp_hz`` + 0.12 a Hz (0.18-0.25 -> 0.30-0.37)
arousal      T-wave amplitude     x (1 - ``arousal_t_drop * a``), 10-30 % flatter
valence      heart rate           + ``valence_hr_bpm * (v - 0.5)`` (1-2 bpm range;
                                  unpleasant decelerates)
valence      T-wave amplitude     x (1 + 0.1 ``valence_sign`` (v - 0.5)): +-5 %
valence      P-wave amplitude     x (1 + 0.2 ``valence_sign`` (v - 0.5)): +-10 %
===========  ===================  =================================================

The per-subject sign of the valence morphology effect means that no fixed
morphology cue predicts valence across subjects. Amplitude carries no state
information: the subject gain (0.3-2 mV, log-uniform) dwarfs the T-wave effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "SubjectProfile",
    "draw_lead",
    "draw_subject",
    "simulate_ecg",
    "simulate_leads",
    "state_hr_bpm",
]

_GRID_HZ = 4.0  # rate of the heart-rate / state process
_TWO_PI = 2 * np.pi
_R_AMP = 30.0  # ECGSYN's R amplitude; the other amplitudes are set relative to it
# exponent of HR/60 by which each wave's angle and width grow: QRS fixed in time
# (1), PR ~ RR**0.25 (0.75), QT ~ RR**0.5 (Bazett, 0.5)
_HR_EXPONENT = np.array([0.75, 1.0, 1.0, 1.0, 0.5])
_VLF_SHARE = 0.1  # fraction of the HR variance below 0.04 Hz
_AROUSAL_RESP_HZ = 0.12  # breathing-rate increase from arousal 0 to 1
_NOISE_GRID = 1200  # minimum grid length of the coloured noises (300 s)
_MIN_FS = 50.0


@dataclass(frozen=True)
class SubjectProfile:
    """Per-subject physiology, morphology and noise (drawn by :func:`draw_subject`).

    Wave arrays are ordered P, Q, R, S, T. The peak of wave ``i`` relative to the R
    peak is ``amps[i] * widths[i]**2 / (amps[2] * widths[2]**2)``; angles and
    widths are ``2 * pi`` times the wave's time from R and its sigma in seconds at
    60 bpm. ``widths[0]`` and ``widths[4]`` are the rising halves of P and T; their
    falling halves are ``p_fall`` and ``t_fall`` times as wide.
    """

    hr_bpm: float  # heart rate at arousal 0, valence 0.5
    hr_std_bpm: float  # heart-rate standard deviation at arousal 0
    lfhf: float  # LF/HF variance ratio at arousal 0
    arousal_hr_bpm: float  # HR increase from arousal 0 to 1
    arousal_t_drop: float  # relative T-wave flattening from arousal 0 to 1
    angles: np.ndarray  # (5,) wave positions in radians at 60 bpm
    amps: np.ndarray  # (5,) wave amplitudes (ECGSYN units)
    widths: np.ndarray  # (5,) wave widths in radians at 60 bpm
    gain_mv: float  # R-wave amplitude in mV
    emg_mv: float  # white muscle noise std in mV
    wander_mv: float  # baseline wander amplitude in mV
    wander_hz: float  # baseline wander centre frequency in Hz
    powerline_mv: float  # mains interference amplitude in mV
    powerline_hz: float  # 50 or 60 Hz
    valence_sign: float  # +-1: direction of the (weak) valence morphology effect
    resp_hz: float = 0.22  # breathing rate at arousal 0, Hz
    resp_am: float = 0.05  # respiratory amplitude modulation of the beats (fraction)
    valence_hr_bpm: float = 1.5  # HR difference between valence 1 and valence 0
    ectopic_per_min: float = 0.0  # premature atrial beats per minute
    motion_per_min: float = 0.0  # motion artifacts per minute
    motion_mv: float = 0.0  # typical motion-artifact amplitude in mV
    t_fall: float = 0.75  # width of the T wave's falling half relative to its rise
    p_fall: float = 1.0  # width of the P wave's falling half relative to its rise

    def __post_init__(self) -> None:
        """Check the wave arrays and store read-only float copies."""
        for name in ("angles", "amps", "widths"):
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != (5,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be 5 finite values (P Q R S T)")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if not np.all(self.widths > 0):
            raise ValueError("widths must be positive")
        if not self.amps[2] > 0:
            raise ValueError("amps[2] (the R wave) must be positive")
        for name in ("t_fall", "p_fall"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and positive, got {value}")


def _draw_heights(rng: np.random.Generator) -> np.ndarray:
    """Peak heights of P, Q, R, S, T relative to R for one lead (R = 1)."""
    upright_p = rng.uniform() >= 0.15
    p = rng.uniform(0.05, 0.2) if upright_p else rng.uniform(-0.08, 0.04)
    marked_q = rng.uniform() < 0.45
    q = rng.uniform(0.08, 0.3) if marked_q else rng.uniform(0.0, 0.05)
    s = 0.5 * rng.uniform() ** 2  # most leads: a small S; some a deep one
    upright_t = rng.uniform() >= 0.08
    t = rng.uniform(0.07, 0.21) if upright_t else -rng.uniform(0.05, 0.2)
    return np.array([p, -q, 1.0, -s, t])


def _amps(heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """ECGSYN amplitudes giving peak ``heights`` (relative to R) at ``widths``."""
    return heights * _R_AMP * widths[2] ** 2 / widths**2


def _draw_gain(rng: np.random.Generator) -> float:
    """R amplitude in mV, log-uniform in 0.3-2."""
    return float(np.exp(rng.uniform(np.log(0.3), np.log(2.0))))


def draw_subject(rng: np.random.Generator) -> SubjectProfile:
    """Draw one subject's profile (the heart, and its ECG in one lead).

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    SubjectProfile
        Resting HR 60-80 bpm, HR std 3-5 bpm, LF/HF 0.5-1; wave timing and heights
        from published normal ranges (see the module docstring); gain 0.3-2 mV
        (log-uniform), EMG 0.005-0.03 mV, baseline wander 0.05-0.3 mV at 0.1-0.4 Hz,
        mains 0-0.02 mV.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    # timing in seconds at 60 bpm, relative to the R peak
    sig_r = rng.uniform(0.007, 0.011)
    t_q, sig_q = -rng.uniform(0.016, 0.024), rng.uniform(0.004, 0.007)
    t_s, sig_s = rng.uniform(0.016, 0.030), rng.uniform(0.008, 0.016)
    qrs_onset = -t_q + 2.0 * sig_q  # before R
    pr = float(np.clip(rng.normal(0.160, 0.018), 0.12, 0.20))
    p_dur = rng.uniform(0.08, 0.11)
    sig_p = p_dur / 5.0
    t_p = -(qrs_onset + pr - 2.5 * sig_p)
    qtc = float(np.clip(rng.normal(0.385, 0.02), 0.35, 0.44))
    sig_t = rng.uniform(0.045, 0.075)
    t_fall = rng.uniform(0.55, 0.85)
    t_t = qtc - qrs_onset - 2.0 * sig_t * t_fall  # T end = peak + 2 falling sigmas
    times = np.array([t_p, t_q, 0.0, t_s, t_t])
    widths = _TWO_PI * np.array([sig_p, sig_q, sig_r, sig_s, sig_t])
    amps = _amps(_draw_heights(rng), widths)
    has_ectopy = rng.uniform() < 0.3
    ectopic = float(rng.uniform(0.05, 0.5)) if has_ectopy else 0.0
    return SubjectProfile(
        hr_bpm=float(rng.uniform(60.0, 80.0)),
        hr_std_bpm=float(rng.uniform(3.0, 5.0)),
        lfhf=float(rng.uniform(0.5, 1.0)),
        arousal_hr_bpm=float(rng.uniform(5.0, 15.0)),
        arousal_t_drop=float(rng.uniform(0.1, 0.3)),
        angles=_TWO_PI * times,
        amps=amps,
        widths=widths,
        gain_mv=_draw_gain(rng),
        emg_mv=float(rng.uniform(0.005, 0.03)),
        wander_mv=float(rng.uniform(0.05, 0.3)),
        wander_hz=float(rng.uniform(0.1, 0.4)),
        powerline_mv=float(rng.uniform(0.0, 0.02)),
        powerline_hz=float(rng.choice([50.0, 60.0])),
        valence_sign=float(rng.choice([-1.0, 1.0])),
        resp_hz=float(rng.uniform(0.18, 0.25)),
        resp_am=float(rng.uniform(0.03, 0.08)),
        valence_hr_bpm=float(rng.uniform(1.0, 2.0)),
        ectopic_per_min=ectopic,
        motion_per_min=float(rng.uniform(0.0, 0.5)),
        motion_mv=float(rng.uniform(0.05, 0.5)),
        t_fall=float(t_fall),
    )


def draw_lead(profile: SubjectProfile, rng: np.random.Generator) -> SubjectProfile:
    """Another lead of the same subject: same heart, different projection.

    Parameters
    ----------
    profile : SubjectProfile
        The subject (from :func:`draw_subject`).
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    SubjectProfile
        ``profile`` with new wave heights (as drawn by :func:`draw_subject`), gain
        and muscle noise; wave timing, rhythm and state effects are kept. Use it
        with :func:`simulate_leads` to record both leads of one heart.
    """
    if not isinstance(profile, SubjectProfile):
        raise TypeError(f"profile must be a SubjectProfile, got {type(profile)}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    return replace(
        profile,
        amps=_amps(_draw_heights(rng), profile.widths),
        gain_mv=_draw_gain(rng),
        emg_mv=float(rng.uniform(0.005, 0.03)),
    )


def state_hr_bpm(profile: SubjectProfile, arousal: float, valence: float) -> float:
    """Mean heart rate that :func:`simulate_ecg` targets in a constant state.

    Parameters
    ----------
    profile : SubjectProfile
        The subject.
    arousal, valence : float
        Normalised state in [0, 1].

    Returns
    -------
    float
        Heart rate in beats per minute.
    """
    a = _check_unit(arousal, "arousal")
    v = _check_unit(valence, "valence")
    return float(
        profile.hr_bpm + profile.arousal_hr_bpm * a + profile.valence_hr_bpm * (v - 0.5)
    )


def _check_unit(value: float, name: str) -> float:
    """Return ``value`` as a float after checking it lies in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value)}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return float(value)


def _schedule(
    value: ArrayLike, n_grid: int, duration_s: float, name: str
) -> np.ndarray:
    """Interpolate a scalar or per-second schedule in [0, 1] onto the state grid."""
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number or a 1-D array of numbers") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D schedule")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must lie in [0, 1], got {arr.min()}..{arr.max()}")
    if arr.size == 1:
        return np.full(n_grid, arr[0])
    if arr.size < int(np.floor(duration_s)):
        raise ValueError(
            f"{name} schedule has {arr.size} values for {duration_s} s: give one value"
            " per second (or a scalar)"
        )
    t_src = np.arange(arr.size) + 0.5  # value k holds at the centre of second k
    t_grid = np.arange(n_grid) / _GRID_HZ
    return np.interp(t_grid, t_src, arr)


def _narrowband(
    n: int, rng: np.random.Generator, centre_hz: float, width_hz: float
) -> np.ndarray:
    """Gaussian noise on the state grid with a Gaussian spectrum at ``centre_hz``.

    It is drawn over at least 300 s and normalised to unit variance there, so short
    recordings keep the natural window-to-window variation of their power.
    """
    m = max(n, _NOISE_GRID)
    freqs = np.fft.rfftfreq(m, d=1.0 / _GRID_HZ)
    amp = np.exp(-0.5 * ((freqs - centre_hz) / width_hz) ** 2)
    amp[0] = 0.0
    spec = amp * (
        rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    )
    x = np.fft.irfft(spec, n=m)
    return x[:n] / (x.std() + 1e-300)


@dataclass
class _Plan:
    """Everything drawn before rendering: the state grid and sparse events."""

    t_grid: np.ndarray  # (n_grid,) s
    phase: np.ndarray  # (n_grid,) rad, cardiac phase at the grid nodes
    omega: np.ndarray  # (n_grid,) rad/s
    hr: np.ndarray  # (n_grid,) bpm, instantaneous
    arousal: np.ndarray  # (n_grid,)
    valence: np.ndarray  # (n_grid,)
    resp_phase: np.ndarray  # (n_grid,) rad
    wander: np.ndarray  # (n_grid,) in units of the lead's wander_mv
    jump_t: np.ndarray  # (2 k,) knots of the ectopic phase advances, s
    jump_phase: np.ndarray  # (2 k,) cumulative phase advance at the knots, rad
    # (start s, duration s, amp, amp2), amplitudes in units of the lead's motion_mv
    motion: list[tuple[float, float, float, float]]
    mains_phase: float


def _phase_at(plan: _Plan, t: np.ndarray) -> np.ndarray:
    """Exact integral of the piecewise-linear angular rate, plus ectopic advances."""
    k = np.clip((t * _GRID_HZ).astype(np.int64), 0, plan.t_grid.size - 2)
    tau = t - plan.t_grid[k]
    slope = (plan.omega[k + 1] - plan.omega[k]) * _GRID_HZ
    theta = plan.phase[k] + plan.omega[k] * tau + 0.5 * slope * tau**2
    if plan.jump_t.size:
        theta += np.interp(t, plan.jump_t, plan.jump_phase)
    return theta


def _wave_geometry(
    profile: SubjectProfile, hr: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Angles and widths (rad) of the five waves at heart rate ``hr`` (bpm)."""
    scale = (np.asarray(hr)[..., None] / 60.0) ** _HR_EXPONENT
    return profile.angles * scale, profile.widths * scale


def _ectopic_events(
    profile: SubjectProfile, plan: _Plan, duration_s: float, rng: np.random.Generator
) -> None:
    """Place premature atrial beats: a quick phase advance inside diastole."""
    n_ev = rng.poisson(profile.ectopic_per_min * duration_s / 60.0)
    starts = np.sort(rng.uniform(1.0, max(duration_s - 2.0, 1.0), n_ev))
    fracs = rng.uniform(0.6, 1.0, n_ev)
    knots_t: list[float] = []
    knots_p: list[float] = []
    total = 0.0
    ramp_s = 0.06
    last = -np.inf
    for t0, frac in zip(starts, fracs, strict=True):
        if t0 < last + 3.0:
            continue
        hr0 = float(np.interp(t0, plan.t_grid, plan.hr))
        ang, wid = _wave_geometry(profile, hr0)
        # from the T downstroke (where a PAC's P wave often hides) to the next P
        t_end = ang[4] + 2.0 * profile.t_fall * wid[4]
        p_start = ang[0] - 2.5 * wid[0] + 2 * np.pi  # start of the next P
        if p_start - t_end < 0.3:
            continue  # no diastole left at this heart rate
        t_fine = t0 + np.arange(0.0, 2.5, 0.002)
        theta = _phase_at(plan, t_fine) + total
        cycles = np.floor((theta - t_end) / (2 * np.pi))
        hit = np.flatnonzero(np.diff(cycles) > 0)
        if hit.size == 0 or t_fine[hit[0]] + ramp_s > duration_s:
            continue
        t_jump = float(t_fine[hit[0] + 1])
        knots_t += [t_jump, t_jump + ramp_s]
        knots_p += [total, total + frac * (p_start - t_end)]
        total = knots_p[-1]
        last = t_jump
    plan.jump_t = np.asarray(knots_t)
    plan.jump_phase = np.asarray(knots_p)


def _plan(
    profile: SubjectProfile,
    duration_s: float,
    arousal: ArrayLike,
    valence: ArrayLike,
    rng: np.random.Generator,
) -> _Plan:
    """Draw the state-grid processes and sparse events of one recording."""
    n_grid = int(np.ceil(duration_s * _GRID_HZ)) + 2
    t_grid = np.arange(n_grid) / _GRID_HZ
    a = _schedule(arousal, n_grid, duration_s, "arousal")
    v = _schedule(valence, n_grid, duration_s, "valence")

    # breathing: rate follows arousal and drifts a few percent; depth varies slowly
    resp_hz = (profile.resp_hz + _AROUSAL_RESP_HZ * a) * (
        1.0 + 0.04 * _narrowband(n_grid, rng, 0.02, 0.01)
    )
    resp_phase = 2 * np.pi * np.cumsum(resp_hz) / _GRID_HZ + rng.uniform(0, 2 * np.pi)
    depth = 1.0 + 0.2 * _narrowband(n_grid, rng, 0.03, 0.015)

    # heart rate: mean and variability by state, VLF + LF (Mayer) + HF (RSA)
    hr_mean = profile.hr_bpm + profile.arousal_hr_bpm * a
    hr_mean = hr_mean + profile.valence_hr_bpm * (v - 0.5)
    hr_std = profile.hr_std_bpm * (1.0 - 0.4 * a)
    lfhf = profile.lfhf * (1.0 + 3.0 * a)
    vlf = _narrowband(n_grid, rng, 0.025, 0.01)
    lf = _narrowband(n_grid, rng, 0.1, 0.015)
    hf = np.sqrt(2.0 / 1.04) * depth * np.sin(resp_phase)  # HR rises in inspiration
    w_vlf = np.sqrt(_VLF_SHARE)
    w_lf = np.sqrt((1 - _VLF_SHARE) * lfhf / (1 + lfhf))
    w_hf = np.sqrt((1 - _VLF_SHARE) / (1 + lfhf))
    hr = hr_mean + hr_std * (w_vlf * vlf + w_lf * lf + w_hf * hf)
    hr = np.clip(hr, 30.0, 200.0)
    omega = 2 * np.pi * hr / 60.0
    phase = np.empty(n_grid)
    phase[0] = rng.uniform(-np.pi, np.pi)
    phase[1:] = phase[0] + np.cumsum(0.5 * (omega[1:] + omega[:-1])) / _GRID_HZ

    # baseline wander: narrow band around the subject's frequency plus breathing
    wander = _narrowband(n_grid, rng, profile.wander_hz, 0.05) / np.sqrt(
        2.0
    ) + 0.3 * np.sin(resp_phase)

    plan = _Plan(
        t_grid=t_grid,
        phase=phase,
        omega=omega,
        hr=hr,
        arousal=a,
        valence=v,
        resp_phase=resp_phase,
        wander=wander,
        jump_t=np.empty(0),
        jump_phase=np.empty(0),
        motion=[],
        mains_phase=float(rng.uniform(0, 2 * np.pi)),
    )
    _ectopic_events(profile, plan, duration_s, rng)

    n_mot = rng.poisson(profile.motion_per_min * duration_s / 60.0)
    for _ in range(n_mot):
        start = float(rng.uniform(0.0, duration_s))
        dur = float(rng.uniform(0.2, 1.0))
        amp = float(rng.standard_normal())
        amp2 = float(rng.standard_normal())
        plan.motion.append((start, dur, amp, amp2))
    return plan


def _render(
    profile: SubjectProfile,
    plan: _Plan,
    t: np.ndarray,
    fs: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Evaluate the ECG (mV) at times ``t`` (s); draws the EMG noise from ``rng``."""
    theta = _phase_at(plan, t)
    hr_t = np.interp(t, plan.t_grid, plan.hr)
    a_t = np.interp(t, plan.t_grid, plan.arousal)
    v_t = np.interp(t, plan.t_grid, plan.valence) - 0.5
    resp_t = np.sin(np.interp(t, plan.t_grid, plan.resp_phase))

    peaks = profile.amps * profile.widths**2
    peaks = peaks / peaks[2]
    t_scale = (1.0 - profile.arousal_t_drop * a_t) * (
        1.0 + 0.1 * profile.valence_sign * v_t
    )
    p_scale = 1.0 + 0.2 * profile.valence_sign * v_t
    hr_scale = hr_t / 60.0
    fall = {0: profile.p_fall, 4: profile.t_fall}

    z = np.zeros(t.size)
    for i in range(5):
        if peaks[i] == 0.0:
            continue
        s = hr_scale ** _HR_EXPONENT[i]
        d = np.mod(theta - profile.angles[i] * s + np.pi, _TWO_PI) - np.pi
        d /= profile.widths[i] * s
        if i in fall and fall[i] != 1.0:  # P, T: own width on the falling side
            d /= np.where(d < 0, 1.0, fall[i])
        bump = np.exp(-0.5 * d * d)
        if i == 0:
            bump *= p_scale
        elif i == 4:
            bump *= t_scale
        z += peaks[i] * bump

    out = z * (profile.gain_mv * (1.0 + profile.resp_am * resp_t))
    out += profile.wander_mv * np.interp(t, plan.t_grid, plan.wander)
    if profile.powerline_mv > 0 and profile.powerline_hz < fs / 2:
        out += profile.powerline_mv * np.sin(
            _TWO_PI * profile.powerline_hz * t + plan.mains_phase
        )
    for start, dur, amp, amp2 in plan.motion:
        if start > t[-1] or start + dur < t[0]:
            continue
        sel = (t >= start) & (t <= start + dur)
        u = (t[sel] - start) / dur
        env = np.sin(np.pi * u)
        out[sel] += profile.motion_mv * env * (amp * env + amp2 * np.sin(_TWO_PI * u))
    if profile.emg_mv > 0:
        out += profile.emg_mv * rng.standard_normal(t.size)
    return out


def _positive(value: float, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value)}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and positive, got {value}")
    return float(value)


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
        Sampling rate in Hz, at least 50.
    arousal, valence : float | array_like
        Normalised 0-1 state, either constant or a schedule with one value per
        second (value ``k`` holds at ``k + 0.5`` s; linear interpolation in between
        and constant beyond the ends, so state changes have no discontinuity). A
        schedule needs at least ``floor(duration_s)`` values.
    rng : numpy.random.Generator
        The only source of randomness.
    chunk_s : float
        Evaluation chunk length in seconds; bounds the memory of long recordings
        and does not change the result.

    Returns
    -------
    np.ndarray, shape (round(duration_s * fs),)
        ECG in mV (float64), including baseline wander, muscle noise, mains and
        motion artifacts.
    """
    return simulate_leads(
        profile,
        [profile],
        duration_s=duration_s,
        fs=fs,
        arousal=arousal,
        valence=valence,
        rng=rng,
        chunk_s=chunk_s,
    )[0]


def simulate_leads(
    profile: SubjectProfile,
    leads: Sequence[SubjectProfile],
    *,
    duration_s: float,
    fs: float,
    arousal: ArrayLike,
    valence: ArrayLike,
    rng: np.random.Generator,
    chunk_s: float = 60.0,
) -> np.ndarray:
    """Simulate several leads of one heart in one (possibly changing) state.

    The heartbeat (rhythm, ectopic beats, breathing), baseline wander and motion
    artifacts are shared; each lead has its own wave heights, gain and noise
    amplitudes, and independent muscle noise.

    Parameters
    ----------
    profile : SubjectProfile
        The subject: its rhythm and state fields drive every lead.
    leads : sequence of SubjectProfile
        One profile per lead, e.g. ``[profile, draw_lead(profile, rng)]``; their
        morphology, gain and noise fields are used.
    duration_s, fs, arousal, valence, rng, chunk_s
        As for :func:`simulate_ecg`.

    Returns
    -------
    np.ndarray, shape (len(leads), round(duration_s * fs))
        ECG in mV (float64).
    """
    if not isinstance(profile, SubjectProfile):
        raise TypeError(f"profile must be a SubjectProfile, got {type(profile)}")
    leads = list(leads)
    if not leads:
        raise ValueError("leads must hold at least one SubjectProfile")
    for k, lead in enumerate(leads):
        if not isinstance(lead, SubjectProfile):
            raise TypeError(f"leads[{k}] must be a SubjectProfile, got {type(lead)}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    duration_s = _positive(duration_s, "duration_s")
    fs = _positive(fs, "fs")
    chunk_s = _positive(chunk_s, "chunk_s")
    if fs < _MIN_FS:
        raise ValueError(f"fs must be at least {_MIN_FS} Hz, got {fs}")
    n = int(round(duration_s * fs))
    if n < 1:
        raise ValueError(f"duration_s * fs must give at least one sample, got {n}")

    plan = _plan(profile, duration_s, arousal, valence, rng)
    out = np.empty((len(leads), n))
    step = max(1, int(chunk_s * fs))
    for start in range(0, n, step):
        stop = min(n, start + step)
        t = np.arange(start, stop) / fs
        for k, lead in enumerate(leads):
            out[k, start:stop] = _render(lead, plan, t, fs, rng)
    return out
