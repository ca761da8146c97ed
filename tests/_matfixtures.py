"""Helpers for tests that build or break MATLAB files (cells, v7.3 headers, cuts)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io


def cell_row(items: list[Any]) -> np.ndarray:
    """Return ``items`` as a 1 x n MATLAB cell (object array)."""
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def cell_col(items: list[Any]) -> np.ndarray:
    """Return ``items`` as an n x 1 MATLAB cell (object array)."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def savemat(path: Path, mdict: dict[str, Any]) -> Path:
    """Save a compressed v5 MAT-file (plain scipy, as a user would)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, mdict, do_compression=True)
    return path


def write_v73(path: Path) -> Path:
    """Write a file with a MATLAB 7.3 (HDF5) header followed by garbage."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 2018 HDF5"
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"\x89HDF\r\n\x1a\n" + b"garbage" * 64)
    return path


def truncate(path: Path, *, keep: float = 0.5) -> Path:
    """Cut ``path`` in place to a fraction ``keep`` of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def zero_bytes(path: Path) -> Path:
    """Empty ``path`` in place (a 0-byte file)."""
    path.write_bytes(b"")
    return path


def pad_compressed(path: Path, *, extra: int = 16) -> Path:
    """Rewrite every compressed variable with ``extra`` zero bytes after its data.

    The inflated stream is then longer than the variable it holds: the case of
    scipy issue #6999 (``Did not fully consume compressed contents``), which
    scipy's default integrity check rejects and MATLAB reads. The element sizes
    are rewritten, so the file stays complete and well formed.
    """
    data = path.read_bytes()
    order = "<" if data[126:128] == b"IM" else ">"
    out, pos = bytearray(data[:128]), 128
    while pos + 8 <= len(data):
        mdtype, nbytes = struct.unpack_from(order + "II", data, pos)
        body = data[pos + 8 : pos + 8 + nbytes]
        if mdtype == 15:  # miCOMPRESSED
            body = zlib.compress(zlib.decompress(body) + b"\x00" * extra)
        out += struct.pack(order + "II", mdtype, len(body)) + body
        pos += 8 + nbytes
    path.write_bytes(bytes(out))
    return path
