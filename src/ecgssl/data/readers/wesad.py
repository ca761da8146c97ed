"""Reader for WESAD's per-subject pickles (``S<n>/S<n>.pkl``, chest ECG at 700 Hz)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ecgssl.data.readers.base import Recording
from ecgssl.data.readers.safe_pickle import load_pickle
from ecgssl.util.errors import DataFormatError

__all__ = ["FS", "WesadReader"]

log = logging.getLogger(__name__)

#: Sampling rate of the RespiBAN chest signals and of the label stream, in Hz. The
#: pickles do not store it; it is documented in the WESAD readme.
FS = 700.0
#: Label codes kept in the ``affect`` stream (1 baseline, 2 stress, 3 amusement,
#: 4 meditation); 0 (transient) and 5/6/7 (ignore) become NaN.
AFFECT_CODES = (1, 2, 3, 4)

_SUBJECT_RE = re.compile(r"S(\d+)", re.IGNORECASE)


def _subject_number(name: str) -> int | None:
    """Return ``n`` for a name ``S<n>`` (case-insensitive), else None."""
    m = _SUBJECT_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def _get(obj: Any, key: str, path: Path, field: str) -> Any:
    """``obj[key]`` for a dict ``obj``, as a DataFormatError naming ``field``."""
    if not isinstance(obj, dict):
        parent = field.rsplit("/", 1)[0] if "/" in field else "<top level>"
        raise DataFormatError(
            path, parent, f"expected a dict, got {type(obj).__name__}"
        )
    if key not in obj:
        raise DataFormatError(
            path, field, f"missing key '{key}' (keys: {sorted(map(str, obj))})"
        )
    return obj[key]


def _numeric_array(value: Any, path: Path, field: str) -> np.ndarray:
    """Check that ``value`` is a real numeric ndarray."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        what = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise DataFormatError(path, field, f"expected a numeric array, got {what}")
    return value


class WesadReader:
    """Read WESAD's chest ECG and 700 Hz affect labels, one recording per subject.

    Parameters
    ----------
    root : Path
        The extracted ``WESAD/`` folder (holding ``S2/S2.pkl`` ...). Pickles are
        found at any depth below it; whatever ``S<n>.pkl`` are present are read.
        Side files (``SX_E4_Data.zip``, ``SX_quest.csv``, ``SX_readme.txt``,
        ``SX_respiban.txt``) are ignored.

    Notes
    -----
    Each subject gives one :class:`Recording`: trial ``"session"``, fs 700 Hz,
    ``ecg = signal['chest']['ECG']`` flattened (mV), ``labels = {"affect": None}``
    and ``label_streams = {"affect": stream}`` where ``stream`` holds the label code
    for codes 1-4 and NaN for 0/5/6/7. Pickles are loaded with a restricted
    unpickler (numpy arrays and builtins only), one subject at a time.
    """

    name: ClassVar[str] = "wesad"
    label_columns: ClassVar[tuple[str, ...]] = ("affect",)

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise DataFormatError(self.root, "path", "dataset folder does not exist")

    def _subject_files(self) -> dict[int, Path]:
        """Map subject number to its pickle; warn on folders without one."""
        found: dict[int, Path] = {}
        for pkl in sorted(self.root.rglob("*.pkl")):
            number = _subject_number(pkl.stem)
            if number is None or not pkl.is_file():
                continue
            if number in found:
                raise DataFormatError(
                    pkl,
                    "subject",
                    f"duplicated subject S{number:02d}: also in {found[number]}",
                )
            if _subject_number(pkl.parent.name) != number:
                log.warning("%s: pickle is not in its own S%d/ folder", pkl, number)
            found[number] = pkl
        for folder in sorted(p for p in self.root.rglob("S*") if p.is_dir()):
            number = _subject_number(folder.name)
            if number is not None and number not in found:
                log.warning(
                    "%s: subject folder without %s.pkl, skipped", folder, folder.name
                )
        return dict(sorted(found.items()))

    def files(self) -> list[Path]:
        """Return the subject pickles, sorted by subject number.

        Raises
        ------
        DataFormatError
            If no ``S<n>.pkl`` exists under ``root``, or a subject has two pickles.
        """
        found = self._subject_files()
        if not found:
            raise DataFormatError(self.root, "S<n>/S<n>.pkl", "no WESAD pickle found")
        return list(found.values())

    def _read(self, number: int, path: Path) -> Recording:
        """Load and validate one subject's pickle."""
        blob = load_pickle(path)
        signal = _get(blob, "signal", path, "signal")
        label = _get(blob, "label", path, "label")
        subject_name = _get(blob, "subject", path, "subject")
        chest = _get(signal, "chest", path, "signal/chest")
        ecg = _numeric_array(
            _get(chest, "ECG", path, "signal/chest/ECG"), path, "signal/chest/ECG"
        )
        del blob, signal, chest  # only the ECG and label arrays are kept
        if not (ecg.ndim == 1 or (ecg.ndim == 2 and ecg.shape[1] == 1)):
            raise DataFormatError(
                path,
                "signal/chest/ECG",
                f"expected shape (N, 1) or (N,), got {ecg.shape}",
            )
        label = _numeric_array(label, path, "label")
        if not (label.ndim == 1 or (label.ndim == 2 and label.shape[1] == 1)):
            raise DataFormatError(
                path, "label", f"expected shape (N,), got {label.shape}"
            )
        ecg = np.asarray(ecg, dtype=np.float64).reshape(-1)
        label = label.reshape(-1)
        if label.size != ecg.size:
            raise DataFormatError(
                path,
                "label",
                f"{label.size} labels for {ecg.size} ECG samples "
                "(both must be at 700 Hz, sample for sample)",
            )
        if isinstance(subject_name, bytes):
            subject_name = subject_name.decode("latin1")
        if not isinstance(subject_name, str) or _subject_number(subject_name) != number:
            log.warning(
                "%s: field 'subject' is %r, expected 'S%d' from the file name",
                path,
                subject_name,
                number,
            )
        stream = np.where(
            np.isin(label, AFFECT_CODES), label.astype(np.float64), np.nan
        )
        counts = {c: int(np.count_nonzero(label == c)) for c in AFFECT_CODES}
        log.info(
            "WESAD S%02d: %d samples (%.1f s) at %g Hz, labelled samples per code %s, "
            "%d unlabelled (0/5/6/7)",
            number,
            ecg.size,
            ecg.size / FS,
            FS,
            counts,
            int(np.isnan(stream).sum()),
        )
        return Recording(
            dataset=self.name,
            subject=f"S{number:02d}",
            trial="session",
            fs=FS,
            ecg=ecg,
            labels={"affect": None},
            source=path,
            label_streams={"affect": stream},
        )

    def recordings(self) -> Iterator[Recording]:
        """Yield one recording per subject, in subject order, one pickle at a time.

        Raises
        ------
        DataFormatError
            For a pickle that is unreadable, has missing keys, a wrong ECG shape,
            or a label stream whose length differs from the ECG's.
        """
        found = self._subject_files()
        if not found:
            raise DataFormatError(self.root, "S<n>/S<n>.pkl", "no WESAD pickle found")
        log.info(
            "WESAD: %d subject pickles under %s: %s",
            len(found),
            self.root,
            ", ".join(f"S{n:02d}" for n in found),
        )
        for number, path in found.items():
            yield self._read(number, path)
