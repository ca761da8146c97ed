"""Reader for AMIGOS (`Data_Preprocessed_P##.mat` and/or `Data_Original_P##.mat`).

Labels (self-assessed arousal and valence) come from the preprocessed files. Where
the ECG comes from an original file, its trials are matched to the preprocessed
file's labels by the original file's own ``VideoIDs``; without usable ids, by cell
order, with a warning. The first ``baseline_s`` seconds of every trial are the
pre-stimulus baseline and are cut off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ecgssl.data.readers.base import Recording, Withheld
from ecgssl.data.readers.matlab import load_mat_v5
from ecgssl.util.checks import check_number, check_option, validate_type
from ecgssl.util.errors import DataFormatError

__all__ = ["AmigosReader"]

log = logging.getLogger(__name__)

PREPROCESSED_FS = 128.0
ORIGINAL_FS = 256.0  # nominal; UNCONFIRMED (JS windows 2560 samples = 10 s)
_FILE_RE = re.compile(r"^Data_(Preprocessed|Original)_P(\d+)\.mat$", re.IGNORECASE)
_PRE_VARS = ("joined_data", "labels_selfassessment", "VideoIDs")
# joined_data columns (0-based): 14 = ECG Right (RA-LL, lead II), 15 = ECG Left.
_PRE_COLUMNS = {"right": 14, "left": 15}
# ECG_DATA columns per the JS loader: 0 = timestamp (ms), 1 = left, 2 = right.
# UNCONFIRMED: the official column names of the original files are not documented.
_ORIG_COLUMNS = {"left": 1, "right": 2}
_FS_TOLERANCE = 0.05


@dataclass
class _Participant:
    """The files found for one participant."""

    preprocessed: Path | None = None
    original: Path | None = None


@dataclass(frozen=True)
class _Meta:
    """Trial names, parsed video ids and labels of one participant's file."""

    trials: list[str]
    labels: list[dict[str, float | None]]
    ids: list[str | None]


def _cells(mat: dict[str, Any], name: str, path: Path) -> np.ndarray:
    """Return variable ``name`` (a MATLAB cell vector) as a flat object array."""
    if name not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise DataFormatError(
            path, name, f"variable missing (found: {found or 'none'})"
        )
    arr = np.asarray(mat[name])
    if arr.dtype != object:
        raise DataFormatError(path, name, f"expected a cell array, got {arr.dtype}")
    if arr.ndim > 2 or (arr.ndim == 2 and min(arr.shape) > 1):
        raise DataFormatError(path, name, f"expected a 1 x n cell, got {arr.shape}")
    return arr.reshape(-1)


def _matrix(value: Any, path: Path, field: str, min_cols: int) -> np.ndarray:
    """Return a numeric 2-D trial matrix (possibly empty) as float64."""
    arr = np.asarray(value)
    if arr.size == 0:
        return np.empty((0, 0), dtype=np.float64)
    if arr.dtype == object or arr.dtype.names is not None or arr.ndim != 2:
        raise DataFormatError(
            path, field, f"expected a numeric samples x channels matrix, {arr.shape}"
        )
    if arr.shape[1] < min_cols:
        raise DataFormatError(
            path, field, f"expected at least {min_cols} columns, got {arr.shape[1]}"
        )
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, field, "matrix is not numeric") from exc


def _video_id(value: Any) -> str | None:
    """Parse one ``VideoIDs{t}`` entry (``<U`` array like ``['10']``) to a string."""
    arr = np.asarray(value)
    if arr.size == 0:
        return None
    if arr.dtype.kind in "US":
        text = "".join(str(x) for x in arr.reshape(-1))
    elif arr.dtype.kind in "iuf" and arr.size == 1:
        num = float(arr.reshape(-1)[0])
        if not np.isfinite(num):
            return None
        text = str(int(num)) if num.is_integer() else str(num)
    else:
        return None
    # The xlsx metadata quotes ids as "'10'": strip quotes and whitespace.
    text = text.strip().strip("'\"").strip()
    if not text or not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        return None
    return text


def _trial_names(ids: list[str | None], path: Path, variable: str) -> list[str]:
    """``video_{id}`` per trial (``trial_{t}`` where the id is unusable), unique."""
    trials: list[str] = []
    for t, vid in enumerate(ids):
        if vid is None:
            log.warning(
                "AMIGOS: %s: %s{%d} unusable, naming the trial trial_%02d",
                path,
                variable,
                t + 1,
                t + 1,
            )
            trials.append(f"trial_{t + 1:02d}")
        else:
            trials.append(f"video_{vid}")
    dup = sorted({x for x in trials if trials.count(x) > 1})
    if dup:
        raise DataFormatError(path, variable, f"duplicated trial ids: {dup}")
    return trials


