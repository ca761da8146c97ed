"""Reader for SWELL-KW: Poly5 ``.S00`` ECG, the condition table and the self-reports.

Labels per (participant, block) ``c{B}`` of a file ``pp{N}_..._c{B}.S00``:

* ``stress``: the block's condition from the overview table (``SWELL-KW - overview
  available data.xlsx``, sheet ``Sheet3``, or the archive's tab-separated
  ``SWELL-KW - overview available data.tab``), read by position: column A the
  participant, B the block, C the condition, integer rows only, footnote rows
  skipped, the header only checked (the one independent reader of this table reads
  it this way; no source confirms its header names). Coded N -> 0 (no stress),
  T -> 1 (time pressure), I -> 2 (email interruptions); R (rest) -> no label. The
  block number is *not* the condition (the T/I order varies by participant),
  unlike in the original SSL-ECG code.
* Rest minutes: each block starts with minutes whose per-minute ``Condition`` is R
  (``Behavioral-features - per minute.xlsx``, sheet ``SWELLdata``: ``PP``, ``Blok``,
  ``Condition``, ``timestamp`` as ``%Y%m%dT%H%M%S%f``). Placed on the samples of a
  file through the Poly5 header's start time, they withhold ``stress`` from every
  window that touches them (QC column ``n_rest``), unless ``stress_in_rest_minutes``
  keeps the released code's behaviour (the block's condition everywhere).
* ``arousal``, ``valence``: ``Arousal_rc`` and ``Valence_rc`` (SAM, 1-9) of the
  per-block questionnaire workbook (``Questionnaire Blok Results_final -
  performance added.xlsx``; any sheet with one row per (PP, Blok) and those
  columns), else the per-minute workbook aggregated per block (median), with a
  warning naming the source.

A label the reader finds no source for is None throughout, with a note in
``label_notes`` that the window store keeps; the folds stage then fails for it if
the configuration asks for it.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ecgssl.data.readers.base import Recording, Withheld
from ecgssl.data.readers.poly5 import read_poly5
from ecgssl.util.checks import check_int, validate_type
from ecgssl.util.errors import DataFormatError

__all__ = ["STRESS_CODES", "SwellReader", "parse_swell_name"]

log = logging.getLogger(__name__)

#: Condition letter -> numeric ``stress`` label (R, rest, has none).
STRESS_CODES: dict[str, float | None] = {"N": 0.0, "T": 1.0, "I": 2.0, "R": None}

_NAME_RE = re.compile(r"pp?(\d+)[_-].*?[_-]c(\d)(_cont)?", re.IGNORECASE)
_TABLE_SUFFIXES = (".xlsx", ".tab")
_OVERVIEW_SHEET = "sheet3"
_SELFREPORT_COLS = ("pp", "blok", "valence_rc", "arousal_rc")
_MINUTE_COLS = ("pp", "blok", "condition", "timestamp")
_HEADER_SCAN_ROWS = 10  # header row searched among the first rows (UNCONFIRMED)
_PER_MINUTE_RATIO = 1.5  # more rows than this per (PP, Blok): a per-minute table
_MINUTE_S = 60.0
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S%f"
_MICROVOLT = {"uv", "uvolt", "uvolts", "microvolt", "microvolts"}
# Overview cells, read by position. Column A a participant (12, '12', 'pp12'),
# B a block (2, 'c2'), C a condition letter (footnote marks such as 'N*' allowed).
_PP_CELL = re.compile(r"^(?:pp)?\s*(\d+)(?:\.0+)?$", re.IGNORECASE)
_BLOCK_CELL = re.compile(r"^(?:c|blok|block)?\s*(\d+)(?:\.0+)?$", re.IGNORECASE)
_CONDITION_CELL = re.compile(r"^([A-Za-z])\W*$")
# What the header cells of columns A:C are expected to say (checked, not required).
_HEADER_WORDS = (
    re.compile(r"^pp|particip|subject|proefpersoon"),
    re.compile(r"^blo|block|^c$"),
    re.compile(r"cond"),
)


@dataclass(frozen=True)
class _Entry:
    """One S00 file and the (participant, block, trial) parsed from its name."""

    participant: int
    block: int
    trial: str
    path: Path


@dataclass(frozen=True)
class _Sheet:
    """A sheet of a workbook (or a .tab file) with a recognised header row."""

    path: Path
    sheet: str
    header_row: int
    selfreport: bool  # has PP, Blok, Valence_rc, Arousal_rc
    minutes: bool  # has PP, Blok, Condition, timestamp


@dataclass
class _Labels:
    """Everything the label sources gave, and notes on what they did not."""

    conditions: dict[tuple[int, int], float | None] | None
    reports: dict[tuple[int, int], tuple[float | None, float | None]] | None
    minutes: dict[tuple[int, int], list[tuple[datetime, bool]]] | None
    notes: dict[str, str]


def parse_swell_name(name: str) -> tuple[int, int, bool] | None:
    """Parse a SWELL physiology file name.

    Parameters
    ----------
    name : str
        File name such as ``pp1_18-9-2012_c1.S00``, ``pp10_8-10-2012-c2.S00`` or
        ``pp23_1-11-2012_c2_cont.S00``.

    Returns
    -------
    tuple[int, int, bool] | None
        (participant, block, is continuation), or None if the name does not parse.
    """
    m = _NAME_RE.match(name)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3) is not None


def _missing(value: Any) -> bool:
    """True for None, NaN, NaT and blank strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _int_in(value: Any) -> int | None:
    """Return the first integer in a cell ('PP12' -> 12, 'c2' -> 2, 3.0 -> 3)."""
    if _missing(value):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return int(value) if float(value).is_integer() else None
    m = re.search(r"\d+", str(value))
    return int(m.group(0)) if m else None


