"""Loading MATLAB v5/v7 files (DREAMER, AMIGOS) with clear errors for damaged files."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import scipy.io
from scipy.io.matlab import MatReadError

from ecgssl.util.errors import DataFormatError

__all__ = ["load_mat_v5"]

log = logging.getLogger(__name__)

# What scipy says when its check of a compressed variable fails: the inflated stream
# is longer than the variable it holds. Valid files can fail it (scipy issue #6999);
# torcheeg reads DREAMER.mat with the check off.
_INTEGRITY_MESSAGE = "compressed contents of an miCOMPRESSED element"

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
    NameError,  # scipy's Cython reader: UnboundLocalError on some flipped bytes
    UnicodeDecodeError,
    MemoryError,  # dimensions in a damaged header can ask for absurd arrays
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

    Notes
    -----
    scipy's check that each compressed variable's inflated stream is fully
    consumed rejects some valid files (scipy issue #6999); torcheeg therefore loads
    DREAMER with ``verify_compressed_data_integrity=False``. When that check (and
    only that check) fails, the file is read again without it, with a warning; a
    file that still does not decode stays an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "path", "file does not exist")
    if path.stat().st_size == 0:
        raise DataFormatError(path, "file", "file is empty (0 bytes)")
    names = None if variable_names is None else list(variable_names)
    try:
        return _load(path, names, verify=True)
    except DataFormatError as exc:
        if _INTEGRITY_MESSAGE not in exc.message:
            raise
        log.warning(
            "%s: scipy's integrity check of compressed variables failed (%s); this "
            "check is known to reject valid files (scipy issue #6999), so the file "
            "is read again without it, as torcheeg reads DREAMER.mat",
            path,
            exc.message,
        )
    return _load(path, names, verify=False)


def _load(path: Path, names: list[str] | None, *, verify: bool) -> dict[str, Any]:
    """One guarded ``loadmat`` (crash probe, error wrapping, truncation check)."""
    _probe_in_child(path, names, verify)
    try:
        mat = scipy.io.loadmat(
            path, variable_names=names, verify_compressed_data_integrity=verify
        )
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


def _probe_in_child(path: Path, names: list[str] | None, verify: bool) -> None:
    """Parse the file once in a forked child; raise if the parser crashes there.

    scipy's Cython MAT reader indexes C arrays with type codes read from the file
    without bounds checks, so a damaged file can kill the process with SIGSEGV
    (found by tests/test_fuzz.py: one flipped byte in a char array's name tag).
    A crash in the child, or its kill by the kernel's out-of-memory killer (a
    damaged header can ask for a cell array of 2**31 elements), becomes a
    DataFormatError here; a Python exception in the child is left for the real
    parse below to raise (and wrap) again. This costs a second parse of the file.
    """
    if not hasattr(os, "fork"):  # Windows: no cheap isolated child; parse directly
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child only
        code = 1
        try:
            faulthandler.disable()  # the crash is expected; keep stderr quiet
            scipy.io.loadmat(
                path, variable_names=names, verify_compressed_data_integrity=verify
            )
            code = 0
        finally:
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:  # interrupted (Ctrl-C, a time limit): leave no orphan
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        raise DataFormatError(
            path,
            "file",
            f"corrupt MAT-file: the MATLAB parser crashed on it ({name}){hint}",
        )


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
