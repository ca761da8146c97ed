"""Signal processing for the window stores: resampling, filtering, masking, windowing.

Functions follow the MNE conventions: samples on the last axis, ``fs`` explicit in Hz,
keyword-only options, new arrays returned (inputs are never modified).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import mne
import numpy as np
from scipy.signal import resample_poly

from ecgssl.config.defaults import defaults

__all__ = [
    "FilterSpec",
    "filter_ecg",
    "interpolate_nans",
    "resample",
    "resample_ratio",
    "saturation_mask",
    "window_starts",
]


def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """Return the exact rational ratio ``(up, down)`` taking ``fs_in`` to ``fs_out``.

    Parameters
    ----------
    fs_in, fs_out : float
        Sampling rates in Hz (700 -> 256 gives ``(64, 175)``; 2048 -> 256 gives
        ``(1, 8)``).
    """
    if not (np.isfinite(fs_in) and fs_in > 0):
        raise ValueError(f"fs_in must be a positive rate in Hz, got {fs_in!r}")
    if not (np.isfinite(fs_out) and fs_out > 0):
        raise ValueError(f"fs_out must be a positive rate in Hz, got {fs_out!r}")
    ratio = Fraction(fs_out).limit_denominator(10**6) / Fraction(
        fs_in
    ).limit_denominator(10**6)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, *, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample with an anti-aliased polyphase filter at the exact rational ratio.

    Uses :func:`scipy.signal.resample_poly` with ``padtype="line"`` so that a DC offset
    (still present before the high-pass) makes no edge transient.

    Parameters
    ----------
    x : np.ndarray, shape (..., n_samples)
        Signal (finite values).
    fs_in, fs_out : float
        Input and output rates in Hz.

    Returns
    -------
    np.ndarray, shape (..., ceil(n_samples * up / down))
        float64.
    """
    up, down = resample_ratio(fs_in, fs_out)
    x = np.asarray(x, dtype=np.float64)
    if up == down:
        return x.copy()
    return resample_poly(x, up, down, axis=-1, padtype="line")


_FILTER = defaults("preprocess.filter")


@dataclass(frozen=True)
class FilterSpec:
    """A zero-phase IIR Butterworth filter (second-order sections).

    ``kind="highpass"`` uses ``l_freq`` (the paper: 0.8 Hz); ``kind="bandpass"`` uses
    ``l_freq`` and ``h_freq`` (the authors' later code: 3-45 Hz). ``order`` is the
    order of one pass; the zero-phase (forward-backward) filter has twice the order and
    its cutoff lies at -6 dB (-3 dB per pass).
    """

    kind: str = _FILTER["kind"]
    l_freq: float = _FILTER["l_freq"]
    h_freq: float | None = _FILTER["h_freq"]
    order: int = _FILTER["order"]

    def __post_init__(self) -> None:
        """Validate the combination of fields."""
        if self.kind not in ("highpass", "bandpass"):
            raise ValueError(
                f"kind must be 'highpass' or 'bandpass', got {self.kind!r}"
            )
        if not self.l_freq > 0:
            raise ValueError(f"l_freq must be > 0 Hz, got {self.l_freq!r}")
        if self.kind == "bandpass" and (
            self.h_freq is None or self.h_freq <= self.l_freq
        ):
            raise ValueError(
                f"h_freq must exceed l_freq for a band-pass, got {self.h_freq}"
            )
        if self.kind == "highpass" and self.h_freq is not None:
            raise ValueError("h_freq must be null for a high-pass filter")
        if not (isinstance(self.order, int) and 1 <= self.order <= 10):
            raise ValueError(f"order must be an integer in 1..10, got {self.order!r}")


def filter_ecg(x: np.ndarray, *, fs: float, spec: FilterSpec) -> np.ndarray:
    """Apply the zero-phase Butterworth filter with MNE (``phase='zero'``, float64).

    Parameters
    ----------
    x : np.ndarray, shape (..., n_samples)
        Finite signal.
    fs : float
        Sampling rate in Hz.
    spec : FilterSpec
        Filter settings.

    Returns
    -------
    np.ndarray
        Filtered float64 copy, same shape.
    """
    if spec.kind == "bandpass" and spec.h_freq is not None and spec.h_freq >= fs / 2:
        raise ValueError(f"h_freq {spec.h_freq} Hz must be below Nyquist ({fs / 2} Hz)")
    x = np.asarray(x, dtype=np.float64)
    return mne.filter.filter_data(
        x,
        sfreq=fs,
        l_freq=spec.l_freq,
        h_freq=spec.h_freq,
        method="iir",
        iir_params={"order": spec.order, "ftype": "butter", "output": "sos"},
        phase="zero",
        copy=True,
        verbose="error",
    )


def interpolate_nans(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill non-finite samples by linear interpolation so that filters can run.

    Returns the filled copy and the boolean mask of samples that were not finite;
    windows touching the mask are dropped later (the filled values never reach a store).
    A signal with no finite sample is returned as zeros with an all-true mask.
    """
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x.copy(), bad
    if bad.all():
        return np.zeros_like(x), bad
    idx = np.arange(x.size)
    filled = x.copy()
    filled[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return filled, bad


def saturation_mask(x: np.ndarray, *, min_run: int) -> np.ndarray:
    """Mark clipped samples: runs of ``min_run`` or more identical extreme samples.

    A saturated amplifier or ADC holds its largest (or smallest) value for several
    samples; a genuine R peak touches the maximum for one or two samples only.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
        Raw signal (NaN allowed; never counted as clipped).
    min_run : int
        Shortest run of identical extreme values that counts as clipping.
    """
    x = np.asarray(x, dtype=np.float64)
    mask = np.zeros(x.size, dtype=bool)
    finite = np.isfinite(x)
    if x.size == 0 or not finite.any() or min_run < 1:
        return mask
    lo, hi = np.min(x[finite]), np.max(x[finite])
    if lo == hi:  # a constant signal is flat, not clipped
        return mask
    for extreme in (lo, hi):
        at = np.concatenate(([False], x == extreme, [False]))
        edges = np.flatnonzero(np.diff(at.astype(np.int8)))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start >= min_run:
                mask[start:stop] = True
    return mask


def window_starts(n_samples: int, *, size: int) -> np.ndarray:
    """Start indices of non-overlapping ``size``-sample windows; the tail is dropped."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return np.arange(0, n_samples - size + 1, size, dtype=np.int64)
