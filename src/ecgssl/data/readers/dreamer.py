"""Reader for DREAMER (``DREAMER.mat``, a single MATLAB v5/v7 struct file)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ecgssl.data.readers.base import Recording
from ecgssl.data.readers.matlab import load_mat_v5
from ecgssl.util.checks import check_int, check_option
from ecgssl.util.errors import DataFormatError

__all__ = ["DreamerReader"]

log = logging.getLogger(__name__)

_FILE_NAME = "DREAMER.mat"
_SCORES = (
    ("arousal", "ScoreArousal"),
    ("valence", "ScoreValence"),
    ("dominance", "ScoreDominance"),
)


def _struct_item(value: Any, path: Path, field: str) -> np.void:
    """Return the single element of a 1x1 MATLAB struct (numpy record array)."""
    arr = np.asarray(value)
    if arr.dtype.names is None:
        raise DataFormatError(path, field, f"expected a struct, got {arr.dtype}")
    if arr.size != 1:
        raise DataFormatError(path, field, f"expected a 1x1 struct, got {arr.shape}")
    return arr.reshape(-1)[0]


def _get(record: np.void, name: str, path: Path, field: str) -> Any:
    """Return field ``name`` of a struct element, or raise naming ``field``."""
    names = record.dtype.names or ()
    if name not in names:
        raise DataFormatError(
            path, field, f"missing field (found: {', '.join(names) or 'none'})"
        )
    return record[name]


def _cell(value: Any, path: Path, field: str) -> np.ndarray:
    """Return the elements of a MATLAB cell array as a flat object array."""
    arr = np.asarray(value)
    if arr.dtype != object:
        raise DataFormatError(path, field, f"expected a cell array, got {arr.dtype}")
    if arr.ndim > 2 or (arr.ndim == 2 and min(arr.shape) > 1):
        raise DataFormatError(path, field, f"expected a vector cell, got {arr.shape}")
    return arr.reshape(-1)


def _scalar(value: Any, path: Path, field: str) -> float:
    """Return a numeric 1x1 value as float."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, field, "expected a number") from exc
    if arr.size != 1:
        raise DataFormatError(path, field, f"expected a scalar, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


class DreamerReader:
    """Read ECG trials and self-assessment scores from ``DREAMER.mat``.

    Each subject (1-based cell index of ``DREAMER.Data``, as ``"s01"``) yields, for
    every trial ``t``, a ``baseline_{t:02d}`` recording (all labels None: the baseline
    is not the film's state) and a ``stimuli_{t:02d}`` recording with the scores
    ``ScoreArousal``, ``ScoreValence`` and ``ScoreDominance`` (integers 1-5).

    Parameters
    ----------
    root : Path
        Folder holding ``DREAMER.mat``.
    ecg_lead : int
        Column of the (samples x 2) ECG matrices to read, 0 or 1.
    """

    name: ClassVar[str] = "dreamer"
    label_columns: ClassVar[tuple[str, ...]] = ("arousal", "valence", "dominance")

    def __init__(self, root: Path, *, ecg_lead: int = 0) -> None:
        check_option(check_int(ecg_lead, "ecg_lead"), (0, 1), "ecg_lead")
        self.root = Path(root)
        self.ecg_lead = int(ecg_lead)
        if not self.root.exists():
            raise DataFormatError(self.root, "path", "dataset folder does not exist")

    def files(self) -> list[Path]:
        """Return ``[root / "DREAMER.mat"]``.

        Returns
        -------
        list of Path
            The single data file. If it is not directly under ``root``, a single
            copy found deeper (e.g. an extra archive folder) is accepted.

        Raises
        ------
        DataFormatError
            If no ``DREAMER.mat`` is found, or several are.
        """
        direct = self.root / _FILE_NAME
        if direct.is_file():
            return [direct]
        found = sorted(p for p in self.root.rglob(_FILE_NAME) if p.is_file())
        if not found:
            raise DataFormatError(direct, "path", f"no {_FILE_NAME} found under root")
        if len(found) > 1:
            raise DataFormatError(
                found[1], "path", f"several {_FILE_NAME} found, also {found[0]}"
            )
        return found

    def recordings(self) -> Iterator[Recording]:
        """Yield baseline and stimulus recordings, subject by subject.

        Yields
        ------
        Recording
            ``ecg`` of shape (n_samples,), float64, in the file's units (ADC
            counts); ``fs`` from ``ECG_SamplingRate``.

        Raises
        ------
        DataFormatError
            For a malformed file (naming the field).
        """
        (path,) = self.files()
        mat = load_mat_v5(path, variable_names=["DREAMER"])
        if "DREAMER" not in mat:
            found = [k for k in mat if not k.startswith("__")]
            raise DataFormatError(
                path, "DREAMER", f"variable missing (found: {found or 'none'})"
            )
        top = _struct_item(mat["DREAMER"], path, "DREAMER")
        fs = _scalar(
            _get(top, "ECG_SamplingRate", path, "DREAMER.ECG_SamplingRate"),
            path,
            "DREAMER.ECG_SamplingRate",
        )
        if not np.isfinite(fs) or fs <= 0:
            raise DataFormatError(
                path, "DREAMER.ECG_SamplingRate", f"must be positive, got {fs}"
            )
        data = _cell(_get(top, "Data", path, "DREAMER.Data"), path, "DREAMER.Data")
        n_subjects = data.size
        if n_subjects == 0:
            raise DataFormatError(path, "DREAMER.Data", "no subject in the file")
        width = max(2, len(str(n_subjects)))
        log.info("DREAMER: %s: %d subjects, ECG at %g Hz", path, n_subjects, fs)
        n_total = 0
        for s in range(n_subjects):
            subject = f"s{s + 1:0{width}d}"
            recs = self._subject(path, data[s], s + 1, subject, fs)
            n_total += len(recs)
            yield from recs
        log.info("DREAMER: yielded %d recordings from %s", n_total, path)

    def _subject(
        self, path: Path, cell: Any, index: int, subject: str, fs: float
    ) -> list[Recording]:
        """Parse one ``Data{index}`` struct into its recordings."""
        where = f"DREAMER.Data{{{index}}}"
        item = _struct_item(cell, path, where)
        ecg = _struct_item(
            _get(item, "ECG", path, f"{where}.ECG"), path, f"{where}.ECG"
        )
        parts = {
            part: _cell(
                _get(ecg, part, path, f"{where}.ECG.{part}"),
                path,
                f"{where}.ECG.{part}",
            )
            for part in ("baseline", "stimuli")
        }
        n_trials = parts["stimuli"].size
        if parts["baseline"].size != n_trials:
            raise DataFormatError(
                path,
                f"{where}.ECG.baseline",
                f"{parts['baseline'].size} baselines for {n_trials} stimuli trials",
            )
        scores: dict[str, np.ndarray] = {}
        for label, field in _SCORES:
            name = f"{where}.{field}"
            raw = _get(item, field, path, name)
            try:
                vec = np.asarray(raw, dtype=float).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise DataFormatError(path, name, "expected numeric scores") from exc
            if vec.size != n_trials:
                raise DataFormatError(
                    path, name, f"{vec.size} scores for {n_trials} stimuli trials"
                )
            scores[label] = vec
        none_labels = dict.fromkeys(self.label_columns)
        out: list[Recording] = []
        for t in range(n_trials):
            for part in ("baseline", "stimuli"):
                signal = self._lead(
                    parts[part][t], path, f"{where}.ECG.{part}{{{t + 1}}}"
                )
                if part == "baseline":
                    labels: dict[str, float | None] = dict(none_labels)
                else:
                    labels = {
                        k: (None if np.isnan(v[t]) else float(v[t]))
                        for k, v in scores.items()
                    }
                out.append(
                    Recording(
                        dataset=self.name,
                        subject=subject,
                        trial=f"{part}_{t + 1:02d}",
                        fs=fs,
                        ecg=signal,
                        labels=labels,
                        source=path,
                    )
                )
        log.info("DREAMER: subject %s: %d trials", subject, n_trials)
        return out

    def _lead(self, value: Any, path: Path, field: str) -> np.ndarray:
        """Return the selected ECG lead of one (samples x 2) matrix as float64."""
        arr = np.asarray(value)
        if arr.size == 0:
            return np.empty(0, dtype=np.float64)
        if arr.dtype == object or arr.dtype.names is not None or arr.ndim != 2:
            raise DataFormatError(
                path, field, f"expected a numeric samples x 2 matrix, got {arr.shape}"
            )
        if arr.shape[1] != 2:
            raise DataFormatError(
                path, field, f"expected 2 ECG columns, got {arr.shape[1]}"
            )
        try:
            return np.ascontiguousarray(arr[:, self.ecg_lead], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(path, field, "ECG is not numeric") from exc
