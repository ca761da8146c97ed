"""A restricted unpickler for WESAD's Python-2 pickles: numpy arrays and builtins."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ecgssl.util.errors import DataFormatError

__all__ = ["ALLOWED_GLOBALS", "load_pickle"]


def _multiarray() -> Any:
    """Return numpy's multiarray module without touching the deprecated alias."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


_MA = _multiarray()

#: The only globals a WESAD pickle may reference, resolved here once so that no
#: module is imported on behalf of the file (``numpy.core`` is the numpy-1 name
#: that Python-2 pickles carry; it maps onto ``numpy._core`` without importing it).
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _MA._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _MA._reconstruct,
    ("numpy.core.multiarray", "scalar"): _MA.scalar,
    ("numpy._core.multiarray", "scalar"): _MA.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle._Unpickler):
    """Unpickler whose ``find_class`` only resolves :data:`ALLOWED_GLOBALS`.

    Built on the pure-Python unpickler on purpose: the C one sizes its memo as an
    array indexed by the PUT opcode's argument, so a damaged or hostile
    ``LONG_BINPUT 1258977633`` made it allocate and zero ~10 GB and stall for over
    a minute (found by tests/test_fuzz.py); the Python one keeps the memo in a
    dict. WESAD pickles hold a few hundred opcodes, so it is as fast here.
    """

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed global; refuse everything else before it can run."""
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataFormatError(
                self._path,
                "pickle global",
                f"forbidden global '{module}.{name}': only numpy array "
                "reconstruction is allowed in a data pickle",
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (never used by data pickles)."""
        raise DataFormatError(
            self._path, "pickle persistent id", f"forbidden persistent id {pid!r}"
        )


def load_pickle(path: str | Path) -> object:
    """Load a data pickle, allowing only numpy arrays and builtin containers.

    Python-2 ``str`` objects are decoded as latin-1 (as WESAD needs), which numpy
    turns back into the raw array bytes.

    Parameters
    ----------
    path : str | Path
        The pickle file.

    Returns
    -------
    object
        The unpickled object (dicts, lists, tuples, str, numbers, ndarrays).

    Raises
    ------
    DataFormatError
        On a global outside :data:`ALLOWED_GLOBALS` (field ``"pickle global"``,
        raised before anything that global would call has run), and on an empty,
        truncated or otherwise unreadable pickle (field ``"pickle"``).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            if fh.read(1) == b"":
                raise DataFormatError(path, "pickle", "empty (zero-byte) file")
            fh.seek(0)
            return _RestrictedUnpickler(fh, path).load()
    except DataFormatError:
        raise
    except EOFError as exc:
        raise DataFormatError(path, "pickle", f"truncated pickle ({exc})") from exc
    except OSError as exc:
        raise DataFormatError(path, "pickle", f"cannot read file: {exc}") from exc
    except MemoryError as exc:
        raise DataFormatError(path, "pickle", "array too large to load") from exc
    except Exception as exc:  # any other failure means a malformed pickle
        raise DataFormatError(
            path, "pickle", f"malformed pickle: {type(exc).__name__}: {exc}"
        ) from exc
