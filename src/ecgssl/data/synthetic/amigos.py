"""Write a synthetic AMIGOS dataset (``Data_Preprocessed_P##.mat``, optional originals).

Layout (docs/datasets.md, AMIGOS): one ``Data_Preprocessed_P##.mat`` per participant,
either directly in ``out_dir`` (``layout="flat"``, as torcheeg expects) or in its own
folder ``Data_Preprocessed_P##/`` (``layout="nested"``). Each holds four 1 x n_trials
cells, in this order: ``joined_data`` (N x 17 double at 128 Hz: columns 0-13 EEG,
14 ECG Right = RA-LL = lead II, 15 ECG Left = LA-LL = lead III, 16 GSR),
``labels_selfassessment`` (1 x 12: arousal, valence, dominance, liking, familiarity
real-valued on 1-9, then seven 0/1 flags neutral, disgust, happiness, surprise, anger,
fear, sadness), ``labels_ext_annotation`` (one row per 20-s segment: segment number,
valence, arousal; the real shape is UNCONFIRMED) and ``VideoIDs`` (char ids such as
``'10'`` or ``'N1'``, shuffled: cell order is not presentation order). With
``write_original=True`` a ``Data_Original_P##.mat`` is written next to each
preprocessed file, holding ``ECG_DATA``: a 1 x n_trials cell of N x 6 doubles at
256 Hz: column 0 a timestamp in ms (trials are timed in a random presentation order,
so cell order is not chronological), 1 the left lead (LA-LL), 2 the right lead
(RA-LL), 3-5 an accelerometer; and the original file's own ``VideoIDs``. Its cells
are in another order than the preprocessed file's (a permutation drawn from
``default_rng([seed, p, 1])``, never the identity for two or more trials), so a
reader must match the two files by video id, not by cell order. The EEG and GSR
variables of the real original files are not written.

Labels and their mapping onto the generator's 0-1 scale
-------------------------------------------------------
The five ratings are stratified draws over 1-9 (one trial per 1/n-th of the range,
shuffled), so they vary within each participant; the generator gets
``arousal = (a - 1) / 8`` and ``valence = (v - 1) / 8``. Trial durations (whole
seconds) and video ids are drawn independently of the ratings.

Units
-----
The original ECG is raw-ADC-like counts (double): ``offset + 400 * mV`` rounded, with
a per-lead offset drawn near 2000 counts (our choice; the real gain is unknown).
Lead III is ``g * lead II`` plus 0.01 mV white noise (``g`` in 0.6-0.9 per
participant). The preprocessed ECG is the same counts with the trial mean removed,
downsampled 256 -> 128 Hz with ``scipy.signal.resample_poly`` (anti-aliased), so both
files show the same heart. EEG and GSR are small placeholder noise (one second tiled
to the trial length, so that the files compress well).

Quirks (``quirks=True``), at the positions :func:`quirk_slots` returns
----------------------------------------------------------------------
``"empty"``: ``joined_data`` (and ``ECG_DATA``) is a 0x0 double and the label row is
1x0; ``"nan_run"``: all 17 columns are NaN for ``min(3 s, duration / 4)`` in the middle
of the trial (preprocessed file only); ``"missing_labels"``: the label row is 1x0
although the data exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from ecgssl.data.synthetic.dreamer import save_mat_v5
from ecgssl.data.synthetic.ecg import SubjectProfile, draw_subject, simulate_ecg
from ecgssl.util.checks import check_int, check_option, validate_type

__all__ = ["VIDEO_IDS", "quirk_slots", "write"]

PREPROCESSED_FS = 128.0
ORIGINAL_FS = 256.0
# the 16 short and the 4 long videos of AMIGOS
VIDEO_IDS = tuple("4 5 9 10 13 18 19 20 23 30 31 34 36 58 80 138 N1 P1 B1 U1".split())
_COUNTS_PER_MV = 400.0
_NAN_RUN_S = 3.0
_SEGMENT_S = 20.0
_LAYOUTS = ("flat", "nested")


def quirk_slots(n_subjects: int, n_trials: int) -> dict[str, tuple[int, int]]:
    """Return where ``write(..., quirks=True)`` plants each quirk.

    Parameters
    ----------
    n_subjects, n_trials : int
        As given to :func:`write`.

    Returns
    -------
    dict
        ``{"empty": (p, t), "nan_run": (p, t), "missing_labels": (p, t)}`` with
        0-based participant index ``p`` (participant ``P{p + 1:02d}``) and 0-based
        cell index ``t``; the three slots are distinct.

    Raises
    ------
    ValueError
        If there are fewer than 3 trials in total.
    """
    if n_subjects * n_trials < 3:
        raise ValueError(
            "quirks=True needs n_subjects * n_trials >= 3, got "
            f"n_subjects={n_subjects}, n_trials={n_trials}"
        )
    last_p, last_t = n_subjects - 1, n_trials - 1
    preferred = [(0, last_t), (0, 0), (last_p, last_t), (last_p, 0)]
    every = [(p, t) for p in range(n_subjects) for t in range(n_trials)]
    slots: list[tuple[int, int]] = []
    for slot in preferred + every:
        if slot not in slots:
            slots.append(slot)
    return {"empty": slots[0], "nan_run": slots[1], "missing_labels": slots[2]}


def _cell_row(items: list[Any]) -> np.ndarray:
    """Return ``items`` as a 1 x n MATLAB cell (object array)."""
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def _ratings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Real-valued ratings on 1-9, stratified over the range, shape (n,)."""
    return 1.0 + 8.0 * (rng.permutation(n) + rng.uniform(size=n)) / n


