"""Reader for a folder of the user's own ECG recordings (EDF, BDF, BrainVision, FIF,
WFDB, ...).

Each file (or WFDB record) is one recording of one subject. Files are read with MNE
(:func:`mne.io.read_raw`, chosen by extension) or, for WFDB records (``.hea`` plus
signal files), with the ``wfdb`` package. The ECG channel is chosen by name, by a
glob pattern, or by channel type; subjects and recordings come from a regular
expression on the file path or from a manifest CSV; labels come from a tidy label
table, a per-recording reference table (PhysioNet/CinC 2017 ``REFERENCE.csv``), the
files' own annotations (MNE annotations, WFDB annotation files) or WFDB header
comments. Every problem is one :class:`~ecgssl.util.errors.DataFormatError` naming
the file and what is wrong. See docs/recordings.md.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl.data.readers.base import Recording
from ecgssl.util.checks import check_keys, check_number, check_option
from ecgssl.util.errors import DataFormatError

__all__ = [
    "LABEL_KEYS",
    "MNE_EXTENSIONS",
    "RECORDING_EXTENSIONS",
    "RecordingsReader",
    "read_ecg",
    "select_channel",
]

log = logging.getLogger(__name__)

#: File endings MNE reads (``mne.io.read_raw`` by extension) that hold one recording.
MNE_EXTENSIONS = (".edf", ".bdf", ".gdf", ".vhdr", ".fif", ".fif.gz", ".set", ".cnt")
#: Every file ending the reader lists as a recording (WFDB records by their header).
RECORDING_EXTENSIONS = (*MNE_EXTENSIONS, ".hea")
#: Files that belong to a recording besides the one named (inputs of the store).
_COMPANIONS = {".vhdr": (".eeg", ".vmrk"), ".hea": (".dat", ".mat"), ".set": (".fdt",)}
#: Keys of the ``labels`` block of the reader options.
LABEL_KEYS = ("columns", "table", "reference", "annotations", "annotation_extension",
              "header", "values")  # fmt: skip
#: WFDB signal names taken as ECG by ``channel_type: ecg`` (case-insensitive).
_ECG_LEADS = {
    "i", "ii", "iii", "avr", "avl", "avf", "v", "v1", "v2", "v3", "v4", "v5", "v6",
    "mli", "mlii", "mliii", "ml2", "ecg", "ekg",
}  # fmt: skip
_TABLE_KEYS = ("subject", "recording", "start_s", "end_s")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(_suffix(path))] if _suffix(path) else name


def select_channel(
    names: list[str],
    types: list[str] | None,
    *,
    path: Path,
    channel: str | None = None,
    channel_pattern: str | None = None,
    channel_type: str | None = "ecg",
) -> int:
    """Index of the one ECG channel of a file.

    Parameters
    ----------
    names : list of str
        The file's channel names.
    types : list of str or None
        MNE channel types (None for WFDB records, where signal names decide).
    path : Path
        The file (for the error message).
    channel : str, optional
        Exact channel name; wins over the other two.
    channel_pattern : str, optional
        Case-insensitive glob over the names (``"ECG*"``); wins over the type.
    channel_type : str, optional
        MNE channel type (``"ecg"``). For type ``ecg``, a file with no channel of that
        type falls back to channels whose name contains ECG or EKG (EDF files carry no
        types); a WFDB record takes its standard lead names (I, II, MLII, V1 ...) and a
        single-signal record its only signal.

    Raises
    ------
    DataFormatError
        When no channel or several channels match, listing the file's channels.
    """
    listing = ", ".join(names) or "none"
    if channel is not None:
        hits = [i for i, n in enumerate(names) if n == channel]
        how = f"named {channel!r}"
    elif channel_pattern is not None:
        hits = [
            i
            for i, n in enumerate(names)
            if fnmatch.fnmatch(n.lower(), channel_pattern.lower())
        ]
        how = f"matching {channel_pattern!r}"
    elif channel_type is not None:
        how = f"of type {channel_type!r}"
        kind = channel_type.lower()
        hits = [i for i, t in enumerate(types or []) if t == kind]
        if not hits and kind == "ecg":
            if types is None:
                hits = [i for i, n in enumerate(names) if n.lower() in _ECG_LEADS]
                if not hits and len(names) == 1:
                    hits = [0]
            if not hits:
                hits = [
                    i
                    for i, n in enumerate(names)
                    if "ecg" in n.lower() or "ekg" in n.lower()
                ]
    else:
        raise DataFormatError(
            path, "channel", "give channel, channel_pattern or channel_type"
        )
    if not hits:
        raise DataFormatError(
            path, "channel", f"no channel {how} (channels: {listing})"
        )
    if len(hits) > 1:
        found = ", ".join(names[i] for i in hits)
        raise DataFormatError(
            path,
            "channel",
            f"{len(hits)} channels {how}: {found}; choose one with channel "
            f"(channels: {listing})",
        )
    return hits[0]


@dataclass
class _Signal:
    """One ECG channel read from a file, with what the file says about it."""

    ecg: np.ndarray
    fs: float
    channel: str
    # annotations as (onset_s, duration_s or None for "until the next", description)
    annotations: list[tuple[float, float | None, str]]
    comments: list[str]


def _check_fs(fs: Any, path: Path, expected: float | None) -> float:
    try:
        value = float(fs)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DataFormatError(
            path, "sampling rate", f"header gives {fs!r}, not a positive rate in Hz"
        )
    if expected is not None and abs(value - expected) > 1e-6 * expected:
        raise DataFormatError(
            path,
            "sampling rate",
            f"header gives {value:g} Hz, expected {expected:g} Hz (reader.fs, --fs)",
        )
    return value


def _read_mne(path: Path, select: dict[str, Any], fs: float | None) -> _Signal:
    import mne

    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as exc:  # noqa: BLE001 - MNE raises many types for bad files
        raise DataFormatError(path, "file", f"MNE cannot read it: {exc}") from exc
    rate = _check_fs(raw.info["sfreq"], path, fs)
    idx = select_channel(
        list(raw.ch_names), list(raw.get_channel_types()), path=path, **select
    )
    name = raw.ch_names[idx]
    ecg = raw.get_data(picks=[idx])[0].astype(np.float64)
    first = raw.first_time if raw.first_samp else 0.0
    annotations = [
        (float(a["onset"]) - first, float(a["duration"]) or None, str(a["description"]))
        for a in raw.annotations
    ]
    return _Signal(ecg, rate, name, annotations, [])


def _read_wfdb(
    path: Path, select: dict[str, Any], fs: float | None, extension: str | None
) -> _Signal:
    import wfdb

    record_name = str(path.with_suffix(""))
    try:
        header = wfdb.rdheader(record_name)
    except Exception as exc:  # noqa: BLE001 - wfdb raises many types for bad files
        raise DataFormatError(path, "header", f"wfdb cannot read it: {exc}") from exc
    rate = _check_fs(header.fs, path, fs)
    names = list(header.sig_name or [])
    idx = select_channel(names, None, path=path, **select)
    try:
        record = wfdb.rdrecord(record_name, channels=[idx], physical=True)
    except Exception as exc:  # noqa: BLE001
        raise DataFormatError(
            path, "signal", f"wfdb cannot read the signal: {exc}"
        ) from exc
    ecg = np.asarray(record.p_signal, dtype=np.float64)[:, 0]
    annotations: list[tuple[float, float | None, str]] = []
    if extension:
        ann_path = path.with_suffix(f".{extension}")
        if ann_path.is_file():
            try:
                ann = wfdb.rdann(record_name, extension)
            except Exception as exc:  # noqa: BLE001
                raise DataFormatError(
                    ann_path, "annotations", f"wfdb cannot read it: {exc}"
                ) from exc
            notes = ann.aux_note or [""] * len(ann.sample)
            marks = zip(ann.sample, ann.symbol, notes, strict=False)
            for sample, symbol, note in marks:
                text = note.strip("\x00 ").strip() or symbol
                annotations.append((float(sample) / rate, None, text))
    return _Signal(ecg, rate, names[idx], annotations, list(header.comments or []))


def read_ecg(
    path: str | Path,
    *,
    channel: str | None = None,
    channel_pattern: str | None = None,
    channel_type: str | None = "ecg",
    fs: float | None = None,
    annotation_extension: str | None = None,
) -> tuple[np.ndarray, float, str]:
    """Read the ECG channel of one recording file (MNE formats or a WFDB record).

    Parameters
    ----------
    path : str or Path
        An EDF, BDF, GDF, BrainVision ``.vhdr``, FIF, EEGLAB ``.set`` or CNT file, or
        the ``.hea`` header of a WFDB record.
    channel, channel_pattern, channel_type
        How to find the ECG channel (see :func:`select_channel`).
    fs : float, optional
        Expected sampling rate; a header that says otherwise is an error.
    annotation_extension : str, optional
        WFDB annotation file extension (``"atr"``), read if present.

    Returns
    -------
    ecg : np.ndarray, shape (n_samples,)
        float64 in the file's physical units (MNE: volts).
    fs : float
        Sampling rate in Hz.
    channel : str
        Name of the channel read.
    """
    sig = _read(
        Path(path),
        {"channel": channel, "channel_pattern": channel_pattern,
         "channel_type": channel_type},
        fs,
        annotation_extension,
    )  # fmt: skip
    return sig.ecg, sig.fs, sig.channel


def _read(
    path: Path, select: dict[str, Any], fs: float | None, extension: str | None
) -> _Signal:
    if not path.is_file():
        raise DataFormatError(path, "file", "does not exist")
    suffix = _suffix(path)
    if suffix in (".hea", ".dat", ".mat") and path.with_suffix(".hea").is_file():
        return _read_wfdb(path.with_suffix(".hea"), select, fs, extension)
    if suffix not in MNE_EXTENSIONS:
        raise DataFormatError(
            path,
            "file",
            f"unknown recording format {suffix or '(no extension)'!r}; known: "
            f"{', '.join(RECORDING_EXTENSIONS)}",
        )
    return _read_mne(path, select, fs)


@dataclass(frozen=True)
class _Interval:
    column: str
    start_s: float
    end_s: float | None  # None: to the next interval of the column, or the end
    value: float
    origin: str  # where it came from (for errors)


class RecordingsReader:
    """Read a folder of ECG recordings as a dataset.

    Parameters
    ----------
    root : Path
        The folder.
    name : str
        The dataset's name (its key under ``datasets`` in the config).
    files : str or list of str
        Glob pattern(s), relative to ``root``, of the recording files (WFDB records
        by their ``.hea``); default every file with a known ending at any depth.
    pattern : str, optional
        Regular expression searched in each file's path relative to ``root`` (with
        ``/``): named group ``subject`` (required) and ``recording`` (default the
        file name without ending). Files it does not match are skipped and logged.
        Without ``pattern`` and ``manifest`` each file is its own subject and
        recording (its name without ending).
    manifest : str, optional
        CSV (relative to ``root``) with columns ``subject, recording, file``
        (``file`` relative to ``root``); replaces ``files`` and ``pattern``.
    channel, channel_pattern, channel_type
        How to find the ECG channel (see :func:`select_channel`).
    fs : float, optional
        Expected sampling rate of every file; a header that says otherwise is an
        error (none: any positive rate, resampled by preprocessing).
    labels : dict, optional
        ``columns`` (the label columns, required with any label source), ``table``
        (tidy CSV ``subject, recording, start_s, end_s, <columns>``), ``reference``
        (CSV without header ``recording,value`` for a single column, labelling whole
        recordings, as PhysioNet/CinC 2017's ``REFERENCE.csv``), ``annotations``
        (annotation text -> ``{column: value}``; an annotation without duration
        lasts until the next mapped one of its column or the end of the recording),
        ``annotation_extension`` (WFDB annotation files, e.g. ``atr``), ``header``
        (WFDB header comments ``<column>: <value>`` label the whole recording) and
        ``values`` (column -> text value -> number, for labels that are text).
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str = "recordings",
        files: str | list[str] | None = None,
        pattern: str | None = None,
        manifest: str | None = None,
        channel: str | None = None,
        channel_pattern: str | None = None,
        channel_type: str | None = "ecg",
        fs: float | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = Path(root)
        self.name = name
        if not self.root.is_dir():
            raise DataFormatError(self.root, "path", "dataset folder does not exist")
        self.globs = [files] if isinstance(files, str) else list(files or [])
        self.pattern = None
        if pattern is not None:
            try:
                self.pattern = re.compile(pattern)
            except re.error as exc:
                raise DataFormatError(
                    self.root, "reader.pattern", f"not a regular expression: {exc}"
                ) from exc
            if "subject" not in self.pattern.groupindex:
                raise DataFormatError(
                    self.root, "reader.pattern", "needs a named group (?P<subject>...)"
                )
        self.manifest = self.root / manifest if manifest else None
        self.select = {
            "channel": channel,
            "channel_pattern": channel_pattern,
            "channel_type": channel_type,
        }
        self.fs = (
            None
            if fs is None
            else check_number(fs, "reader.fs", minimum=0, exclusive_minimum=True)
        )
        spec = check_keys(dict(labels or {}), LABEL_KEYS, "reader.labels")
        self.label_columns: tuple[str, ...] = tuple(spec.get("columns") or ())
        self.table = self.root / spec["table"] if spec.get("table") else None
        reference = spec.get("reference")
        self.reference = self.root / reference if reference else None
        self.annotation_map: dict[str, dict[str, Any]] = dict(
            spec.get("annotations") or {}
        )
        self.annotation_extension = spec.get("annotation_extension")
        self.header = bool(spec.get("header", False))
        self.values: dict[str, dict[str, float]] = {
            k: dict(v) for k, v in (spec.get("values") or {}).items()
        }
        self.label_notes: dict[str, str] = {}
        self._check_label_spec()

    # ---- configuration ----------------------------------------------------------
    def _check_label_spec(self) -> None:
        where = self.root
        uses = (
            self.table or self.reference or self.annotation_map or self.header
        )  # any label source
        if uses and not self.label_columns:
            raise DataFormatError(
                where, "reader.labels.columns", "required with a label source"
            )
        if len(set(self.label_columns)) != len(self.label_columns):
            raise DataFormatError(where, "reader.labels.columns", "has duplicates")
        for col in self.label_columns:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(col)):
                raise DataFormatError(
                    where, "reader.labels.columns", f"{col!r} is not a simple name"
                )
        reserved = {"dataset", "subject", "trial", "window", "start_s", "ecg"}
        if clash := reserved.intersection(self.label_columns):
            raise DataFormatError(
                where, "reader.labels.columns", f"reserved names: {sorted(clash)}"
            )
        if self.reference is not None and len(self.label_columns) != 1:
            raise DataFormatError(
                where, "reader.labels.reference", "needs exactly one label column"
            )
        for text, mapping in self.annotation_map.items():
            if not isinstance(mapping, Mapping) or not mapping:
                raise DataFormatError(
                    where,
                    f"reader.labels.annotations.{text}",
                    "must map label columns to values",
                )
            for col in mapping:
                check_option(
                    col, self.label_columns, f"reader.labels.annotations.{text}"
                )
        for col in self.values:
            check_option(col, self.label_columns, "reader.labels.values")

    # ---- listing ----------------------------------------------------------------
    def _recording_files(self) -> list[Path]:
        if self.globs:
            found = {p for g in self.globs for p in self.root.glob(g) if p.is_file()}
        else:
            found = {p for p in self.root.rglob("*") if p.is_file()}
        return sorted(
            p for p in found if _suffix(p) in RECORDING_EXTENSIONS and p.name[0] != "."
        )

    def entries(self) -> list[tuple[str, str, Path]]:
        """``(subject, recording, file)`` of every recording, sorted.

        Raises
        ------
        DataFormatError
            For a manifest that is malformed or names a missing file, no recording
            found, or two files with the same subject and recording.
        """
        out: list[tuple[str, str, Path]] = []
        if self.manifest is not None:
            table = self._csv(self.manifest, ("subject", "recording", "file"))
            for i, row in table.iterrows():
                path = self.root / row["file"]
                if not path.is_file():
                    raise DataFormatError(
                        self.manifest, f"row {i + 2}", f"file {row['file']!r} not found"
                    )
                out.append((row["subject"], row["recording"], path))
        else:
            skipped = 0
            for path in self._recording_files():
                rel = path.relative_to(self.root).as_posix()
                if self.pattern is None:
                    out.append((_stem(path), _stem(path), path))
                    continue
                match = self.pattern.search(rel)
                if match is None:
                    skipped += 1
                    log.info("%s: %s does not match reader.pattern", self.name, rel)
                    continue
                groups = match.groupdict()
                subject = groups.get("subject")
                recording = groups.get("recording") or _stem(path)
                if not subject:
                    raise DataFormatError(
                        path, "reader.pattern", "empty subject group in the match"
                    )
                out.append((subject, recording, path))
            if skipped:
                log.warning(
                    "%s: %d files do not match reader.pattern", self.name, skipped
                )
        if not out:
            raise DataFormatError(
                self.root,
                "files",
                f"no recording found (endings read: {', '.join(RECORDING_EXTENSIONS)})",
            )
        seen: dict[tuple[str, str], Path] = {}
        for subject, recording, path in out:
            if (subject, recording) in seen:
                raise DataFormatError(
                    path,
                    "recording",
                    f"subject {subject!r} recording {recording!r} is also "
                    f"{seen[(subject, recording)]}",
                )
            seen[(subject, recording)] = path
        return sorted(out)

    def files(self) -> list[Path]:
        """Every file the dataset consists of: recordings with their companion
        files (WFDB signal and annotation files, BrainVision data and markers), the
        manifest and the label tables, sorted."""
        out: set[Path] = set()
        for _, _, path in self.entries():
            out.add(path)
            extra = list(_COMPANIONS.get(_suffix(path), ()))
            if _suffix(path) == ".hea" and self.annotation_extension:
                extra.append(f".{self.annotation_extension}")
            for ext in extra:
                companion = path.with_suffix(ext)
                if companion.is_file():
                    out.add(companion)
        for path in (self.manifest, self.table, self.reference):
            if path is not None:
                out.add(path)
        return sorted(out)

    # ---- labels -----------------------------------------------------------------
    def _csv(
        self, path: Path, required: tuple[str, ...], header: bool = True
    ) -> pd.DataFrame:
        if not path.is_file():
            raise DataFormatError(path, "file", "does not exist")
        try:
            table = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                header=0 if header else None,
                skipinitialspace=True,
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataFormatError(path, "file", f"not a readable CSV: {exc}") from exc
        if not header:
            table.columns = list(required) + [
                f"extra{i}" for i in range(table.shape[1] - len(required))
            ]
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise DataFormatError(
                path,
                "columns",
                f"missing {missing} (found: {', '.join(map(str, table.columns))})",
            )
        return table

    def _value(self, column: str, text: Any, path: Path, where: str) -> float:
        """A label value as a number: mapped text, a number, or NaN if empty."""
        text = str(text).strip()
        mapping = self.values.get(column, {})
        if text in mapping:  # None maps a value to "unlabelled"
            return math.nan if mapping[text] is None else float(mapping[text])
        if text == "":
            return math.nan
        try:
            value = float(text)
        except ValueError:
            known = f" (reader.labels.values.{column}: {sorted(mapping)})"
            raise DataFormatError(
                path,
                where,
                f"{column} value {text!r} is not a number and not mapped"
                f"{known if mapping else ' (map it under reader.labels.values)'}",
            ) from None
        if not math.isfinite(value):
            raise DataFormatError(path, where, f"{column} value {text!r} is not finite")
        return value

    def _load_tables(
        self, entries: list[tuple[str, str, Path]]
    ) -> dict[tuple[str, str], list[_Interval]]:
        """Intervals from the label table and the reference table, checked against
        the recordings found; overlaps within a recording and column are errors."""
        known = {(s, r) for s, r, _ in entries}
        by_recording: dict[str, list[tuple[str, str]]] = {}
        for s, r in known:
            by_recording.setdefault(r, []).append((s, r))
        out: dict[tuple[str, str], list[_Interval]] = {}
        if self.table is not None:
            path = self.table
            table = self._csv(path, _TABLE_KEYS)
            extra = [c for c in table.columns if c not in _TABLE_KEYS]
            missing = [c for c in self.label_columns if c not in extra]
            if missing:
                raise DataFormatError(
                    path,
                    "columns",
                    f"label columns {missing} missing (found: {', '.join(extra)})",
                )
            for i, row in table.iterrows():
                where = f"row {i + 2}"
                key = (row["subject"], row["recording"])
                if key not in known:
                    raise DataFormatError(
                        path,
                        where,
                        f"subject {key[0]!r} recording {key[1]!r} is not a "
                        "recording of the dataset",
                    )
                start = self._time(row["start_s"], path, f"{where} start_s")
                end = self._time(row["end_s"], path, f"{where} end_s")
                if start < 0 or end <= start:
                    raise DataFormatError(
                        path,
                        where,
                        f"interval [{start:g}, {end:g}) s is empty or negative",
                    )
                for col in self.label_columns:
                    value = self._value(col, row[col], path, where)
                    if not math.isnan(value):
                        out.setdefault(key, []).append(
                            _Interval(col, start, end, value, f"{path} {where}")
                        )
        if self.reference is not None:
            path = self.reference
            (col,) = self.label_columns
            table = self._csv(path, ("recording", "value"), header=False)
            for i, row in table.iterrows():
                where = f"row {i + 1}"
                keys = by_recording.get(row["recording"], [])
                if not keys:
                    raise DataFormatError(
                        path,
                        where,
                        f"recording {row['recording']!r} is not a recording of the "
                        "dataset",
                    )
                if len(keys) > 1:
                    raise DataFormatError(
                        path,
                        where,
                        f"recording {row['recording']!r} belongs to several subjects",
                    )
                value = self._value(col, row["value"], path, where)
                if not math.isnan(value):
                    out.setdefault(keys[0], []).append(
                        _Interval(col, 0.0, math.inf, value, f"{path} {where}")
                    )
        return out

    @staticmethod
    def _time(text: str, path: Path, where: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise DataFormatError(path, where, f"{text!r} is not a time in s") from None
        if not math.isfinite(value):
            raise DataFormatError(path, where, f"{text!r} is not a finite time")
        return value

    def _file_intervals(self, sig: _Signal, path: Path) -> list[_Interval]:
        out: list[_Interval] = []
        for onset, duration, text in sig.annotations:
            mapping = self.annotation_map.get(text)
            if mapping is None:
                continue
            end = None if duration is None else onset + duration
            for col, value in mapping.items():
                v = self._value(col, value, path, f"annotation {text!r}")
                out.append(_Interval(col, onset, end, v, f"{path} annotation {text!r}"))
        if self.header:
            for line in sig.comments:
                key, sep, text = line.partition(":")
                if sep and key.strip() in self.label_columns:
                    col = key.strip()
                    v = self._value(col, text, path, f"header comment {line!r}")
                    out.append(
                        _Interval(col, 0.0, math.inf, v, f"{path} header comment")
                    )
        return out

    def _streams(
        self, intervals: list[_Interval], n: int, fs: float, path: Path
    ) -> dict[str, np.ndarray]:
        """Per-sample label streams; out-of-range and overlapping intervals fail."""
        duration = n / fs
        streams: dict[str, np.ndarray] = {}
        for col in self.label_columns:
            items = sorted(
                (iv for iv in intervals if iv.column == col), key=lambda iv: iv.start_s
            )
            if not items:
                continue
            stream = np.full(n, np.nan)
            spans: list[tuple[float, float, _Interval]] = []
            for k, iv in enumerate(items):
                end = iv.end_s
                if end is None:  # until the next interval of the column, or the end
                    end = items[k + 1].start_s if k + 1 < len(items) else duration
                if math.isinf(end):
                    end = duration
                if iv.start_s < 0 or iv.start_s >= duration or end > duration + 1 / fs:
                    raise DataFormatError(
                        path,
                        "labels",
                        f"{col} interval [{iv.start_s:g}, {end:g}) s from "
                        f"{iv.origin} is outside the recording (0-{duration:g} s)",
                    )
                spans.append((iv.start_s, end, iv))
            for (a0, a1, first), (b0, _, second) in zip(spans, spans[1:], strict=False):
                if b0 < a1:
                    raise DataFormatError(
                        path,
                        "labels",
                        f"{col} intervals overlap: [{a0:g}, {a1:g}) s from "
                        f"{first.origin} and one from {second.origin} starting at "
                        f"{b0:g} s",
                    )
            for start, end, iv in spans:
                stream[int(round(start * fs)) : int(round(end * fs))] = iv.value
            streams[col] = stream
        return streams

    # ---- reading ----------------------------------------------------------------
    def recordings(self) -> Iterator[Recording]:
        """Yield each recording, subjects in sorted order.

        Labels are per-sample streams (a window takes a value only if every sample
        it covers has it); a recording without any label interval is unlabelled.

        Raises
        ------
        DataFormatError
            Naming the file: unreadable, no or several ECG channels, a wrong
            sampling rate, a label table naming a missing recording, label intervals
            outside the recording or overlapping.
        """
        entries = self.entries()
        tables = self._load_tables(entries)
        n_labelled = 0
        for subject, recording, path in entries:
            sig = _read(path, self.select, self.fs, self.annotation_extension)
            intervals = tables.get((subject, recording), []) + self._file_intervals(
                sig, path
            )
            streams = self._streams(intervals, sig.ecg.size, sig.fs, path)
            n_labelled += bool(streams)
            log.info(
                "%s: %s %s: %s, channel %s, %d samples at %g Hz, labels: %s",
                self.name, subject, recording, path.name, sig.channel, sig.ecg.size,
                sig.fs, ", ".join(streams) or "none",
            )  # fmt: skip
            yield Recording(
                dataset=self.name,
                subject=subject,
                trial=recording,
                fs=sig.fs,
                ecg=sig.ecg,
                labels=dict.fromkeys(self.label_columns),
                source=path,
                label_streams=streams,
            )
        if self.label_columns and n_labelled == 0:
            for col in self.label_columns:
                self.label_notes[col] = "no label source gave any recording a value"
        log.info(
            "%s: %d recordings, %d with labels", self.name, len(entries), n_labelled
        )
