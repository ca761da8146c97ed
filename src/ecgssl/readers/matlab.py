"""Loading MATLAB v5/v7 files (DREAMER, AMIGOS) with clear errors for damaged files."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import scipy.io
from scipy.io.matlab import MatReadError

from ecgssl.errors import DataFormatError

__all__ = ["load_mat_v5"]

# What scipy (and zlib/struct underneath) raise on damaged files.
_LOAD_ERRORS = (
    MatReadError,
    OSError,
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    UnicodeDecodeError,
    zlib.error,
    struct.error,
)


def load_mat_v5(
    path: Path, *, variable_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Load a MATLAB v5/v7 file, turning every failure into a DataFormatError.

    Parameters
    ----------
    path : Path
        The ``.mat`` file.
    variable_names : sequence of str, optional
        Load only these variables (all when None). Missing ones are simply absent
        from the result; callers check for them.

    Returns
    -------
    dict
        ``scipy.io.loadmat`` output with default options (no squeezing, structs as
        record arrays), so that cells index as ``[0, t]`` / ``[t, 0]``.

    Raises
    ------
    DataFormatError
        For a missing, zero-byte, truncated, corrupt or v7.3 (HDF5) file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "path", "file does not exist")
    if path.stat().st_size == 0:
        raise DataFormatError(path, "file", "file is empty (0 bytes)")
    names = None if variable_names is None else list(variable_names)
    try:
        mat = scipy.io.loadmat(path, variable_names=names)
    except NotImplementedError as exc:  # scipy's answer to v7.3 files
        raise DataFormatError(
            path,
            "file",
            "MATLAB v7.3 (HDF5) file; a v5/v7 MAT-file was expected "
            "(re-save it in MATLAB with save(..., '-v7'))",
        ) from exc
    except _LOAD_ERRORS as exc:
        raise DataFormatError(
            path,
            "file",
            f"not a readable v5/v7 MAT-file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}",
        ) from exc
    # loadmat skips unrequested variables and stops quietly at a cut, so a truncated
    # file would look like one whose variables are missing: check the element chain.
    _check_complete(path)
    return mat


def _check_complete(path: Path) -> None:
    """Raise DataFormatError if the top-level data elements overrun the file."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(128)
        order = "<" if header[126:128] == b"IM" else ">"
        pos = 128
        while pos + 8 <= size:
            fh.seek(pos)
            mdtype, nbytes = struct.unpack(order + "II", fh.read(8))
            if mdtype >> 16:  # small data element: everything fits in the tag
                pos += 8
            else:
                pos += 8 + nbytes
        fh.seek(min(pos, size))
        tail = fh.read()  # fewer than 8 bytes: padding, or a cut inside a tag
    if pos > size or tail.strip(b"\x00"):
        raise DataFormatError(
            path,
            "file",
            f"truncated MAT-file: data elements need {pos} bytes, file has {size}",
        )
