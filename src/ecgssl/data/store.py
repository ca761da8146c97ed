"""Parquet window stores: schema, streamed atomic writer, zero-copy readers.

One row per window. Columns: ``dataset``, ``subject``, ``trial`` (strings), ``window``
(int32, index of the window within its trial), ``start_s`` (float64, window start in
seconds from the start of the trial), one float64 column per raw label of the dataset
(null where the window has none) and ``ecg`` as ``fixed_size_list<float32>[n]``.
File-level metadata (key ``ecgssl``) is a JSON document with the sampling rate, window
length, filter settings, input files with sizes and checksums and the package version,
and, under ``labels``, per label column: ``labelled_windows``, ``withheld_windows``
(reason -> windows whose label the reader withheld, e.g. ``rest``) and ``note`` (the
reader's reason when it found no source for the label, else null). The store does not
depend on which labels the configuration asks for; :func:`check_label_present` is
where a configured label without any labelled window becomes an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ecgssl.data.readers.base import WITHHELD_REASONS
from ecgssl.util.atomic import atomic_path
from ecgssl.util.checks import check_int
from ecgssl.util.errors import DataFormatError, LabelError

__all__ = [
    "FORMAT",
    "WindowStoreWriter",
    "check_label_present",
    "ecg_memmap",
    "file_digest",
    "iter_ecg",
    "read_ecg",
    "read_metadata",
    "read_windows",
    "window_schema",
]

FORMAT = "ecgssl-windows-v1"
META_KEY = b"ecgssl"
ID_COLUMNS = ("dataset", "subject", "trial", "window", "start_s")


def window_schema(label_columns: Sequence[str], window_size: int) -> pa.Schema:
    """Return the Arrow schema of a window store."""
    fields = [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("trial", pa.string(), nullable=False),
        pa.field("window", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
    ]
    fields += [pa.field(name, pa.float64(), nullable=True) for name in label_columns]
    fields.append(
        pa.field("ecg", pa.list_(pa.float32(), window_size), nullable=False),
    )
    return pa.schema(fields)


def file_digest(path: Path, *, chunk: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class WindowStoreWriter:
    """Stream windows into a Parquet store, atomically.

    Use as a context manager; the file appears at ``path`` only when the block exits
    without an exception.

    Parameters
    ----------
    path : Path
        Destination ``.parquet`` file.
    label_columns : sequence of str
        The dataset's raw label columns.
    window_size : int
        Samples per window.
    metadata : dict
        JSON-serialisable provenance stored under the ``ecgssl`` key (written when
        the file is closed, so :meth:`update_metadata` can add what is known only
        after the last window).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        label_columns: Sequence[str],
        window_size: int,
        metadata: dict[str, Any],
    ) -> None:
        self.path = Path(path)
        self.label_columns = tuple(label_columns)
        self.window_size = int(window_size)
        self.metadata: dict[str, Any] = {"format": FORMAT, **metadata}
        self.schema = window_schema(self.label_columns, self.window_size)
        self.n_rows = 0
        self._ctx = atomic_path(self.path)
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> WindowStoreWriter:
        """Open the temporary file."""
        tmp = self._ctx.__enter__()
        strings = ["dataset", "subject", "trial"]
        self._writer = pq.ParquetWriter(
            tmp,
            self.schema,
            compression={
                name: ("none" if name == "ecg" else "zstd")
                for name in self.schema.names
            },
            use_dictionary=strings,
            write_statistics=[n for n in self.schema.names if n != "ecg"],
        )
        return self

    def write(self, rows: dict[str, Any], ecg: np.ndarray) -> None:
        """Append windows.

        Parameters
        ----------
        rows : dict
            Column name -> sequence for every non-``ecg`` column (labels may hold None).
        ecg : np.ndarray, shape (n_windows, window_size)
            Window samples; stored as float32.
        """
        if self._writer is None:
            raise RuntimeError("WindowStoreWriter.write called outside its context")
        ecg = np.ascontiguousarray(ecg, dtype=np.float32)
        if ecg.ndim != 2 or ecg.shape[1] != self.window_size:
            raise ValueError(
                f"ecg must have shape (n, {self.window_size}), got {ecg.shape}"
            )
        n = ecg.shape[0]
        arrays = []
        for field in self.schema:
            if field.name == "ecg":
                flat = pa.array(ecg.reshape(-1), type=pa.float32())
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, self.window_size))
                continue
            values = rows[field.name]
            if len(values) != n:
                raise ValueError(
                    f"column {field.name} has {len(values)} rows, ecg has {n}"
                )
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.n_rows += n

    def update_metadata(self, values: dict[str, Any]) -> None:
        """Add or replace top-level keys of the ``ecgssl`` metadata document."""
        self.metadata.update(values)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the file and move it into place (or discard it on error)."""
        if self._writer is not None:
            if exc_type is None:
                self._writer.add_key_value_metadata(
                    {META_KEY: json.dumps(self.metadata, sort_keys=True)}
                )
            self._writer.close()
            self._writer = None
        self._ctx.__exit__(exc_type, exc, tb)


def _open(path: str | Path, *, memory_map: bool = True) -> pq.ParquetFile:
    path = Path(path)
    try:
        return pq.ParquetFile(path, memory_map=memory_map)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(
            path, "parquet", f"not a readable Parquet file ({exc})"
        ) from exc


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Return the provenance metadata of a window store."""
    pf = _open(path)
    raw = (pf.metadata.metadata or {}).get(META_KEY)
    if raw is None:
        raise DataFormatError(path, "metadata.ecgssl", "not an ecgssl window store")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise DataFormatError(
            path, "metadata.format", f"unsupported {meta.get('format')!r}"
        )
    return meta