def _float_or_none(value: Any) -> float | None:
    """Return a finite float, else None."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _cell_int(value: Any, pattern: re.Pattern[str]) -> int | None:
    """An integer cell of the overview table (a number, or text ``pattern`` takes)."""
    if _missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else None
    m = pattern.match(str(value).strip())
    return int(m.group(1)) if m else None


def _cell_condition(value: Any) -> str | None:
    """The condition letter of an overview cell ('N', 't', 'I*'), else None."""
    if _missing(value) or not isinstance(value, str):
        return None
    m = _CONDITION_CELL.match(value.strip())
    return m.group(1).upper() if m else None


def _timestamp(value: Any) -> datetime | None:
    """A per-minute ``timestamp`` (``%Y%m%dT%H%M%S%f`` text, or a date cell)."""
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    try:
        return datetime.strptime(str(value).strip(), _TIMESTAMP_FORMAT)
    except ValueError:
        return None


def _read_tab(path: Path, nrows: int | None) -> pd.DataFrame:
    """A tab-separated file (quoted strings allowed) as a frame of text cells."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, "file", f"cannot read: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin1")
    rows: list[list[str]] = []
    try:
        for row in csv.reader(text.splitlines(), delimiter="\t"):
            rows.append(row)
            if nrows is not None and len(rows) >= nrows:
                break
    except csv.Error as exc:
        raise DataFormatError(
            path, "file", f"not a tab-separated table: {exc}"
        ) from exc
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame(
        [r + [None] * (width - len(r)) for r in rows], dtype=object
    ).replace({"": None})


def _read_sheets(path: Path, nrows: int | None = None) -> dict[str, pd.DataFrame]:
    """Every sheet of an ``.xlsx`` (or the one table of a ``.tab``), no header."""
    if path.suffix.lower() == ".tab":
        return {"tab": _read_tab(path, nrows)}
    try:
        sheets = pd.read_excel(
            path, sheet_name=None, header=None, nrows=nrows, dtype=object
        )
    except Exception as exc:  # openpyxl/zipfile raise many types
        raise DataFormatError(
            path, "workbook", f"cannot read xlsx: {type(exc).__name__}: {exc}"
        ) from exc
    return {str(name): frame for name, frame in sheets.items()}


def _find_header(frame: pd.DataFrame, wanted: tuple[str, ...]) -> int | None:
    """Row index (among the first rows) whose cells contain all ``wanted`` names."""
    for i in range(min(len(frame), _HEADER_SCAN_ROWS)):
        cells = {str(v).strip().lower() for v in frame.iloc[i].tolist()}
        if set(wanted) <= cells:
            return i
    return None


