"""Write a synthetic folder of ECG recordings (WFDB or EDF) with a label table.

The stand-in for a user's own lab study (a ``source: recordings`` dataset, see
docs/recordings.md), read back by :class:`ecgssl.data.readers.recordings.
RecordingsReader` with :func:`reader_options`.

Layout: ``sub-<kk>/sub-<kk>_rec-<r>`` records (WFDB: ``.hea`` + ``.dat``, 16-bit, one
signal ``ECG`` in mV; EDF: one ``ECG`` channel with ``rest``/``task`` annotations) at
250 Hz (not the store's 256 Hz, so resampling is exercised), and ``labels.csv`` with
columns ``subject, recording, start_s, end_s, condition``. Each recording is a rest
half (``condition`` 0; arousal 0.2) and a task half (``condition`` 1; arousal 0.8,
valence 0.5 throughout), the state changing over one second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.util.checks import check_int, check_number, check_option

__all__ = ["FORMATS", "FS", "reader_options", "write"]

FS = 250.0
FORMATS = ("wfdb", "edf")
_AROUSAL = {0: 0.2, 1: 0.8}
_NAMES = {0: "rest", 1: "task"}


def reader_options(format: str = "wfdb") -> dict[str, Any]:  # noqa: A002
    """Reader options that read a folder :func:`write` wrote."""
    check_option(format, FORMATS, "format")
    return {
        "files": "**/*.hea" if format == "wfdb" else "**/*.edf",
        "pattern": r"(?P<subject>sub-\d+)_(?P<recording>rec-\d+)\.",
        "channel": "ECG",
        "fs": FS,
        "labels": {"columns": ["condition"], "table": "labels.csv"},
    }


def write(
    out_dir: Path,
    *,
    seed: int,
    format: str = "wfdb",  # noqa: A002 - the config key
    n_subjects: int = 4,
    n_recordings: int = 2,
    recording_s: float = 120.0,
) -> list[Path]:
    """Write the synthetic recordings and their label table.

    Parameters
    ----------
    out_dir : Path
        Folder to write into (created).
    seed : int
        Base seed; subject ``k`` (0-based) uses ``default_rng([seed, k])``.
    format : {"wfdb", "edf"}
        WFDB records (``wfdb.wrsamp``) or EDF files (``mne.export.export_raw``,
        which needs the ``edfio`` package).
    n_subjects, n_recordings : int
        Subjects, and recordings per subject.
    recording_s : float
        Length of each recording in seconds (half rest, half task).

    Returns
    -------
    list of Path
        Every file written, sorted.
    """
    check_option(format, FORMATS, "format")
    check_int(n_subjects, "n_subjects", minimum=1)
    check_int(n_recordings, "n_recordings", minimum=1)
    check_number(recording_s, "recording_s", minimum=20.0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    written: list[Path] = []
    half = float(int(recording_s // 2))
    n_s = int(recording_s)
    for k in range(n_subjects):
        rng = np.random.default_rng([seed, k])
        profile = draw_subject(rng)
        subject = f"sub-{k + 1:02d}"
        folder = out_dir / subject
        folder.mkdir(exist_ok=True)
        for r in range(n_recordings):
            recording = f"rec-{r + 1}"
            arousal = np.where(np.arange(n_s + 1) < half, _AROUSAL[0], _AROUSAL[1])
            ecg = simulate_ecg(
                profile, duration_s=recording_s, fs=FS, arousal=arousal,
                valence=0.5, rng=rng,
            )  # fmt: skip
            stem = folder / f"{subject}_{recording}"
            if format == "wfdb":
                written += _write_wfdb(stem, ecg, subject)
            else:
                written.append(_write_edf(stem, ecg, half, recording_s))
            for condition, (a, b) in enumerate(((0.0, half), (half, recording_s))):
                rows.append(
                    {"subject": subject, "recording": recording, "start_s": a,
                     "end_s": b, "condition": condition}
                )  # fmt: skip
    table = out_dir / "labels.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    written.append(table)
    return sorted(written)


def _write_wfdb(stem: Path, ecg: np.ndarray, subject: str) -> list[Path]:
    import wfdb

    wfdb.wrsamp(
        stem.name,
        fs=FS,
        units=["mV"],
        sig_name=["ECG"],
        p_signal=ecg[:, None],
        fmt=["16"],
        adc_gain=[1000.0],
        baseline=[0],
        comments=[f"subject: {subject}", "synthetic ECG (ecgssl)"],
        write_dir=str(stem.parent),
    )
    return [stem.with_suffix(".hea"), stem.with_suffix(".dat")]


def _write_edf(stem: Path, ecg: np.ndarray, half: float, total: float) -> Path:
    import mne

    info = mne.create_info(["ECG"], FS, ch_types=["ecg"])
    raw = mne.io.RawArray(ecg[None, :] * 1e-3, info, verbose="error")  # mV -> V
    raw.set_annotations(
        mne.Annotations([0.0, half], [half, total - half], [_NAMES[0], _NAMES[1]])
    )
    path = stem.with_suffix(".edf")
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return path
