"""Heart-rate-variability features of ECG windows: the field's standard baseline.

R peaks come from sleepecg's detector (a fast C implementation of a
Pan-Tompkins-like algorithm, BSD-licensed) and the time-domain HRV indices from
NeuroKit2's ``hrv_time`` (the field's reference implementation, MIT-licensed). Only
indices defined on the few beats of a 10-s window are kept: statistics of the
normal-to-normal intervals and of their successive differences. Frequency-domain
indices need minutes of data and are not computed; neither are the minute-based
(SDANN, SDNNI) and histogram-based (HTI, TINN) indices.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ecgssl.util.checks import check_number

__all__ = ["HRV_COLUMNS", "HRV_INDICES", "MIN_BEATS", "hrv_table", "window_hrv"]

#: NeuroKit2 ``hrv_time`` indices kept (milliseconds, ratios or percentages).
HRV_INDICES = (
    "MeanNN", "SDNN", "RMSSD", "SDSD", "CVNN", "CVSD", "MedianNN", "MadNN",
    "MCVNN", "IQRNN", "pNN50", "pNN20", "MinNN", "MaxNN",
)  # fmt: skip
#: Columns of :func:`hrv_table`: the beat count, the mean heart rate, the indices.
HRV_COLUMNS = ("n_beats", "heart_rate", *(f"HRV_{name}" for name in HRV_INDICES))
#: Windows with fewer detected beats get NaN indices (3 beats give 2 intervals).
MIN_BEATS = 3


def window_hrv(window: np.ndarray, *, fs: float) -> dict[str, float]:
    """R peaks and time-domain HRV indices of one ECG window.

    Parameters
    ----------
    window : np.ndarray, shape (n_samples,)
        One (filtered, z-scored) ECG window.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict
        :data:`HRV_COLUMNS` -> value: ``n_beats`` (detected R peaks),
        ``heart_rate`` (60000 / mean NN interval, beats per minute) and the
        :data:`HRV_INDICES` as ``HRV_<name>``; NaN where fewer than
        :data:`MIN_BEATS` beats were found.
    """
    import neurokit2 as nk
    import sleepecg

    fs = check_number(fs, "fs", minimum=0.0, exclusive_minimum=True)
    x = np.asarray(window, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"window must be 1-D, got shape {x.shape}")
    out = dict.fromkeys(HRV_COLUMNS, np.nan)
    if not np.isfinite(x).all():
        out["n_beats"] = 0.0
        return out
    try:
        peaks = np.asarray(sleepecg.detect_heartbeats(x, fs), dtype=np.int64)
    except ValueError:  # sleepecg refuses a flat signal: no beat to find
        peaks = np.zeros(0, dtype=np.int64)
    out["n_beats"] = float(peaks.size)
    if peaks.size < MIN_BEATS:
        return out
    with warnings.catch_warnings():  # NeuroKit2 warns about short recordings
        warnings.simplefilter("ignore")
        table = nk.hrv_time(peaks, sampling_rate=fs)
    for name in HRV_INDICES:
        value = table[f"HRV_{name}"].iloc[0]
        out[f"HRV_{name}"] = float(value) if np.isfinite(value) else np.nan
    out["heart_rate"] = 60000.0 / out["HRV_MeanNN"]
    return out


def hrv_table(windows: Iterable[np.ndarray], *, fs: float) -> pd.DataFrame:
    """:func:`window_hrv` of every window, one row each, in order.

    Parameters
    ----------
    windows : iterable of np.ndarray, each (n, n_samples)
        Blocks of windows (e.g. :func:`ecgssl.data.store.iter_ecg`).
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HRV_COLUMNS` (float64), one row per window.
    """
    rows = [window_hrv(w, fs=fs) for block in windows for w in np.asarray(block)]
    return pd.DataFrame(rows, columns=list(HRV_COLUMNS), dtype=np.float64)