def _with_header(frame: pd.DataFrame, row: int, path: Path, sheet: str) -> pd.DataFrame:
    """The rows below ``row``, named by its lower-cased, stripped cells."""
    names = [
        "" if _missing(c) else str(c).strip().lower() for c in frame.iloc[row].tolist()
    ]
    dup = sorted({n for n in names if n and names.count(n) > 1})
    if dup:
        raise DataFormatError(
            path, f"sheet {sheet}", f"columns {dup} appear more than once"
        )
    out = frame.iloc[row + 1 :].copy()
    out.columns = names
    return out.reset_index(drop=True)


def _parse_conditions(
    frame: pd.DataFrame, where: str
) -> dict[tuple[int, int], float | None] | None:
    """Read (participant, block, condition) by position from columns A:C.

    Rows whose A and B are not integers (titles, the header, footnotes such as
    ``* no valid HR extracted``) are skipped; the last such non-empty row before
    the data is checked as the header. Returns None unless at least half of the
    integer rows hold a condition letter (so a summary sheet is not taken for it).
    """
    if frame.shape[1] < 3:
        return None
    out: dict[tuple[int, int], float | None] = {}
    letters: dict[tuple[int, int], str] = {}
    header: list[Any] | None = None
    unknown: list[str] = []
    for cells in frame.iloc[:, :3].itertuples(index=False):
        pp, block = _cell_int(cells[0], _PP_CELL), _cell_int(cells[1], _BLOCK_CELL)
        if pp is None or block is None:
            if not out and not all(_missing(c) for c in cells):
                header = list(cells)
            continue
        letter = _cell_condition(cells[2])
        if letter not in STRESS_CODES:
            unknown.append(f"pp{pp} block {block}: {cells[2]!r}")
        key = (pp, block)
        if key in letters and letters[key] != (letter or ""):
            log.warning(
                "SWELL: %s: pp%d block %d is listed twice (%s, then %s); using the "
                "last",
                where,
                pp,
                block,
                letters[key],
                letter,
            )
        letters[key] = letter or ""
        out[key] = STRESS_CODES.get(letter or "")
    if not out or len(unknown) > len(letters) / 2:
        return None
    if unknown:
        log.warning(
            "SWELL: %s: %d rows without a condition letter N/T/I/R, no stress label "
            "for them: %s",
            where,
            len(unknown),
            "; ".join(unknown[:5]),
        )
    if header is not None:
        words = ["" if _missing(c) else str(c).strip().lower() for c in header]
        if not all(
            pattern.search(word)
            for word, pattern in zip(words, _HEADER_WORDS, strict=True)
        ):
            log.warning(
                "SWELL: %s: header %s does not read as participant, block, "
                "condition; columns A:C are read by position anyway",
                where,
                header,
            )
    log.info("SWELL: conditions of %d blocks from %s (columns A:C)", len(out), where)
    return out


