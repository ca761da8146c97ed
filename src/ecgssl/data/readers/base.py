"""The contract between dataset readers and preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

log = logging.getLogger(__name__)

#: Why a reader withholds labels from samples it yields, and how a report says it.
#: Preprocessing counts the windows each reason touches (QC columns ``n_<reason>``)
#: and, per label, in the window store's metadata.
WITHHELD_REASONS: dict[str, str] = {
    "rest": "in rest minutes",
    "unmatched": "of trials or blocks without a label row",
}


@dataclass(frozen=True)
class Withheld:
    """Samples of a recording whose labels the reader withholds, and why.

    Attributes
    ----------
    reason : str
        A key of :data:`WITHHELD_REASONS` (``"rest"``: SWELL rest minutes;
        ``"unmatched"``: a trial or block with no row in the label source).
    labels : tuple[str, ...]
        The label columns withheld.
    mask : np.ndarray | None, shape (n_samples,)
        bool, True where withheld (same length as the recording's ``ecg``); None
        means every sample.
    """

    reason: str
    labels: tuple[str, ...]
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Recording:
    """One continuous ECG recording (a trial, block or session) of one subject.

    Attributes
    ----------
    dataset : str
        Dataset name (``"dreamer"``, ``"wesad"``, ``"amigos"``, ``"swell"``).
    subject : str
        Subject identifier, stable and zero-padded (``"S02"``, ``"P07"``, ``"pp01"``).
    trial : str
        Trial identifier, unique within the subject (``"stimuli_03"``, ``"c2"``).
    fs : float
        Sampling rate of ``ecg`` in Hz.
    ecg : np.ndarray, shape (n_samples,)
        float64, in the file's native units. NaN marks missing samples. May be empty
        (``n_samples == 0``): a trial the archive lists without data (e.g. AMIGOS
        ``0x0``
        cells); preprocessing counts it in the QC report and writes no window for it.
    labels : Mapping[str, float | None]
        Raw label values constant over the recording, one per label column of the
        dataset (``None`` where the recording has none, e.g. DREAMER baselines).
    label_streams : Mapping[str, np.ndarray]
        Per-sample labels (same length as ``ecg``, float64, NaN = no label), for labels
        that change within a recording (WESAD ``affect``). A window takes the stream's
        value only if every sample it covers has that same value, else null.
    source : Path
        The file the recording was read from.
    withheld : tuple[Withheld, ...]
        Samples whose labels the reader withholds (e.g. SWELL rest minutes): a
        window touching such a sample gets no value for those labels, and is
        counted under the reason.
    """

    dataset: str
    subject: str
    trial: str
    fs: float
    ecg: np.ndarray
    labels: Mapping[str, float | None]
    source: Path
    label_streams: Mapping[str, np.ndarray] = field(default_factory=dict)
    withheld: tuple[Withheld, ...] = ()


class Reader(Protocol):
    """What every dataset reader provides.

    A reader is constructed with the dataset's root folder (as extracted from the
    official archive) and the dataset's reader options from config. It must not read
    signal data in ``__init__``; ``files()`` only lists, ``recordings()`` reads lazily,
    one recording (or one file) at a time, grouped by subject in sorted subject order.

    A reader may also provide ``label_notes``, a dict filled while ``recordings()``
    runs: label column -> why it may have no value (e.g. ``{"stress": "no
    condition table found"}``). Preprocessing writes the notes into the window
    store's metadata, where :func:`ecgssl.data.store.check_label_present` reports
    them for a label that ends up without any labelled window.
    """

    name: ClassVar[str]
    label_columns: ClassVar[tuple[str, ...]]

    def files(self) -> list[Path]:
        """Return the input files the dataset consists of, sorted."""
        ...

    def recordings(self) -> Iterator[Recording]:
        """Yield recordings grouped by subject, subjects in sorted order."""
        ...
