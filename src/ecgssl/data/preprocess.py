"""Build a window store from a dataset reader: resample, filter, z-score, window, QC.

Per recording: NaN runs are bridged by interpolation (and remembered), the signal is
resampled to ``fs`` with a polyphase filter at the exact rational ratio and filtered
zero-phase with MNE. All recordings of one subject are then z-scored with that
subject's mean and standard deviation over all its valid samples, cut into
non-overlapping windows, and every window that touches a missing or clipped raw sample,
or is flat, is dropped and counted in the QC table. Labels a reader withholds from
some samples (SWELL rest minutes, unmatched trials) are removed from every window that
touches them, and those windows are counted per reason in the QC table and, per label,
in the store's metadata, next to the number of labelled windows of each label and the
reader's notes on labels it could not find. Memory is bounded by one subject:
readers yield recordings one at a time, grouped by subject, and the subject's signals
are held only at the (low) output rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgssl import __version__
from ecgssl.config.defaults import defaults
from ecgssl.data.readers.base import WITHHELD_REASONS, Reader, Recording
from ecgssl.data.signal import (
    FilterSpec,
    filter_ecg,
    interpolate_nans,
    resample,
    resample_ratio,
    saturation_mask,
    window_starts,
)
from ecgssl.data.store import WindowStoreWriter, file_digest
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)

QC_COLUMNS = (
    "dataset",
    "subject",
    "trial",
    "source",
    "fs_in",
    "n_samples",
    "duration_s",
    "status",
    "n_windows",
    "n_kept",
    "n_nan",
    "n_clipped",
    "n_flat",
    "n_unlabelled",
    *(f"n_{reason}" for reason in WITHHELD_REASONS),
)


_DEFAULTS = defaults("preprocess")


@dataclass(frozen=True)
class QCConfig:
    """Window quality rules.

    ``flat_std``: a window whose z-scored standard deviation is below this is flat.
    ``clip_run``: a run of at least this many identical raw samples at the recording's
    extreme value is clipping (see :func:`ecgssl.data.signal.saturation_mask`).
    """

    flat_std: float = _DEFAULTS["qc"]["flat_std"]
    clip_run: int = _DEFAULTS["qc"]["clip_run"]


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the preprocessing stage (the paper's defaults)."""

    fs: float = _DEFAULTS["fs"]
    window_s: float = _DEFAULTS["window_s"]
    filter: FilterSpec = field(default_factory=FilterSpec)
    qc: QCConfig = field(default_factory=QCConfig)

    @property
    def window_size(self) -> int:
        """Samples per window."""
        return int(round(self.window_s * self.fs))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        """Build from the ``preprocess`` section of the workflow config."""
        d = dict(d)
        filt = FilterSpec(**d.pop("filter", {}))
        qc = QCConfig(**d.pop("qc", {}))
        cfg = cls(filter=filt, qc=qc, **d)
        if abs(cfg.window_s * cfg.fs - cfg.window_size) > 1e-9:
            raise ValueError("window_s * fs must be a whole number of samples")
        return cfg


@dataclass
class _Processed:
    rec: Recording
    z: np.ndarray  # filtered signal at fs (float64), normalised in place later
    bad: np.ndarray  # output-rate mask of samples derived from missing/clipped input
    qc: dict[str, Any]
    missing: np.ndarray | None = None  # raw-rate mask of non-finite samples
    clipped: np.ndarray | None = None  # raw-rate mask of saturated samples


