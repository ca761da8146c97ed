"""Stable seeds derived from a job's identity (never Python's salted ``hash()``)."""

import hashlib

__all__ = ["stable_seed"]


def stable_seed(*parts: str | int) -> int:
    """Derive a 32-bit seed from a job's identity, the same in every process.

    The parts are written as text, joined with the unit separator ``"\\x1f"``,
    hashed with SHA-256, and the first 4 bytes of the digest are read as a big-endian
    unsigned integer. Python's ``hash()`` is salted per process and must not be used.

    Parameters
    ----------
    *parts : str or int
        E.g. ``(base_seed, dataset, label, fold)``. At least one part.

    Returns
    -------
    int
        In ``[0, 2**32 - 1]``, usable as a NumPy, scikit-learn or torch seed.
    """
    if not parts:
        raise ValueError("parts must not be empty")
    for i, part in enumerate(parts):
        if isinstance(part, bool) or not isinstance(part, str | int):
            raise TypeError(f"parts[{i}] must be a str or an int, got {part!r}")
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")