def _labels(value: Any, path: Path, field: str) -> dict[str, float | None]:
    """Parse one ``labels_selfassessment{t}`` row: col 0 arousal, col 1 valence."""
    arr = np.asarray(value)
    if arr.size == 0:  # (1, 0) when the participant gave no self-assessment
        return {"arousal": None, "valence": None}
    try:
        row = np.asarray(arr, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, field, "labels are not numeric") from exc
    if row.size < 2:
        raise DataFormatError(
            path, field, f"expected 12 label columns (>= 2), got {row.size}"
        )
    return {
        "arousal": None if np.isnan(row[0]) else float(row[0]),
        "valence": None if np.isnan(row[1]) else float(row[1]),
    }


class AmigosReader:
    """Read ECG trials and self-assessed arousal/valence (1-9, real) from AMIGOS.

    Files are found recursively (flat, or one folder per participant). For each
    participant ``P##`` (id from the file name), trials keep the preprocessed
    file's cell order (which is not the presentation order) and are named
    ``video_{VideoID}``.

    Parameters
    ----------
    root : Path
        Folder holding the extracted archives.
    ecg_lead : {"right", "left"}
        ``"right"`` = RA-LL (lead II, preprocessed column 14), ``"left"`` = LA-LL
        (lead III, column 15); in original files, column 2 resp. 1.
    prefer_original : bool
        Take the ECG from ``Data_Original_P##.mat`` (256 Hz) where present, with
        labels from the participant's preprocessed file, trials matched by the
        ``VideoIDs`` both files carry (by cell order, with a warning, where the
        original file has no usable ids); otherwise use the preprocessed file
        (128 Hz) wherever it exists. Trials of a participant without a
        preprocessed file have no labels (counted as unmatched in QC).
    baseline_s : float
        Seconds at the start of each trial cut off as the pre-stimulus baseline
        (5 s: torcheeg takes the first 640 samples at 128 Hz of every preprocessed
        trial as its baseline). Applied to original trials too, which span the same
        time (UNCONFIRMED). 0 keeps whole trials.

    Raises
    ------
    DataFormatError
        While reading: a participant whose original and preprocessed files list
        different trials (counts or video ids), naming the participant.
    """

    name: ClassVar[str] = "amigos"
    label_columns: ClassVar[tuple[str, ...]] = ("arousal", "valence")

    def __init__(
        self,
        root: Path,
        *,
        ecg_lead: str = "right",
        prefer_original: bool = True,
        baseline_s: float = 5.0,
    ) -> None:
        check_option(validate_type(ecg_lead, str, "ecg_lead"), _PRE_COLUMNS, "ecg_lead")
        validate_type(prefer_original, bool, "prefer_original")
        self.baseline_s = check_number(baseline_s, "baseline_s", minimum=0)
        self.root = Path(root)
        self.ecg_lead = ecg_lead
        self.prefer_original = prefer_original
        self.label_notes: dict[str, str] = {}
        if not self.root.exists():
            raise DataFormatError(self.root, "path", "dataset folder does not exist")

    def _scan(self) -> dict[str, _Participant]:
        """Map participant id -> its files, rejecting duplicated participants."""
        found: dict[str, _Participant] = {}
        for path in sorted(self.root.rglob("*.mat")):
            match = _FILE_RE.match(path.name)
            if match is None or not path.is_file():
                continue
            kind = match.group(1).lower()
            subject = f"P{int(match.group(2)):02d}"
            entry = found.setdefault(subject, _Participant())
            previous = getattr(entry, kind)
            if previous is not None:
                raise DataFormatError(
                    path,
                    "participant",
                    f"participant {subject} found in two {kind} files: "
                    f"{previous} and {path}",
                )
            setattr(entry, kind, path)
        if not found:
            raise DataFormatError(
                self.root,
                "Data_Preprocessed_P##.mat",
                "no Data_Preprocessed_P##.mat or Data_Original_P##.mat found",
            )
        return dict(sorted(found.items()))

    def _plan(self, entry: _Participant) -> tuple[Path | None, Path | None]:
        """Return (ECG source if original, metadata/ECG preprocessed file)."""
        use_original = entry.original is not None and (
            self.prefer_original or entry.preprocessed is None
        )
        return (entry.original if use_original else None), entry.preprocessed

    def files(self) -> list[Path]:
        """Return the files the reader uses, sorted.

        Returns
        -------
        list of Path
            Per participant: the preprocessed file (ECG or labels) and, when the
            original file is used for the ECG, the original file.

        Raises
        ------
        DataFormatError
            If no data file is found, or a participant is found twice.
        """
        out: list[Path] = []
        for entry in self._scan().values():
            original, preprocessed = self._plan(entry)
            out.extend(p for p in (original, preprocessed) if p is not None)
        return sorted(out)

    def recordings(self) -> Iterator[Recording]:
        """Yield one recording per trial, participant by participant.

        Yields
        ------
        Recording
            ``ecg`` of shape (n_samples,), float64, native units, NaNs kept, empty
            for a trial listed without data (``0x0``); ``fs`` 128 Hz (preprocessed)
            or 256 Hz (original, nominal).
        """
        participants = self._scan()
        n_orig = sum(e.original is not None for e in participants.values())
        n_pre = sum(e.preprocessed is not None for e in participants.values())
        self.label_notes = {}
        if n_pre == 0:
            note = (
                "no Data_Preprocessed_P##.mat found: the self-assessments are read "
                "from the preprocessed files only"
            )
            self.label_notes = dict.fromkeys(self.label_columns, note)
        log.info(
            "AMIGOS: %d participants under %s (%d preprocessed, %d original files)",
            len(participants),
            self.root,
            n_pre,
            n_orig,
        )
        n_total = 0
        for subject, entry in participants.items():
            original, preprocessed = self._plan(entry)
            if original is not None:
                recs = self._from_original(subject, original, preprocessed)
            elif preprocessed is not None:
                recs = self._from_preprocessed(subject, preprocessed)
            else:  # pragma: no cover (_scan never records an empty entry)
                continue
            n_empty = sum(r.ecg.size == 0 for r in recs)
            log.info(
                "AMIGOS: %s: %d trials (%d empty) from %s",
                subject,
                len(recs),
                n_empty,
                original or preprocessed,
            )
            n_total += len(recs)
            yield from recs
        log.info("AMIGOS: yielded %d recordings", n_total)

    def _read_meta(
        self, path: Path, *, with_data: bool
    ) -> tuple[_Meta, np.ndarray | None]:
        """Read trial ids and labels (and, if asked, the joined_data cells)."""
        names = list(_PRE_VARS) if with_data else list(_PRE_VARS[1:])
        mat = load_mat_v5(path, variable_names=names)
        labels = _cells(mat, "labels_selfassessment", path)
        videos = _cells(mat, "VideoIDs", path)
        data = _cells(mat, "joined_data", path) if with_data else None
        n = labels.size if data is None else data.size
        what = "labels_selfassessment" if data is None else "joined_data"
        for name, arr in (("labels_selfassessment", labels), ("VideoIDs", videos)):
            if arr.size != n:
                raise DataFormatError(
                    path, name, f"{arr.size} entries for {n} {what} trials"
                )
        ids = [_video_id(videos[t]) for t in range(n)]
        trials = _trial_names(ids, path, "VideoIDs")
        rows = [
            _labels(labels[t], path, f"labels_selfassessment{{{t + 1}}}")
            for t in range(n)
        ]
        return _Meta(trials=trials, labels=rows, ids=ids), data

    def _cut(self, ecg: np.ndarray, fs: float) -> np.ndarray:
        """Drop the first ``baseline_s`` seconds (the pre-stimulus baseline)."""
        return ecg[int(round(self.baseline_s * fs)) :]

    def _from_preprocessed(self, subject: str, path: Path) -> list[Recording]:
        """Read one participant's recordings from the preprocessed file (128 Hz)."""
        meta, data = self._read_meta(path, with_data=True)
        if data is None:  # pragma: no cover (with_data=True always returns data)
            return []
        col = _PRE_COLUMNS[self.ecg_lead]
        out = []
        for t in range(data.size):
            # Real trials are N x 17; we only require both ECG columns (14, 15).
            mat = _matrix(data[t], path, f"joined_data{{{t + 1}}}", 16)
            ecg = mat[:, col].copy() if mat.size else np.empty(0, dtype=np.float64)
            ecg = self._cut(ecg, PREPROCESSED_FS)
            out.append(
                Recording(
                    dataset=self.name,
                    subject=subject,
                    trial=meta.trials[t],
                    fs=PREPROCESSED_FS,
                    ecg=ecg,
                    labels=meta.labels[t],
                    source=path,
                )
            )
        return out

    def _from_original(
        self, subject: str, path: Path, preprocessed: Path | None
    ) -> list[Recording]:
        """Read one participant's recordings from ``ECG_DATA`` (256 Hz nominal)."""
        mat = load_mat_v5(path, variable_names=["ECG_DATA", "VideoIDs"])
        cells = _cells(mat, "ECG_DATA", path)
        n = cells.size
        own: list[str | None] | None = None
        if "VideoIDs" in mat:
            videos = _cells(mat, "VideoIDs", path)
            if videos.size != n:
                raise DataFormatError(
                    path,
                    "VideoIDs",
                    f"participant {subject}: {videos.size} entries for {n} "
                    "ECG_DATA trials",
                )
            own = [_video_id(videos[t]) for t in range(n)]
        withheld: tuple[Withheld, ...] = ()
        if preprocessed is not None:
            meta, _ = self._read_meta(preprocessed, with_data=False)
            order = self._match(subject, path, preprocessed, own, n, meta)
        else:
            log.warning(
                "AMIGOS: %s has no preprocessed file: labels are None (unmatched "
                "trials)",
                subject,
            )
            names = (
                _trial_names(own, path, "VideoIDs")
                if own is not None and None not in own
                else [f"trial_{t + 1:02d}" for t in range(n)]
            )
            meta = _Meta(
                trials=names,
                labels=[dict.fromkeys(self.label_columns) for _ in range(n)],
                ids=own or [None] * n,
            )
            order = list(range(n))
            withheld = (Withheld("unmatched", self.label_columns),)
        col = _ORIG_COLUMNS[self.ecg_lead]
        out = []
        for t, j in enumerate(order):
            field = f"ECG_DATA{{{j + 1}}}"
            arr = _matrix(cells[j], path, field, 3)
            if arr.size:
                ecg = self._cut(arr[:, col].copy(), ORIGINAL_FS)
                self._check_rate(arr[:, 0], path, field)
            else:
                ecg = np.empty(0, dtype=np.float64)
            out.append(
                Recording(
                    dataset=self.name,
                    subject=subject,
                    trial=meta.trials[t],
                    fs=ORIGINAL_FS,
                    ecg=ecg,
                    labels=meta.labels[t],
                    source=path,
                    withheld=withheld,
                )
            )
        return out

    @staticmethod
    def _match(
        subject: str,
        path: Path,
        preprocessed: Path,
        own: list[str | None] | None,
        n: int,
        meta: _Meta,
    ) -> list[int]:
        """Index into the original file's cells for each preprocessed trial.

        By video id where both files have usable, unique ids for every trial;
        otherwise by cell order (the two files' cell orders need not agree, so
        this is only a fallback, with a warning). Different trial counts or id
        sets are an error naming the participant.
        """
        n_pre = len(meta.ids)
        if own is None or None in own or None in meta.ids or len(set(own)) != n:
            if n != n_pre:
                raise DataFormatError(
                    path,
                    "ECG_DATA",
                    f"participant {subject}: {n} trials, but {preprocessed} has "
                    f"{n_pre}",
                )
            why = (
                "the original file has no VideoIDs"
                if own is None
                else "some VideoIDs are unusable or repeated"
            )
            log.warning(
                "AMIGOS: %s: %s; its trials are matched to %s by cell order",
                subject,
                why,
                preprocessed,
            )
            return list(range(n))
        mine = [v for v in own if v is not None]
        theirs = [v for v in meta.ids if v is not None]
        if n != n_pre or set(mine) != set(theirs):
            raise DataFormatError(
                path,
                "VideoIDs",
                f"participant {subject}: {n} trials, {preprocessed} has {n_pre}; "
                f"video ids only in the original file: "
                f"{sorted(set(mine) - set(theirs))}, only in the preprocessed file: "
                f"{sorted(set(theirs) - set(mine))}",
            )
        index = {vid: j for j, vid in enumerate(mine)}
        order = [index[vid] for vid in theirs]
        if order != list(range(n)):
            log.info(
                "AMIGOS: %s: original trials matched by VideoIDs (their cell order "
                "differs from the preprocessed file's)",
                subject,
            )
        return order

    @staticmethod
    def _check_rate(stamps_ms: np.ndarray, path: Path, field: str) -> None:
        """Warn if the ms timestamps disagree with 256 Hz by more than 5 %."""
        steps = np.diff(stamps_ms)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        if steps.size == 0:
            log.warning("AMIGOS: %s: %s: no usable timestamps", path, field)
            return
        rate = 1000.0 / float(np.median(steps))
        if abs(rate - ORIGINAL_FS) > _FS_TOLERANCE * ORIGINAL_FS:
            log.warning(
                "AMIGOS: %s: %s: timestamps imply %.1f Hz, not %g Hz; using %g Hz",
                path,
                field,
                rate,
                ORIGINAL_FS,
                ORIGINAL_FS,
            )
