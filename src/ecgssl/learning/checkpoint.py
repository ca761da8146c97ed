"""Training checkpoints that survive kills and detect corruption.

A checkpoint is written atomically (temporary sibling, then rename) and the one it
replaces is kept as ``<name>.prev``. Its payload is sealed with a SHA-256 digest, so a
file damaged after writing (bit rot, a truncating copy, a full disk during a manual
copy) is recognised as such instead of being half-loaded. :func:`load_checkpoint`
returns the newest intact checkpoint of the same run and reports why any other was
skipped; training then resumes from it, or starts afresh when there is none.

Files load with ``torch.load(..., weights_only=True)``: a checkpoint that needs
arbitrary Python objects is refused, never executed.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ecgssl.util.atomic import atomic_path
from ecgssl.util.errors import EcgSslError

__all__ = [
    "atomic_torch_save",
    "load_checkpoint",
    "previous_path",
    "remove_checkpoint",
    "save_checkpoint",
]

_SEAL = "ecgssl-sealed-checkpoint-v1"


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary sibling file renamed into place.

    A reader never sees a half-written file, and an interrupted write leaves any
    previous file intact.
    """
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:  # torch's "file write failed" on a full disk
            raise EcgSslError(f"cannot write {path}: {err}") from err


def previous_path(path: str | Path) -> Path:
    """The path the replaced checkpoint is kept under (``<name>.prev``)."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


def save_checkpoint(state: Mapping[str, Any], path: str | Path) -> None:
    """Seal ``state`` with its SHA-256 and write it atomically to ``path``.

    Parameters
    ----------
    state : mapping
        Tensors, numbers, strings, lists and dicts only (what ``weights_only``
        loading accepts). It must hold a ``"format"`` string and a ``"fingerprint"``
        identifying the run.
    path : str or Path
        Destination. An existing checkpoint there is kept as ``<name>.prev``, so a
        kill at any moment leaves at least one intact checkpoint behind.
    """
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    payload = buffer.getvalue()
    sealed = {
        "seal": _SEAL,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    path = Path(path)
    if path.exists():
        # A kill between this rename and the write below leaves only the .prev,
        # which load_checkpoint falls back to.
        os.replace(path, previous_path(path))
    atomic_torch_save(sealed, path)


def _read_one(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not usable"
        raise ValueError(f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(outer, dict) or outer.get("seal") != _SEAL:
        raise ValueError(f"not a sealed checkpoint ({_SEAL!r})")
    payload = outer.get("payload")
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8:
        raise ValueError("sealed payload missing")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != outer.get("sha256"):
        raise ValueError("SHA-256 mismatch: the file is corrupt")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"payload unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or state.get("format") != expected_format:
        raise ValueError(f"not a {expected_format!r} checkpoint")
    return state


def load_checkpoint(
    path: str | Path,
    *,
    expected_format: str,
    fingerprint: Any,
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """The newest intact checkpoint of this run at ``path`` or its ``.prev``, if any.

    Parameters
    ----------
    path : str or Path
        Where :func:`save_checkpoint` writes.
    expected_format : str
        The ``"format"`` value the state must carry.
    fingerprint : any
        What the state's ``"fingerprint"`` must equal (data, seed, configuration):
        a checkpoint of another run is never resumed from.
    log : callable
        Receives one line for each candidate that is skipped, and why.

    Returns
    -------
    dict or None
        The state (tensors on the CPU), or None when no usable checkpoint exists.
    """
    for candidate in (Path(path), previous_path(path)):
        if not candidate.exists():
            continue
        try:
            state = _read_one(candidate, expected_format)
        except ValueError as err:
            log(f"checkpoint {candidate} skipped: {err}")
            continue
        if state.get("fingerprint") != fingerprint:
            log(
                f"checkpoint {candidate} skipped: it belongs to another run (data, "
                "seed or configuration differ)"
            )
            continue
        return state
    return None


def remove_checkpoint(path: str | Path) -> None:
    """Delete the checkpoint and its ``.prev`` (after the final outputs are written)."""
    Path(path).unlink(missing_ok=True)
    previous_path(path).unlink(missing_ok=True)
