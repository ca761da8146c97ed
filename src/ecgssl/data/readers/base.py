"""The contract between dataset readers and preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

log = logging.getLogger(__name__)


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
    """

    dataset: str
    subject: str
    trial: str
    fs: float
    ecg: np.ndarray
    labels: Mapping[str, float | None]
    source: Path
    label_streams: Mapping[str, np.ndarray] = field(default_factory=dict)


class Reader(Protocol):
    """What every dataset reader provides.

    A reader is constructed with the dataset's root folder (as extracted from the
    official archive) and the dataset's reader options from config. It must not read
    signal data in ``__init__``; ``files()`` only lists, ``recordings()`` reads lazily,
    one recording (or one file) at a time, grouped by subject in sorted subject order.
    """

    name: ClassVar[str]
    label_columns: ClassVar[tuple[str, ...]]

    def files(self) -> list[Path]:
        """Return the input files the dataset consists of, sorted."""
        ...

    def recordings(self) -> Iterator[Recording]:
        """Yield recordings grouped by subject, subjects in sorted order."""
        ...