class SwellReader:
    """Read SWELL-KW's raw Poly5 ECG with per-block stress, arousal and valence.

    Parameters
    ----------
    root : Path
        The extracted DANS archive (or any folder holding it). ``*.S00`` files
        (case-insensitive suffix), the overview table and the workbooks are found
        at any depth.
    ecg_channel : int
        1-based logical Poly5 channel holding the ECG, in µV. Default 8, the
        channel SWELL's own ``myDoReadData.m`` reads as "HeartPre" (heart signal,
        preprocessed); an inspection of the real files lists 1-2 raw ECG leads,
        6 the raw heart signal, 7 skin conductance, 8 heart preprocessed, and one
        published exporter used channel 6.
    stress_in_rest_minutes : bool
        False (default): windows touching a rest minute get no ``stress`` label
        (counted in QC as ``n_rest``). True: every window of a block gets the
        block's condition, as the released SSL-ECG code does.

    Notes
    -----
    File names ``pp{N}_{D-M-YYYY}_c{B}.S00`` give subject ``"pp{N:02d}"`` and trial
    ``"c{B}"``; a ``_cont`` file is its own trial ``"c{B}_cont"`` carrying block B's
    labels. Unparseable names are skipped with a warning. The overview table is the
    file whose name contains "overview" (``.xlsx``, sheet ``Sheet3``, else the
    first sheet that reads; or ``.tab``); self-report and per-minute tables are
    recognised by their columns, in any ``.xlsx`` or ``.tab`` (the names of the
    archive's files vary between its releases, UNCONFIRMED), header among the
    first 10 rows. Where the rest minutes cannot be placed (no per-minute table,
    no start time in the Poly5 header, no rows for the block or none overlapping
    the file), the block's condition labels every window, with one warning.
    """

    name: ClassVar[str] = "swell"
    label_columns: ClassVar[tuple[str, ...]] = ("stress", "arousal", "valence")

    def __init__(
        self,
        root: Path,
        *,
        ecg_channel: int = 8,
        stress_in_rest_minutes: bool = False,
    ) -> None:
        check_int(ecg_channel, "ecg_channel (1-based)", minimum=1)
        validate_type(stress_in_rest_minutes, bool, "stress_in_rest_minutes")
        self.root = Path(root)
        self.ecg_channel = ecg_channel
        self.stress_in_rest_minutes = stress_in_rest_minutes
        self.label_notes: dict[str, str] = {}
        self._warned: set[str] = set()
        if not self.root.exists():
            raise DataFormatError(self.root, "path", "dataset folder does not exist")

    # ------------------------------------------------------------------ listing
    def _signal_files(self) -> list[_Entry]:
        """Parse every ``*.S00`` name; refuse two files for one (subject, trial)."""
        entries: dict[tuple[int, str], _Entry] = {}
        n_skipped = 0
        for path in sorted(self.root.rglob("*")):
            if path.suffix.lower() != ".s00" or not path.is_file():
                continue
            parsed = parse_swell_name(path.name)
            if parsed is None:
                log.warning(
                    "%s: file name does not parse as pp<N>_..._c<B>, skipped", path
                )
                n_skipped += 1
                continue
            participant, block, cont = parsed
            trial = f"c{block}" + ("_cont" if cont else "")
            key = (participant, trial)
            if key in entries:
                raise DataFormatError(
                    path,
                    "file name",
                    f"duplicated subject/block pp{participant:02d} {trial}: "
                    f"also in {entries[key].path}",
                )
            entries[key] = _Entry(participant, block, trial, path)
        if n_skipped:
            log.info("SWELL: %d S00 files skipped (unparseable names)", n_skipped)
        return [entries[k] for k in sorted(entries)]

    def _tables(self) -> list[Path]:
        """All ``*.xlsx`` and ``*.tab`` under root except Excel lock files, sorted."""
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.suffix.lower() in _TABLE_SUFFIXES
            and not p.name.startswith("~$")
            and p.is_file()
        )

    def _overviews(self) -> list[Path]:
        """Overview tables by name, ``.xlsx`` before ``.tab``."""
        found = [p for p in self._tables() if "overview" in p.name.lower()]
        return sorted(found, key=lambda p: (p.suffix.lower() != ".xlsx", str(p)))

    def _scan(self) -> list[_Sheet]:
        """Sheets of the other tables whose header names self-reports or minutes."""
        overviews = set(self._overviews())
        found: list[_Sheet] = []
        for path in self._tables():
            if path in overviews:
                continue
            for sheet, frame in _read_sheets(path, _HEADER_SCAN_ROWS).items():
                report = _find_header(frame, _SELFREPORT_COLS)
                minutes = _find_header(frame, _MINUTE_COLS)
                row = report if report is not None else minutes
                if row is not None:
                    found.append(
                        _Sheet(path, sheet, row, report is not None, minutes == row)
                    )
        return found

    def files(self) -> list[Path]:
        """Return the parseable ``.S00`` files and the label tables, sorted.

        Raises
        ------
        DataFormatError
            If no parseable ``.S00`` file exists, two files share a subject/block,
            or a table cannot be read.
        """
        entries = self._signal_files()
        if not entries:
            raise DataFormatError(self.root, "*.S00", "no SWELL Poly5 file found")
        tables = set(self._overviews()) | {s.path for s in self._scan()}
        return sorted([e.path for e in entries] + list(tables))

    # ------------------------------------------------------------------- labels
    def _conditions(
        self, notes: dict[str, str]
    ) -> dict[tuple[int, int], float | None] | None:
        """Read the first overview table that has (participant, block, condition)."""
        overviews = self._overviews()
        if not overviews:
            notes["stress"] = (
                f"no condition table found (no '*overview*.xlsx' or '*overview*.tab' "
                f"under {self.root})"
            )
            log.warning("SWELL: %s: stress None", notes["stress"])
            return None
        tried: list[str] = []
        for path in overviews:
            sheets = _read_sheets(path)
            # Sheet3 first (where the independent reader finds it); any other sheet
            # that reads by position is accepted with a warning (UNCONFIRMED).
            order = sorted(sheets, key=lambda s: s.strip().lower() != _OVERVIEW_SHEET)
            for sheet in order:
                where = f"{path}" + ("" if sheet == "tab" else f" [{sheet}]")
                table = _parse_conditions(sheets[sheet], where)
                if table is None:
                    tried.append(where)
                    continue
                if path.suffix.lower() == ".xlsx" and (
                    sheet.strip().lower() != _OVERVIEW_SHEET
                ):
                    log.warning(
                        "SWELL: %s has no readable sheet Sheet3; conditions from "
                        "sheet %s",
                        path,
                        sheet,
                    )
                rest = [str(p) for p in overviews if p != path]
                if rest:
                    log.info("SWELL: other overview tables not used: %s", rest)
                return table
        notes["stress"] = (
            "no condition table found: no (participant, block, condition) row in "
            + ", ".join(tried)
        )
        log.warning("SWELL: %s: stress None", notes["stress"])
        return None

    def _load_labels(self) -> _Labels:
        """Read the condition table, the self-reports and the per-minute rows."""
        notes: dict[str, str] = {}
        conditions = self._conditions(notes)
        per_block: list[pd.DataFrame] = []
        per_minute: list[tuple[str, pd.DataFrame]] = []
        books: dict[Path, dict[str, pd.DataFrame]] = {}
        for item in self._scan():
            if item.path not in books:
                books[item.path] = _read_sheets(item.path)
            frame = books[item.path][item.sheet]
            table = _with_header(frame, item.header_row, item.path, item.sheet)
            where = f"{item.path} [{item.sheet}]"
            keys = table[["pp", "blok"]].astype(str)
            n_keys = max(1, len(keys.drop_duplicates()))
            if item.minutes or len(table) > _PER_MINUTE_RATIO * n_keys:
                per_minute.append((where, table))
                log.info("SWELL: per-minute table %s (%d rows)", where, len(table))
            elif item.selfreport:
                per_block.append(table)
                log.info("SWELL: self-reports from %s", where)
        reports = self._reports(per_block, per_minute, notes)
        minutes = self._minutes(per_minute)
        if conditions is not None and minutes is not None:
            self._cross_check(conditions, per_minute)
        return _Labels(conditions, reports, minutes, notes)

    @staticmethod
    def _reports(
        per_block: list[pd.DataFrame],
        per_minute: list[tuple[str, pd.DataFrame]],
        notes: dict[str, str],
    ) -> dict[tuple[int, int], tuple[float | None, float | None]] | None:
        """Arousal and valence per (PP, Blok): per-block tables, else per-minute."""
        if per_block:
            table = pd.concat(
                [t[list(_SELFREPORT_COLS)] for t in per_block], ignore_index=True
            )
            # later rows win, as the original code's drop_duplicates(keep="last")
            how = "last"
        else:
            usable = [
                (w, t) for w, t in per_minute if set(_SELFREPORT_COLS) <= set(t.columns)
            ]
            if not usable:
                note = (
                    "no self-report workbook found (no sheet with columns PP, Blok, "
                    "Valence_rc, Arousal_rc)"
                )
                notes["arousal"] = notes["valence"] = note
                log.warning("SWELL: %s: arousal and valence None", note)
                return None
            log.warning(
                "SWELL: no per-block questionnaire workbook; arousal and valence "
                "are the per-block median of the per-minute table %s",
                ", ".join(w for w, _ in usable),
            )
            table = pd.concat(
                [t[list(_SELFREPORT_COLS)] for _, t in usable], ignore_index=True
            )
            how = "median"
        table = table.assign(
            _pp=[_int_in(v) for v in table["pp"]],
            _blok=[_int_in(v) for v in table["blok"]],
            _a=[_float_or_none(v) for v in table["arousal_rc"]],
            _v=[_float_or_none(v) for v in table["valence_rc"]],
        ).dropna(subset=["_pp", "_blok"])
        out: dict[tuple[int, int], tuple[float | None, float | None]] = {}
        for (pp, blok), rows in table.groupby(["_pp", "_blok"], sort=True):
            if how == "last":
                a, v = rows["_a"].iloc[-1], rows["_v"].iloc[-1]
            else:
                a, v = rows["_a"].median(), rows["_v"].median()
            out[(int(pp), int(blok))] = (_float_or_none(a), _float_or_none(v))
        return out

    @staticmethod
    def _minutes(
        per_minute: list[tuple[str, pd.DataFrame]],
    ) -> dict[tuple[int, int], list[tuple[datetime, bool]]] | None:
        """(PP, Blok) -> sorted (minute start, is rest) from the per-minute rows."""
        usable = [(w, t) for w, t in per_minute if set(_MINUTE_COLS) <= set(t.columns)]
        if not usable:
            return None
        out: dict[tuple[int, int], list[tuple[datetime, bool]]] = {}
        n_bad = 0
        for _, table in usable:
            for pp, blok, cond, stamp in table[list(_MINUTE_COLS)].itertuples(
                index=False
            ):
                number, block, when = _int_in(pp), _int_in(blok), _timestamp(stamp)
                if number is None or block is None or when is None:
                    n_bad += 1
                    continue
                letter = "" if _missing(cond) else str(cond).strip().upper()[:1]
                out.setdefault((number, block), []).append((when, letter == "R"))
        if n_bad:
            log.warning(
                "SWELL: %d per-minute rows without a usable PP, Blok or timestamp "
                "(%s) ignored",
                n_bad,
                _TIMESTAMP_FORMAT,
            )
        return {k: sorted(v) for k, v in out.items()} or None

    @staticmethod
    def _cross_check(
        conditions: dict[tuple[int, int], float | None],
        per_minute: list[tuple[str, pd.DataFrame]],
    ) -> None:
        """Warn where the overview's condition is not the per-minute work condition."""
        seen: dict[tuple[int, int], set[float | None]] = {}
        for _, table in per_minute:
            if not {"pp", "blok", "condition"} <= set(table.columns):
                continue
            for pp, blok, cond in table[["pp", "blok", "condition"]].itertuples(
                index=False
            ):
                letter = "" if _missing(cond) else str(cond).strip().upper()[:1]
                number, block = _int_in(pp), _int_in(blok)
                if (
                    letter in ("N", "T", "I")
                    and number is not None
                    and block is not None
                ):
                    seen.setdefault((number, block), set()).add(STRESS_CODES[letter])
        odd = [
            f"pp{k[0]} block {k[1]}"
            for k, v in sorted(seen.items())
            if k in conditions and conditions[k] is not None and conditions[k] not in v
        ]
        if odd:
            log.warning(
                "SWELL: the overview's condition differs from the per-minute "
                "Condition of %d blocks (%s); the overview is used",
                len(odd),
                ", ".join(odd[:5]),
            )

    # --------------------------------------------------------------- rest minutes
    def _rest_mask(
        self,
        entry: _Entry,
        start: datetime | None,
        fs: float,
        n: int,
        minutes: dict[tuple[int, int], list[tuple[datetime, bool]]] | None,
    ) -> np.ndarray | None:
        """Samples in rest minutes (True), or None if they cannot be placed."""
        key = (entry.participant, entry.block)
        rows = (minutes or {}).get(key, [])
        why = None
        if minutes is None:
            why = "no per-minute table with PP, Blok, Condition and timestamp"
        elif start is None:
            why = "no valid start time in the Poly5 header"
        elif not rows:
            why = "no per-minute row for its block"
        else:
            rel = [(t - start).total_seconds() for t, _ in rows]
            if rel[-1] + _MINUTE_S <= 0 or rel[0] >= n / fs:
                why = (
                    f"its per-minute rows ({rows[0][0]} to {rows[-1][0]}) do not "
                    f"overlap the recording (from {start}, {n / fs:.0f} s)"
                )
        if why is not None:
            self._warn_once(
                why.split(" (")[0],
                f"SWELL: cannot place the rest minutes of {entry.path}: {why}; "
                "stress is the block's condition in every window of such files",
            )
            return None
        mask = np.zeros(n, dtype=bool)
        for i, ((_, rest), t0) in enumerate(zip(rows, rel, strict=True)):
            if not rest:
                continue
            # The block's leading rest minutes also cover what precedes the first
            # row. A row's timestamp is taken as the start of its minute
            # (UNCONFIRMED: the archive does not say).
            lo = -math.inf if i == 0 else t0
            i0 = 0 if lo == -math.inf else min(n, max(0, math.ceil(lo * fs)))
            i1 = min(n, max(0, math.ceil((t0 + _MINUTE_S) * fs)))
            mask[i0:i1] = True
        return mask

    def _warn_once(self, key: str, message: str) -> None:
        """Log ``message`` as a warning the first time ``key`` occurs, then as info."""
        if key in self._warned:
            log.info("%s", message)
            return
        self._warned.add(key)
        log.warning("%s (warned once)", message)

    # ------------------------------------------------------------------ reading
    def recordings(self) -> Iterator[Recording]:
        """Yield one recording per S00 file, grouped by subject in sorted order.

        Raises
        ------
        DataFormatError
            For a malformed Poly5 file, an ``ecg_channel`` beyond a file's channel
            count, an unreadable table, or duplicated subject/block files.
        """
        entries = self._signal_files()
        if not entries:
            raise DataFormatError(self.root, "*.S00", "no SWELL Poly5 file found")
        found = self._load_labels()
        self.label_notes = dict(found.notes)
        subjects = sorted({e.participant for e in entries})
        log.info(
            "SWELL: %d files, %d subjects (%s)",
            len(entries),
            len(subjects),
            ", ".join(f"pp{p:02d}" for p in subjects),
        )
        for entry in entries:
            yield self._recording(entry, found)

    def _recording(self, entry: _Entry, found: _Labels) -> Recording:
        """Read one S00 file and attach its block's labels."""
        rec = read_poly5(entry.path)
        n_ch = rec.signals.shape[0]
        if self.ecg_channel > n_ch:
            raise DataFormatError(
                entry.path,
                "ecg_channel",
                f"channel {self.ecg_channel} requested but the file has {n_ch}",
            )
        ecg = rec.signals[self.ecg_channel - 1].astype(np.float64)
        unit = rec.units[self.ecg_channel - 1]
        plain = unit.strip().lower().replace("µ", "u").replace("\u03bc", "u")
        if plain not in _MICROVOLT:
            self._warn_once(
                f"unit {unit!r}",
                f"SWELL: {entry.path}: ECG channel unit is {unit!r}, expected µV",
            )
        key = (entry.participant, entry.block)
        withheld: list[Withheld] = []
        stress = None
        if found.conditions is not None:
            if key in found.conditions:
                stress = found.conditions[key]
            else:
                log.warning("SWELL pp%02d c%d: no condition row", *key)
                withheld.append(Withheld("unmatched", ("stress",)))
        arousal = valence = None
        if found.reports is not None:
            if key in found.reports:
                arousal, valence = found.reports[key]
            else:
                log.warning("SWELL pp%02d c%d: no self-report row", *key)
                withheld.append(Withheld("unmatched", ("arousal", "valence")))
        if stress is not None and not self.stress_in_rest_minutes:
            mask = self._rest_mask(
                entry, rec.start_time, rec.fs, ecg.size, found.minutes
            )
            if mask is not None and mask.any():
                withheld.append(Withheld("rest", ("stress",), mask))
                log.info(
                    "SWELL pp%02d %s: %.0f s in rest minutes (no stress label)",
                    entry.participant,
                    entry.trial,
                    mask.sum() / rec.fs,
                )
        labels = {"stress": stress, "arousal": arousal, "valence": valence}
        log.info(
            "SWELL pp%02d %s: %d samples at %g Hz (%s), labels %s",
            entry.participant,
            entry.trial,
            ecg.size,
            rec.fs,
            rec.names[self.ecg_channel - 1],
            labels,
        )
        return Recording(
            dataset=self.name,
            subject=f"pp{entry.participant:02d}",
            trial=entry.trial,
            fs=rec.fs,
            ecg=ecg,
            labels=labels,
            source=entry.path,
            withheld=tuple(withheld),
        )