def check_label_present(path: str | Path, label: str) -> None:
    """Raise unless some window of the store has a value for ``label``.

    Call it before anything is trained on ``label``: a label the configuration
    asks for must not vanish silently (no condition table, every window in rest
    minutes, ...).

    Parameters
    ----------
    path : str or Path
        Window store.
    label : str
        A label column of the store.

    Raises
    ------
    ecgssl.util.errors.LabelError
        ``"<dataset>: label '<label>' has no labelled window: <reason>"``, the
        reason taken from the store's metadata (the reader's note, the windows
        withheld per reason), or naming the store's label columns if ``label`` is
        not one of them.
    """
    pf = _open(path)
    meta = read_metadata(path)
    dataset = meta.get("dataset", Path(path).stem)
    columns = [n for n in pf.schema_arrow.names if n not in ID_COLUMNS and n != "ecg"]
    if label not in columns:
        raise LabelError(
            f"{dataset}: label '{label}' is not a label column of the window store "
            f"{path} (columns: {', '.join(columns) or 'none'})"
        )
    values = pf.read(columns=[label]).column(label)
    if values.length() - values.null_count > 0:
        return
    raise LabelError(
        f"{dataset}: label '{label}' has no labelled window: "
        f"{_missing_reason(meta, label, int(pf.metadata.num_rows))}"
    )


def _missing_reason(meta: dict[str, Any], label: str, n_windows: int) -> str:
    """Why a label has no value, from the store's metadata."""
    if n_windows == 0:
        return "the store has no window at all (see its QC table)"
    info = meta.get("labels", {}).get(label, {})
    parts = [info["note"]] if info.get("note") else []
    for reason, n in (info.get("withheld_windows") or {}).items():
        if n:
            text = WITHHELD_REASONS.get(reason, reason)
            share = "all" if n == n_windows else f"{n} of"
            parts.append(f"{share} {n_windows} windows {text}")
    if not parts:
        parts.append(f"none of the {n_windows} windows has a value for it")
    return "; ".join(parts)