def _tiled_noise(
    rng: np.random.Generator, n_samples: int, n_cols: int, *, fs: float, std: float
) -> np.ndarray:
    """One second of Gaussian noise tiled to ``n_samples`` rows, (n_samples, n_cols)."""
    block = std * rng.standard_normal((int(fs), n_cols))
    reps = -(-n_samples // block.shape[0])
    return np.tile(block, (reps, 1))[:n_samples]


def _trial(
    profile: SubjectProfile,
    rng: np.random.Generator,
    *,
    duration_s: float,
    arousal: float,
    valence: float,
    gain3: float,
    offsets: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Return (joined_data, N x 17 at 128 Hz; leads II, III in counts at 256 Hz)."""
    lead2 = simulate_ecg(
        profile,
        duration_s=duration_s,
        fs=ORIGINAL_FS,
        arousal=arousal,
        valence=valence,
        rng=rng,
    )
    lead3 = gain3 * lead2 + 0.01 * rng.standard_normal(lead2.size)
    counts = np.column_stack(
        [
            np.round(offsets[0] + _COUNTS_PER_MV * lead2),
            np.round(offsets[1] + _COUNTS_PER_MV * lead3),
        ]
    )
    ecg128 = resample_poly(counts - counts.mean(axis=0), 1, 2, axis=0)
    n = ecg128.shape[0]
    eeg = _tiled_noise(rng, n, 14, fs=PREPROCESSED_FS, std=5.0)
    gsr = 1500.0 + _tiled_noise(rng, n, 1, fs=PREPROCESSED_FS, std=1.0)
    joined = np.column_stack([eeg, ecg128, gsr])
    return joined, counts


def _ext_annotation(
    rng: np.random.Generator, duration_s: float, valence: float, arousal: float
) -> np.ndarray:
    """External annotation per 20-s segment: (segment, valence, arousal) rows."""
    n_seg = max(1, int(duration_s // _SEGMENT_S))
    noise = rng.normal(0.0, 0.5, (n_seg, 2))
    va = np.clip(np.array([valence, arousal]) + noise, 1.0, 9.0)
    return np.column_stack([np.arange(1.0, n_seg + 1.0), va])


def write(
    out_dir: Path,
    *,
    seed: int,
    n_subjects: int = 4,
    n_trials: int = 6,
    trial_s: tuple[float, float] = (60.0, 100.0),
    layout: str = "nested",
    write_original: bool = False,
    quirks: bool = True,
) -> list[Path]:
    """Write synthetic AMIGOS participant files into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Output folder (created if needed).
    seed : int
        Base seed; participant ``p`` (0-based) uses ``default_rng([seed, p])``.
    n_subjects : int
        Number of participants (``P01`` ...).
    n_trials : int
        Number of videos (cells) per participant, at most 20 distinct ids are real
        AMIGOS ids; more get ids ``"1001"``, ``"1002"``, ...
    trial_s : tuple of float
        (min, max) trial duration in s, drawn uniformly and rounded to whole seconds
        (at least 1 s).
    layout : {"flat", "nested"}
        ``out_dir/Data_Preprocessed_P01.mat`` or
        ``out_dir/Data_Preprocessed_P01/Data_Preprocessed_P01.mat``.
    write_original : bool
        Also write ``Data_Original_P##.mat`` (``ECG_DATA``) next to each file.
    quirks : bool
        Plant an empty trial, a NaN run and a missing label row (see
        :func:`quirk_slots`).

    Returns
    -------
    list of Path
        The files written, sorted.
    """
    check_int(seed, "seed", minimum=0)
    check_int(n_subjects, "n_subjects", minimum=1)
    check_int(n_trials, "n_trials", minimum=1)
    lo, hi = (float(x) for x in trial_s)
    if not 1.0 <= lo <= hi:
        raise ValueError(f"trial_s must be (min, max) with 1 <= min <= max: {trial_s}")
    check_option(layout, _LAYOUTS, "layout")
    validate_type(write_original, bool, "write_original")
    validate_type(quirks, bool, "quirks")
    slots = quirk_slots(n_subjects, n_trials) if quirks else {}
    pool = list(VIDEO_IDS) + [str(1001 + i) for i in range(max(0, n_trials - 20))]

    out_dir = Path(out_dir)
    written: list[Path] = []
    for p in range(n_subjects):
        rng = np.random.default_rng([int(seed), p])
        profile = draw_subject(rng)
        gain3 = float(rng.uniform(0.6, 0.9))
        offsets = (float(rng.uniform(1900, 2100)), float(rng.uniform(1900, 2100)))
        ratings = np.column_stack([_ratings(rng, n_trials) for _ in range(5)])
        flags = (rng.random((n_trials, 7)) < 0.3).astype(np.float64)
        videos = [str(v) for v in rng.permutation(pool)[:n_trials]]
        durations = np.maximum(1.0, np.round(rng.uniform(lo, hi, n_trials)))
        presentation = rng.permutation(n_trials)
        start_ms = 1.4e12 + 1e9 * p
        starts = np.empty(n_trials)
        for t in presentation:  # trials follow each other with 30-s pauses
            starts[t] = start_ms
            start_ms += 1000.0 * (durations[t] + 30.0)

        joined, labels, ext, ecg_data = [], [], [], []
        for t in range(n_trials):
            data, counts = _trial(
                profile,
                rng,
                duration_s=float(durations[t]),
                arousal=(ratings[t, 0] - 1.0) / 8.0,
                valence=(ratings[t, 1] - 1.0) / 8.0,
                gain3=gain3,
                offsets=offsets,
            )
            row = np.concatenate([ratings[t], flags[t]]).reshape(1, 12)
            annotation = _ext_annotation(
                rng, float(durations[t]), ratings[t, 1], ratings[t, 0]
            )
            n256 = counts.shape[0]
            stamps = starts[t] + np.arange(n256) * (1000.0 / ORIGINAL_FS)
            accel = 2000.0 + _tiled_noise(rng, n256, 3, fs=ORIGINAL_FS, std=3.0)
            # columns: timestamp (ms), left = lead III, right = lead II, accel x y z
            original = np.column_stack([stamps, counts[:, 1], counts[:, 0], accel])
            if slots.get("empty") == (p, t):
                data = np.zeros((0, 0))
                row = np.zeros((1, 0))
                annotation = np.zeros((0, 0))
                original = np.zeros((0, 0))
            elif slots.get("missing_labels") == (p, t):
                row = np.zeros((1, 0))
            elif slots.get("nan_run") == (p, t):
                run = int(round(min(_NAN_RUN_S, durations[t] / 4.0) * PREPROCESSED_FS))
                start = (data.shape[0] - run) // 2
                data[start : start + run, :] = np.nan
            joined.append(data)
            labels.append(row)
            ext.append(annotation)
            ecg_data.append(original)

        pid = f"P{p + 1:02d}"
        folder = out_dir / f"Data_Preprocessed_{pid}" if layout == "nested" else out_dir
        written.append(
            save_mat_v5(
                folder / f"Data_Preprocessed_{pid}.mat",
                {
                    "joined_data": _cell_row(joined),
                    "labels_selfassessment": _cell_row(labels),
                    "labels_ext_annotation": _cell_row(ext),
                    "VideoIDs": _cell_row(videos),
                },
            )
        )
        if write_original:
            order = np.random.default_rng([int(seed), p, 1]).permutation(n_trials)
            if n_trials > 1 and (order == np.arange(n_trials)).all():
                order = np.roll(order, 1)
            written.append(
                save_mat_v5(
                    folder / f"Data_Original_{pid}.mat",
                    {
                        "ECG_DATA": _cell_row([ecg_data[j] for j in order]),
                        "VideoIDs": _cell_row([videos[j] for j in order]),
                    },
                )
            )
    return sorted(written)