def _raw_span(starts: np.ndarray, size: int, up: int, down: int, n_raw: int):
    """Raw-sample index ranges [a, b) covered by output windows (exact ratio)."""
    a = (starts * down) // up
    b = -((-(starts + size) * down) // up)
    return np.minimum(a, n_raw), np.minimum(b, n_raw)


def _count(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of true samples of ``mask`` in each range [a, b)."""
    cum = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    return cum[b] - cum[a]


def _process_recording(
    rec: Recording, cfg: PreprocessConfig, root: Path | None
) -> _Processed:
    source = str(rec.source)
    if root is not None and rec.source.is_relative_to(root):
        source = str(rec.source.relative_to(root))
    raw = np.asarray(rec.ecg, dtype=np.float64).reshape(-1)
    qc: dict[str, Any] = {
        "dataset": rec.dataset,
        "subject": rec.subject,
        "trial": rec.trial,
        "source": source,
        "fs_in": float(rec.fs),
        "n_samples": int(raw.size),
        "duration_s": raw.size / rec.fs if rec.fs > 0 else 0.0,
        "status": "ok",
        **{k: 0 for k in QC_COLUMNS[8:]},
    }
    empty = _Processed(rec, np.zeros(0), np.zeros(0, dtype=bool), qc)
    if raw.size == 0:
        qc["status"] = "empty"
        return empty
    filled, missing = interpolate_nans(raw)
    if missing.all():
        qc["status"] = "all_nan"
        return empty
    up, down = resample_ratio(rec.fs, cfg.fs)
    n_out = -(-raw.size * up // down)
    if n_out < cfg.window_size:
        qc["status"] = "too_short"
        return empty
    z = filter_ecg(
        resample(filled, fs_in=rec.fs, fs_out=cfg.fs), fs=cfg.fs, spec=cfg.filter
    )
    clipped = saturation_mask(raw, min_run=cfg.qc.clip_run)
    bad_raw = missing | clipped
    # output sample i lies between raw samples floor(i*down/up) and the next one
    idx = (np.arange(z.size, dtype=np.int64) * down) // up
    bad = (
        bad_raw[np.minimum(idx, raw.size - 1)]
        | bad_raw[np.minimum(idx + 1, raw.size - 1)]
    )
    return _Processed(rec, z, bad, qc, missing, clipped)


def _subject_stats(items: list[_Processed]) -> tuple[float, float]:
    """Mean and std over every valid sample of one subject's recordings."""
    total, total_sq, count = 0.0, 0.0, 0
    for it in items:
        good = it.z[~it.bad]
        total += float(good.sum())
        total_sq += float(np.dot(good, good))
        count += good.size
    if count == 0:
        return 0.0, 0.0
    mean = total / count
    var = max(total_sq / count - mean * mean, 0.0)
    return mean, float(np.sqrt(var))


def _windows(
    it: _Processed,
    mean: float,
    std: float,
    cfg: PreprocessConfig,
    labels: tuple[str, ...],
) -> tuple[dict[str, list[Any]], np.ndarray, dict[str, dict[str, int]]]:
    """Cut one normalised recording into windows; fill its QC counts.

    Returns the kept windows' columns, their samples and, per label and reason,
    how many kept windows had that label withheld.
    """
    rec, size = it.rec, cfg.window_size
    starts = window_starts(it.z.size, size=size)
    up, down = resample_ratio(rec.fs, cfg.fs)
    a, b = _raw_span(starts, size, up, down, it.missing.size)
    segs = it.z[starts[:, None] + np.arange(size)]  # (n, size)
    if std > 0:
        segs = (segs - mean) / std
    is_nan = _count(it.missing, a, b) > 0
    is_clipped = (_count(it.clipped, a, b) > 0) & ~is_nan
    raw = np.asarray(rec.ecg, dtype=np.float64).reshape(-1)
    # flat: constant raw input (lead off), or no variance left after filtering
    raw_const = np.array([np.ptp(raw[lo:hi]) == 0 for lo, hi in zip(a, b, strict=True)])
    low_std = segs.std(axis=1) < cfg.qc.flat_std
    is_flat = ~is_nan & ~is_clipped & (raw_const | low_std | (std == 0))
    keep = ~(is_nan | is_clipped | is_flat)
    qc = it.qc
    qc["n_windows"] = int(starts.size)
    qc["n_nan"], qc["n_clipped"] = int(is_nan.sum()), int(is_clipped.sum())
    qc["n_flat"], qc["n_kept"] = int(is_flat.sum()), int(keep.sum())

    values: dict[str, np.ndarray] = {}
    for name in labels:
        stream = rec.label_streams.get(name)
        if stream is None:
            v = rec.labels.get(name)
            values[name] = np.full(starts.size, np.nan if v is None else float(v))
            continue
        stream = np.asarray(stream, dtype=np.float64)
        lab = np.full(starts.size, np.nan)
        for k, (lo, hi) in enumerate(zip(a, b, strict=True)):
            span = stream[lo:hi]
            # a window takes a label only if every sample it covers has that label
            if span.size and np.isfinite(span).all() and span.min() == span.max():
                lab[k] = span[0]
        values[name] = lab
    withheld = _withhold(rec, values, a, b, keep, qc)
    unlabelled = np.ones(starts.size, dtype=bool)
    for v in values.values():
        unlabelled &= np.isnan(v)
    qc["n_unlabelled"] = int((unlabelled & keep).sum())

    kept = np.flatnonzero(keep)
    rows: dict[str, list[Any]] = {
        "dataset": [rec.dataset] * kept.size,
        "subject": [rec.subject] * kept.size,
        "trial": [rec.trial] * kept.size,
        "window": kept.tolist(),
        "start_s": (starts[kept] / cfg.fs).tolist(),
    }
    for name, v in values.items():
        rows[name] = [None if np.isnan(x) else float(x) for x in v[kept]]
    return rows, segs[kept].astype(np.float32), withheld


def _withhold(
    rec: Recording,
    values: dict[str, np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    keep: np.ndarray,
    qc: dict[str, Any],
) -> dict[str, dict[str, int]]:
    """Remove withheld labels from the windows that touch them; count those windows.

    Sets ``qc["n_<reason>"]`` (kept windows touching any withheld sample of that
    reason) and returns label -> reason -> kept windows whose label was withheld.
    """
    n_raw = int(np.asarray(rec.ecg).size)
    by_reason: dict[str, np.ndarray] = {}
    by_label: dict[tuple[str, str], np.ndarray] = {}
    for item in rec.withheld:
        if item.reason not in WITHHELD_REASONS:
            raise ValueError(
                f"{rec.dataset} {rec.subject} {rec.trial}: unknown withheld reason "
                f"{item.reason!r} (known: {', '.join(WITHHELD_REASONS)})"
            )
        if item.mask is None:
            touch = np.ones(a.size, dtype=bool)
        else:
            mask = np.asarray(item.mask, dtype=bool).reshape(-1)
            if mask.size != n_raw:
                raise ValueError(
                    f"{rec.dataset} {rec.subject} {rec.trial}: withheld mask "
                    f"({item.reason}) has {mask.size} samples, the ECG {n_raw}"
                )
            touch = _count(mask, a, b) > 0
        by_reason[item.reason] = by_reason.get(item.reason, False) | touch
        for name in item.labels:
            if name in values:
                values[name][touch] = np.nan
                key = (name, item.reason)
                by_label[key] = by_label.get(key, False) | touch
    for reason, touch in by_reason.items():
        qc[f"n_{reason}"] = int((touch & keep).sum())
    out: dict[str, dict[str, int]] = {}
    for (name, reason), touch in by_label.items():
        out.setdefault(name, {})[reason] = int((touch & keep).sum())
    return out


def process_subject(
    recordings: list[Recording],
    *,
    config: PreprocessConfig,
    label_columns: tuple[str, ...],
    root: Path | None = None,
) -> Iterator[
    tuple[dict[str, list[Any]], np.ndarray, dict[str, Any], dict[str, dict[str, int]]]
]:
    """Preprocess all recordings of one subject (z-scored together).

    Yields, per recording, the kept windows' columns, their samples
    ``(n_kept, window_size)`` float32, the recording's QC row and, per label and
    reason, the number of kept windows whose label the reader withheld.
    """
    items = [_process_recording(r, config, root) for r in recordings]
    mean, std = _subject_stats(items)
    empty = np.zeros((0, config.window_size), dtype=np.float32)
    for it in items:
        if it.z.size:
            rows, ecg, withheld = _windows(it, mean, std, config, label_columns)
            yield rows, ecg, it.qc, withheld
        else:
            yield {}, empty, it.qc, {}


def _by_subject(
    recordings: Iterator[Recording],
) -> Iterator[tuple[str, list[Recording]]]:
    seen: set[str] = set()
    for subject, group in groupby(recordings, key=lambda r: r.subject):
        if subject in seen:
            raise ValueError(
                f"reader yielded subject {subject!r} in two separate groups"
            )
        seen.add(subject)
        yield subject, list(group)


def build_window_store(
    reader: Reader,
    *,
    root: Path,
    store_path: Path,
    qc_path: Path,
    config: PreprocessConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Read a dataset, preprocess it and write its window store and QC table.

    Parameters
    ----------
    reader : Reader
        An opened dataset reader.
    root : Path
        The dataset folder (input paths in the metadata are stored relative to it).
    store_path, qc_path : Path
        Outputs: ``results/windows/<dataset>.parquet`` and ``results/qc/<dataset>.tsv``.
        Both are written atomically; on error neither is created.
    config : PreprocessConfig
        Preprocessing settings.
    progress : callable, optional
        Receives one progress line per subject.

    Returns
    -------
    dict
        Summary: windows kept, hours of ECG read, seconds spent.

    Notes
    -----
    The store's metadata records, per label column of the reader, the number of
    labelled windows, the windows whose label the reader withheld (per reason) and
    the reader's ``label_notes``. A label without any labelled window is logged
    here but is not an error: the store does not depend on which labels the
    configuration asks for; :func:`ecgssl.data.store.check_label_present` (called
    by the folds stage) fails for a configured one.
    """
    say = progress or log.info
    t0 = time.perf_counter()
    files = reader.files()
    inputs = [
        {
            "path": str(p.relative_to(root)) if p.is_relative_to(root) else str(p),
            "size": p.stat().st_size,
            "sha256": file_digest(p),
        }
        for p in files
    ]
    metadata = {
        "dataset": reader.name,
        "fs": config.fs,
        "window_s": config.window_s,
        "window_size": config.window_size,
        "filter": asdict(config.filter),
        "qc": asdict(config.qc),
        "normalisation": "per-subject z-score over all of the subject's valid samples",
        "label_columns": list(reader.label_columns),
        "inputs": inputs,
        "package_version": __version__,
    }
    qc_rows: list[dict[str, Any]] = []
    seconds_in = 0.0
    labelled = dict.fromkeys(reader.label_columns, 0)
    withheld: dict[str, dict[str, int]] = {
        name: dict.fromkeys(WITHHELD_REASONS, 0) for name in reader.label_columns
    }
    with WindowStoreWriter(
        store_path,
        label_columns=reader.label_columns,
        window_size=config.window_size,
        metadata=metadata,
    ) as writer:
        for subject, recs in _by_subject(reader.recordings()):
            n_before = writer.n_rows
            for rows, ecg, qc, lost in process_subject(
                recs, config=config, label_columns=reader.label_columns, root=root
            ):
                seconds_in += qc["duration_s"]
                if ecg.shape[0]:
                    writer.write(rows, ecg)
                    for name in reader.label_columns:
                        labelled[name] += sum(v is not None for v in rows[name])
                for name, counts in lost.items():
                    for reason, n in counts.items():
                        withheld[name][reason] += n
                qc_rows.append(qc)
            elapsed = time.perf_counter() - t0
            say(
                f"{reader.name} {subject}: {len(recs)} recordings, "
                f"{writer.n_rows - n_before} windows kept; "
                f"{seconds_in / 3600:.2f} h of ECG in {elapsed:.1f} s "
                f"({writer.n_rows / max(elapsed, 1e-9):.0f} windows/s)"
            )
        notes = dict(getattr(reader, "label_notes", {}))
        writer.update_metadata(
            {
                "n_windows": writer.n_rows,
                "labels": {
                    name: {
                        "labelled_windows": labelled[name],
                        "withheld_windows": withheld[name],
                        "note": notes.get(name),
                    }
                    for name in reader.label_columns
                },
            }
        )
        for name in reader.label_columns:
            if labelled[name] == 0:
                log.warning(
                    "%s: label %r has no labelled window (%s)",
                    reader.name,
                    name,
                    notes.get(name) or "see the QC table",
                )
        qc = pd.DataFrame(qc_rows, columns=list(QC_COLUMNS))
        with atomic_path(qc_path) as tmp:
            qc.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    elapsed = time.perf_counter() - t0
    summary = {
        "dataset": reader.name,
        "n_recordings": len(qc_rows),
        "n_windows": writer.n_rows,
        "hours_of_ecg": seconds_in / 3600,
        "seconds": elapsed,
    }
    say(
        f"{reader.name}: {writer.n_rows} windows from {len(qc_rows)} recordings "
        f"({seconds_in / 3600:.2f} h of ECG, {elapsed:.1f} s, "
        f"{seconds_in / 3600 / max(elapsed, 1e-9):.3f} h/s)"
    )
    return summary


def prepare_windows(
    x: np.ndarray, *, fs: float, config: PreprocessConfig | None = None
) -> np.ndarray:
    """Preprocess new ECG of one person exactly as the window stores are built.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,) or (n_windows, n_samples_per_window)
        A 1-D recording, or an array of windows (each ``window_s`` seconds at ``fs``).
        Both go through :func:`ecgssl.data.preprocess.process_subject`: resampling,
        zero-phase filtering, one z-score over all of the input, windowing and QC.
        Windows of a recording that fail QC (missing, clipped or flat samples) are
        dropped; for an array of windows that is an error, so that output rows stay
        aligned with input rows.
    fs : float
        Sampling rate of ``x`` in Hz.
    config : PreprocessConfig, optional
        Defaults to the paper's settings (256 Hz, 0.8 Hz high-pass, 10-s windows).

    Returns
    -------
    np.ndarray, shape (n_windows, window_size)
        float32 windows ready for the encoder.
    """
    cfg = config or PreprocessConfig()
    x = np.asarray(x, dtype=np.float64)
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive rate in Hz, got {fs!r}")
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError(
            "input must be a non-empty 1-D recording or a 2-D array of windows, "
            f"got shape {x.shape}"
        )
    rows = x[None, :] if x.ndim == 1 else x
    if x.ndim == 2 and abs(rows.shape[1] * cfg.fs / fs - cfg.window_size) > 0.5:
        raise ValueError(
            f"windows must hold {cfg.window_s:g} s of signal at fs={fs:g} Hz "
            f"({cfg.window_s * fs:g} samples each), got {rows.shape[1]} samples"
        )
    recordings = [
        Recording("input", "input", f"{i:06d}", fs, row, {}, Path("<input>"))
        for i, row in enumerate(rows)
    ]
    parts = list(process_subject(recordings, config=cfg, label_columns=()))
    for i, (_, ecg, qc, _) in enumerate(parts):
        if x.ndim == 2 and ecg.shape[0] != 1:
            raise ValueError(f"window {i} fails quality control ({_qc_reason(qc)})")
        if x.ndim == 1 and ecg.shape[0] == 0:
            raise ValueError(f"no usable window in the recording ({_qc_reason(qc)})")
    return np.concatenate([ecg for _, ecg, _, _ in parts])


def _qc_reason(qc: dict) -> str:
    if qc["status"] != "ok":
        return qc["status"].replace("_", " ")
    counts = {k: qc[f"n_{k}"] for k in ("nan", "clipped", "flat") if qc[f"n_{k}"]}
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "no full window"