def read_windows(
    path: str | Path, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read the non-signal columns of a store as a DataFrame (one row per window)."""
    pf = _open(path)
    names = [n for n in pf.schema_arrow.names if n != "ecg"]
    if columns is not None:
        columns = list(columns)
        missing = sorted(set(columns) - set(names))
        if missing:
            raise DataFormatError(path, missing[0], "column not in the window store")
        names = columns
    return pf.read(columns=names).to_pandas()


def read_ecg(path: str | Path) -> np.ndarray:
    """Read the ``ecg`` column as a float32 array of shape ``(n_windows, window_size)``.

    The store is memory-mapped and the ``ecg`` column is uncompressed, so this costs
    one copy of the signal data at most.
    """
    pf = _open(path)
    size = _ecg_size(path, pf)
    col = pf.read(columns=["ecg"]).column("ecg")
    if col.num_chunks == 0:
        return np.zeros((0, size), dtype=np.float32)
    # flatten() honours slice offsets, unlike .values
    parts = [c.flatten().to_numpy(zero_copy_only=False) for c in col.chunks]
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return values.reshape(-1, size)


def _ecg_size(path: str | Path, pf: pq.ParquetFile) -> int:
    try:
        field = pf.schema_arrow.field("ecg")
    except KeyError:
        raise DataFormatError(path, "ecg", "column not in the window store") from None
    if not pa.types.is_fixed_size_list(field.type):
        raise DataFormatError(
            path, "ecg", f"expected a fixed_size_list column, got {field.type}"
        )
    return int(field.type.list_size)


def iter_ecg(path: str | Path, *, batch_size: int = 4096) -> Iterator[np.ndarray]:
    """Stream the ``ecg`` column in row order, a bounded batch at a time.

    Parameters
    ----------
    path : str or Path
        Window store.
    batch_size : int
        Windows per yielded array (at most; a row group may end a batch early).

    Yields
    ------
    np.ndarray, shape (n, window_size)
        float32 windows (read-only views of Arrow buffers); memory stays about one
        row group, whatever the store's size.
    """
    check_int(batch_size, "batch_size", minimum=1)
    # Buffered reads, not a memory map: mapped pages that were read count towards
    # the resident size until the file is closed (the whole store, at the end).
    pf = _open(path, memory_map=False)
    size = _ecg_size(path, pf)
    # One row group at a time: iter_batches reads ahead and kept ~700 MB resident
    # while streaming a 512 MB store; this keeps about one row group.
    for group in range(pf.num_row_groups):
        column = pf.read_row_group(group, columns=["ecg"]).column(0)
        for chunk in column.chunks:
            # flatten() honours slice offsets, unlike .values
            values = chunk.flatten().to_numpy(zero_copy_only=False)
            values = values.astype(np.float32, copy=False).reshape(-1, size)
            for start in range(0, values.shape[0], batch_size):
                yield values[start : start + batch_size]
        del column


def ecg_memmap(
    stores: Sequence[str | Path],
    path: str | Path,
    *,
    rows: Sequence[np.ndarray | None] | None = None,
) -> np.memmap:
    """Concatenate the ``ecg`` columns of stores into one ``.npy`` file, memory-mapped.

    The stores are streamed batch by batch into ``path`` with plain file writes (no
    in-memory copy of the data, no dirty mapped pages), then the file is opened
    read-only with ``numpy.load(mmap_mode="r")``: training reads only the rows it
    asks for, and the kernel may drop clean pages under memory pressure.

    Parameters
    ----------
    stores : sequence of str or Path
        Window stores with the same window size, in the order their rows appear.
    path : str or Path
        Destination ``.npy`` file (a scratch file; the caller deletes it).
    rows : sequence of (array of int or None), optional
        Per store, the row indices to keep (in increasing order); None keeps every
        row. The other windows are never written to ``path``.

    Returns
    -------
    np.memmap, shape (n_windows, window_size)
        float32, rows of ``stores[0]`` first.

    Raises
    ------
    ecgssl.util.errors.DataFormatError
        If the stores' window sizes differ (field ``"ecg"``).
    """
    stores = [Path(s) for s in stores]
    if not stores:
        raise ValueError("stores must name at least one window store")
    sizes, counts = [], []
    for store in stores:
        pf = _open(store)
        sizes.append(_ecg_size(store, pf))
        counts.append(int(pf.metadata.num_rows))
    odd = [s for s, size in zip(stores, sizes, strict=True) if size != sizes[0]]
    if odd:
        raise DataFormatError(
            odd[0],
            "ecg",
            f"window size differs from {stores[0]} ({sizes[0]} samples)",
        )
    keep = _row_masks(stores, counts, rows)
    n, size = sum(int(m.sum()) for m in keep), sizes[0]
    path = Path(path)
    written = 0
    with open(path, "wb") as f:
        header = {"descr": "<f4", "fortran_order": False, "shape": (n, size)}
        np.lib.format.write_array_header_1_0(f, header)
        for store, mask in zip(stores, keep, strict=True):
            start = 0
            for block in iter_ecg(store):
                chosen = block[mask[start : start + block.shape[0]]]
                start += block.shape[0]
                f.write(np.ascontiguousarray(chosen, dtype="<f4").data)
                written += chosen.shape[0]
            if start != mask.size:
                raise DataFormatError(
                    store,
                    "ecg",
                    f"metadata says {mask.size} rows but {start} were read",
                )
    if written != n:
        raise DataFormatError(stores[-1], "ecg", f"wrote {written} of {n} rows")
    return np.load(path, mmap_mode="r")


def _row_masks(
    stores: list[Path], counts: list[int], rows: Sequence[np.ndarray | None] | None
) -> list[np.ndarray]:
    if rows is None:
        return [np.ones(n, dtype=bool) for n in counts]
    if len(rows) != len(stores):
        raise ValueError(f"rows must give one entry per store ({len(stores)})")
    masks = []
    for store, n, chosen in zip(stores, counts, rows, strict=True):
        mask = np.ones(n, dtype=bool)
        if chosen is not None:
            chosen = np.asarray(chosen, dtype=np.int64)
            if chosen.size and (chosen.min() < 0 or chosen.max() >= n):
                raise ValueError(f"rows for {store} must be in [0, {n}), got {chosen}")
            mask = np.zeros(n, dtype=bool)
            mask[chosen] = True
        masks.append(mask)
    return masks
