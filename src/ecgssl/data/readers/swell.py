"""Reader for SWELL-KW: Poly5 ``.S00`` ECG plus condition and self-report workbooks.

Labels per (participant, block):

* ``stress``: the block's condition from the overview workbook (``SWELL-KW -
  overview available data.xlsx``, sheet ``Sheet3``, columns PP, block, condition),
  coded N -> 0 (no stress), T -> 1 (time pressure), I -> 2 (email interruptions);
  R (rest) -> None. The block number c1/c2/c3 is *not* the condition (the T/I order
  varies by participant), unlike in the original SSL-ECG code.
* ``arousal``, ``valence``: ``Arousal_rc`` and ``Valence_rc`` (SAM, 1-9) from the
  self-report workbook (one row per (PP, Blok), PP like ``'PP1'``, Blok an int);
  all its sheets are concatenated and duplicates on (PP, Blok) dropped keeping the
  last, as the original code does.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ecgssl.data.readers.base import Recording
from ecgssl.data.readers.poly5 import read_poly5
from ecgssl.util.checks import check_int
from ecgssl.util.errors import DataFormatError

__all__ = ["STRESS_CODES", "SwellReader", "parse_swell_name"]

log = logging.getLogger(__name__)

#: Condition letter -> numeric ``stress`` label (R, rest, has none).
STRESS_CODES: dict[str, float | None] = {"N": 0.0, "T": 1.0, "I": 2.0, "R": None}

_NAME_RE = re.compile(r"pp?(\d+)[_-].*?[_-]c(\d)(_cont)?", re.IGNORECASE)
_OVERVIEW_COLS = ("pp", "block", "condition")
_SELFREPORT_COLS = ("pp", "blok", "valence_rc", "arousal_rc")
_HEADER_SCAN_ROWS = 10  # header row searched among the first rows (UNCONFIRMED)


@dataclass(frozen=True)
class _Entry:
    """One S00 file and the (participant, block, trial) parsed from its name."""

    participant: int
    block: int
    trial: str
    path: Path


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


def _int_in(value: Any) -> int | None:
    """Return the first integer in a cell ('PP12' -> 12, 'c2' -> 2, 3.0 -> 3)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
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


def _find_header(frame: pd.DataFrame, wanted: tuple[str, ...]) -> int | None:
    """Row index (among the first rows) whose cells contain all ``wanted`` names."""
    for i in range(len(frame)):
        cells = {str(v).strip().lower() for v in frame.iloc[i].tolist()}
        if set(wanted) <= cells:
            return i
    return None


def _scan_workbooks(
    paths: list[Path],
) -> tuple[list[tuple[Path, str, int]], list[tuple[Path, str, int]]]:
    """Find overview and self-report tables by their header (sheet, header row)."""
    overview: list[tuple[Path, str, int]] = []
    selfreport: list[tuple[Path, str, int]] = []
    for path in paths:
        try:
            heads = pd.read_excel(
                path, sheet_name=None, header=None, nrows=_HEADER_SCAN_ROWS
            )
        except Exception as exc:  # openpyxl/zipfile raise many types
            raise DataFormatError(
                path, "workbook", f"cannot read xlsx: {type(exc).__name__}: {exc}"
            ) from exc
        for sheet, frame in heads.items():
            row = _find_header(frame, _SELFREPORT_COLS)
            if row is not None:
                selfreport.append((path, str(sheet), row))
                continue
            row = _find_header(frame, _OVERVIEW_COLS)
            if row is not None:
                overview.append((path, str(sheet), row))
    return overview, selfreport


def _read_table(path: Path, sheet: str, header_row: int) -> pd.DataFrame:
    """Read one sheet with lower-cased, stripped column names."""
    try:
        frame = pd.read_excel(path, sheet_name=sheet, header=header_row)
    except Exception as exc:  # openpyxl/zipfile raise many types
        raise DataFormatError(
            path, f"sheet {sheet}", f"cannot read: {type(exc).__name__}: {exc}"
        ) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    dup = sorted(set(frame.columns[frame.columns.duplicated()]))
    if dup:
        raise DataFormatError(
            path, f"sheet {sheet}", f"columns {dup} appear more than once"
        )
    return frame


