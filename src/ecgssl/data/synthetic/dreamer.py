"""Write a synthetic DREAMER dataset (``DREAMER.mat``) in the native v5 struct layout.

Layout (as in the Zenodo release, see docs/datasets.md, DREAMER): variable
``DREAMER``, a 1x1 struct with the 10 fields ``Data``, ``EEG_SamplingRate`` (128),
``ECG_SamplingRate`` (256), ``EEG_Electrodes`` (1x14 cell), ``noOfSubjects``,
``noOfVideoSequences``, ``Disclaimer``, ``Provider``, ``Version``,
``Acknowledgement``. ``Data`` is a 1 x n_subjects cell of 1x1 structs with fields
``Age``, ``Gender``, ``EEG``, ``ECG``, ``ScoreValence``, ``ScoreArousal``,
``ScoreDominance``; ``EEG``/``ECG`` are 1x1 structs with ``baseline`` and ``stimuli``,
each an n_trials x 1 cell of (samples x channels) doubles; scores are n_trials x 1
doubles.

Labels and their mapping onto the generator's 0-1 scale
-------------------------------------------------------
Scores are integers 1-5. Each subject's arousal, valence and dominance vectors are
shuffled, cycled draws of the five levels, so they vary within every subject (two
trials never share all levels when ``n_trials >= 2``). The generator gets
``arousal = (ScoreArousal - 1) / 4`` and ``valence = (ScoreValence - 1) / 4``;
dominance has no physiological effect. Baselines are simulated at the neutral state
0.5 / 0.5 (score 3). Trial durations are drawn independently of the scores.

Units
-----
ECG is stored as raw-ADC-like counts (double): ``offset + 400 * mV`` rounded to
integers, with a per-lead offset drawn near 2000 counts (12-bit mid-scale, as in the
Shimmer raw values seen in the real file; the exact gain is unknown, 400 counts/mV is
our choice). Lead 1 is the generator's ECG; lead 2 is ``g * lead 1`` plus independent
white noise (``g`` drawn in 0.6-0.9 per subject, noise 0.01 mV). EEG is a placeholder:
one second of small integer noise (std ~2 counts around 4200) in 14 columns, tiled to
the trial's length at 128 Hz, so that it compresses to almost nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.util.checks import check_int

__all__ = ["EEG_ELECTRODES", "save_mat_v5", "write"]

ECG_FS = 256.0
EEG_FS = 128.0
EEG_ELECTRODES = tuple("AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split())
_COUNTS_PER_MV = 400.0
_HEADER = b"MATLAB 5.0 MAT-file, Platform: synthetic (ecgssl), Created on: fixed"


def save_mat_v5(path: Path, mdict: Mapping[str, Any]) -> Path:
    """Save variables as a compressed v5 MAT-file with a fixed header.

    ``scipy.io.savemat`` stamps the current time into the 116-byte text header; this
    replaces it by a constant so that equal inputs give byte-identical files.

    Parameters
    ----------
    path : Path
        Output file (parent folders are created).
    mdict : Mapping[str, Any]
        Variable name -> value, as for ``scipy.io.savemat``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    buf = io.BytesIO()
    scipy.io.savemat(buf, dict(mdict), format="5", do_compression=True, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = _HEADER.ljust(116, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def _cell_column(items: list[Any]) -> np.ndarray:
    """Return ``items`` as an n x 1 MATLAB cell (object array)."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def _cell_row(items: list[Any]) -> np.ndarray:
    """Return ``items`` as a 1 x n MATLAB cell (object array)."""
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def _scores(rng: np.random.Generator, n_trials: int) -> np.ndarray:
    """Integer scores 1-5 that vary within the subject, shape (n_trials,)."""
    levels = np.resize(rng.permutation(5) + 1, n_trials)
    return rng.permutation(levels).astype(np.float64)


def _to_counts(mv: np.ndarray, offset: float) -> np.ndarray:
    """Convert mV to rounded ADC-like counts (float64)."""
    return np.round(offset + _COUNTS_PER_MV * mv)


def _ecg_pair(
    profile: Any,
    rng: np.random.Generator,
    *,
    duration_s: float,
    arousal: float,
    valence: float,
    gain2: float,
    offsets: tuple[float, float],
) -> np.ndarray:
    """Two-lead ECG in counts, shape (n_samples, 2)."""
    lead1 = simulate_ecg(
        profile,
        duration_s=duration_s,
        fs=ECG_FS,
        arousal=arousal,
        valence=valence,
        rng=rng,
    )
    lead2 = gain2 * lead1 + 0.01 * rng.standard_normal(lead1.size)
    return np.column_stack(
        [_to_counts(lead1, offsets[0]), _to_counts(lead2, offsets[1])]
    )


def _eeg(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Return placeholder EEG, (n_samples, 14): 1 s of integer noise, tiled.

    Tiling keeps the compressed file small; nothing in the project reads EEG.
    """
    block = 4200.0 + np.round(2.0 * rng.standard_normal((int(EEG_FS), 14)))
    reps = -(-n_samples // block.shape[0])
    return np.tile(block, (reps, 1))[:n_samples]


def write(
    out_dir: Path,
    *,
    seed: int,
    n_subjects: int = 4,
    n_trials: int = 6,
    stimulus_s: tuple[float, float] = (60.0, 90.0),
    baseline_s: float = 61.0,
) -> list[Path]:
    """Write a synthetic ``DREAMER.mat`` into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Output folder (created if needed).
    seed : int
        Base seed; subject ``s`` (0-based) uses ``default_rng([seed, s])``.
    n_subjects : int
        Number of subjects (cells of ``DREAMER.Data``).
    n_trials : int
        Number of film clips per subject.
    stimulus_s : tuple of float
        (min, max) stimulus duration in s; each clip's duration is drawn uniformly
        (whole seconds at 256 Hz, independent of the scores).
    baseline_s : float
        Baseline duration in s (61 s in the real data).

    Returns
    -------
    list of Path
        ``[out_dir / "DREAMER.mat"]``.
    """
    check_int(seed, "seed", minimum=0)
    check_int(n_subjects, "n_subjects", minimum=1)
    check_int(n_trials, "n_trials", minimum=1)
    lo, hi = (float(x) for x in stimulus_s)
    if not 0 < lo <= hi:
        raise ValueError(
            f"stimulus_s must be (min, max) with 0 < min <= max: {stimulus_s}"
        )
    if not baseline_s > 0:
        raise ValueError(f"baseline_s must be positive, got {baseline_s}")

    subjects = []
    for s in range(n_subjects):
        rng = np.random.default_rng([int(seed), s])
        profile = draw_subject(rng)
        gain2 = float(rng.uniform(0.6, 0.9))
        offsets = (float(rng.uniform(1900, 2100)), float(rng.uniform(1900, 2100)))
        arousal = _scores(rng, n_trials)
        valence = _scores(rng, n_trials)
        dominance = _scores(rng, n_trials)
        durations = np.round(rng.uniform(lo, hi, n_trials))
        ecg_base, ecg_stim, eeg_base, eeg_stim = [], [], [], []
        for t in range(n_trials):
            ecg_base.append(
                _ecg_pair(
                    profile,
                    rng,
                    duration_s=baseline_s,
                    arousal=0.5,
                    valence=0.5,
                    gain2=gain2,
                    offsets=offsets,
                )
            )
            ecg_stim.append(
                _ecg_pair(
                    profile,
                    rng,
                    duration_s=float(durations[t]),
                    arousal=(arousal[t] - 1.0) / 4.0,
                    valence=(valence[t] - 1.0) / 4.0,
                    gain2=gain2,
                    offsets=offsets,
                )
            )
            eeg_base.append(_eeg(rng, int(round(baseline_s * EEG_FS))))
            eeg_stim.append(_eeg(rng, int(round(durations[t] * EEG_FS))))
        subjects.append(
            {
                "Age": str(int(rng.integers(22, 34))),
                "Gender": str(rng.choice(["male", "female"])),
                "EEG": {
                    "baseline": _cell_column(eeg_base),
                    "stimuli": _cell_column(eeg_stim),
                },
                "ECG": {
                    "baseline": _cell_column(ecg_base),
                    "stimuli": _cell_column(ecg_stim),
                },
                "ScoreValence": valence.reshape(-1, 1),
                "ScoreArousal": arousal.reshape(-1, 1),
                "ScoreDominance": dominance.reshape(-1, 1),
            }
        )

    top = {
        "Data": _cell_row(subjects),
        "EEG_SamplingRate": EEG_FS,
        "ECG_SamplingRate": ECG_FS,
        "EEG_Electrodes": _cell_row(list(EEG_ELECTRODES)),
        "noOfSubjects": float(n_subjects),
        "noOfVideoSequences": float(n_trials),
        "Disclaimer": "Synthetic data generated by ecgssl; not the DREAMER dataset.",
        "Provider": "University of the West of Scotland",
        "Version": "1.0.2",
        "Acknowledgement": "Synthetic stand-in with the layout of DREAMER 1.0.2.",
    }
    path = save_mat_v5(Path(out_dir) / "DREAMER.mat", {"DREAMER": top})
    return [path]