class SwellReader:
    """Read SWELL-KW's raw Poly5 ECG with per-block stress, arousal and valence.

    Parameters
    ----------
    root : Path
        The extracted DANS archive (or any folder holding it). ``*.S00`` files
        (case-insensitive suffix) and ``*.xlsx`` workbooks are found at any depth.
    ecg_channel : int
        1-based logical Poly5 channel holding the ECG (8 in SWELL, per
        ``myDoReadData.m``), in µV.

    Notes
    -----
    File names ``pp{N}_{D-M-YYYY}_c{B}.S00`` give subject ``"pp{N:02d}"`` and trial
    ``"c{B}"``; a ``_cont`` file is its own trial ``"c{B}_cont"`` carrying block B's
    labels. Unparseable names are skipped with a warning. Workbooks are recognised
    by their columns, not their names (the archive's names vary, UNCONFIRMED): the
    overview table by {PP, block, condition}, the self-report table by {PP, Blok,
    Valence_rc, Arousal_rc} (case-insensitive, header among the first 10 rows).
    Self-report sheets with several rows per (PP, Blok) are per-minute feature
    tables and are ignored. A missing workbook leaves its labels None (warning); a
    block without a row gets None.
    """

    name: ClassVar[str] = "swell"
    label_columns: ClassVar[tuple[str, ...]] = ("stress", "arousal", "valence")

    def __init__(self, root: Path, *, ecg_channel: int = 8) -> None:
        check_int(ecg_channel, "ecg_channel (1-based)", minimum=1)
        self.root = Path(root)
        self.ecg_channel = ecg_channel
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

    def _workbooks(self) -> list[Path]:
        """All ``*.xlsx`` under root except Excel lock files, sorted."""
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.suffix.lower() == ".xlsx"
            and not p.name.startswith("~$")
            and p.is_file()
        )

    def files(self) -> list[Path]:
        """Return the parseable ``.S00`` files and the label workbooks, sorted.

        Raises
        ------
        DataFormatError
            If no parseable ``.S00`` file exists, or two files share a subject/block.
        """
        entries = self._signal_files()
        if not entries:
            raise DataFormatError(self.root, "*.S00", "no SWELL Poly5 file found")
        overview, selfreport = _scan_workbooks(self._workbooks())
        books = {p for p, _, _ in overview + selfreport}
        return sorted([e.path for e in entries] + list(books))

    # ------------------------------------------------------------------- labels
    def _load_labels(
        self,
    ) -> tuple[dict[tuple[int, int], float | None] | None, dict | None]:
        """Read the condition and self-report tables (None where no workbook)."""
        overview, selfreport = _scan_workbooks(self._workbooks())
        stress: dict[tuple[int, int], float | None] | None = None
        if overview:
            frames = []
            for path, sheet, row in overview:
                frame = _read_table(path, sheet, row)
                frames.append(frame[list(_OVERVIEW_COLS)].assign(_src=str(path)))
                log.info("SWELL: conditions from %s [%s]", path, sheet)
            table = pd.concat(frames, ignore_index=True)
            stress = {}
            for pp, block, cond, src in table.itertuples(index=False):
                key = (_int_in(pp), _int_in(block))
                if None in key:
                    continue
                letter = str(cond).strip().upper()[:1] if isinstance(cond, str) else ""
                if letter not in STRESS_CODES:
                    log.warning(
                        "%s: unknown condition %r for PP %s block %s, label None",
                        src,
                        cond,
                        pp,
                        block,
                    )
                stress[key] = STRESS_CODES.get(letter)  # later rows win
        else:
            log.warning(
                "SWELL: no overview workbook (PP, block, condition): stress None"
            )

        reports: dict[tuple[int, int], tuple[float | None, float | None]] | None = None
        if selfreport:
            frames = []
            for path, sheet, row in selfreport:
                frame = _read_table(path, sheet, row)[list(_SELFREPORT_COLS)]
                keys = frame[["pp", "blok"]].astype(str)
                n_keys = max(1, len(keys.drop_duplicates()))
                if len(frame) > 1.5 * n_keys:
                    log.info(
                        "SWELL: %s [%s] has several rows per (PP, Blok): a per-minute "
                        "table, not used for self-reports",
                        path,
                        sheet,
                    )
                    continue
                frames.append(frame)
                log.info("SWELL: self-reports from %s [%s]", path, sheet)
            if frames:
                table = pd.concat(frames, ignore_index=True)
                table["_pp"] = [_int_in(v) for v in table["pp"]]
                table["_blok"] = [_int_in(v) for v in table["blok"]]
                table = table.drop_duplicates(["_pp", "_blok"], keep="last")
                reports = {
                    (pp, blok): (_float_or_none(a), _float_or_none(v))
                    for pp, blok, a, v in zip(
                        table["_pp"],
                        table["_blok"],
                        table["arousal_rc"],
                        table["valence_rc"],
                        strict=True,
                    )
                    if pp is not None and blok is not None
                }
        if reports is None:
            log.warning(
                "SWELL: no self-report workbook (PP, Blok, Valence_rc, Arousal_rc): "
                "arousal and valence None"
            )
        return stress, reports

    # ------------------------------------------------------------------ reading
    def recordings(self) -> Iterator[Recording]:
        """Yield one recording per S00 file, grouped by subject in sorted order.

        Raises
        ------
        DataFormatError
            For a malformed Poly5 file, an ``ecg_channel`` beyond a file's channel
            count, an unreadable workbook, or duplicated subject/block files.
        """
        entries = self._signal_files()
        if not entries:
            raise DataFormatError(self.root, "*.S00", "no SWELL Poly5 file found")
        stress, reports = self._load_labels()
        subjects = sorted({e.participant for e in entries})
        log.info(
            "SWELL: %d files, %d subjects (%s)",
            len(entries),
            len(subjects),
            ", ".join(f"pp{p:02d}" for p in subjects),
        )
        for entry in entries:
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
            if unit.strip().lower() not in ("µv", "uv"):
                log.warning("%s: ECG channel unit is %r, expected µV", entry.path, unit)
            key = (entry.participant, entry.block)
            arousal, valence = (
                (None, None) if reports is None else reports.get(key, (None, None))
            )
            labels = {
                "stress": None if stress is None else stress.get(key),
                "arousal": arousal,
                "valence": valence,
            }
            if stress is not None and key not in stress:
                log.warning("SWELL pp%02d c%d: no condition row", *key)
            if reports is not None and key not in reports:
                log.warning("SWELL pp%02d c%d: no self-report row", *key)
            log.info(
                "SWELL pp%02d %s: %d samples at %g Hz (%s), labels %s",
                entry.participant,
                entry.trial,
                ecg.size,
                rec.fs,
                rec.names[self.ecg_channel - 1],
                labels,
            )
            fs = rec.fs
            del rec
            yield Recording(
                dataset=self.name,
                subject=f"pp{entry.participant:02d}",
                trial=entry.trial,
                fs=fs,
                ecg=ecg,
                labels=labels,
                source=entry.path,
            )
