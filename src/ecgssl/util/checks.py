"""Argument checks with messages that name the argument (in the manner of MNE's).

Every public function of the library validates its arguments through these helpers
instead of inline ``isinstance`` tests, so that the same mistake always reads the
same way: ``TypeError`` for a wrong type, ``ValueError`` for a wrong value, each
naming the argument and what it got. They return the value (converted to a plain
``int``/``float`` where that is checked), never modify it otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from numbers import Integral, Real
from typing import Any

__all__ = [
    "check_int",
    "check_keys",
    "check_number",
    "check_option",
    "check_probability",
    "validate_type",
]


def _type_names(types: type | tuple[type, ...]) -> str:
    items = types if isinstance(types, tuple) else (types,)
    names = ["None" if t is type(None) else t.__name__ for t in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def validate_type(value: Any, types: type | tuple[type, ...], name: str) -> Any:
    """Raise ``TypeError`` unless ``value`` is an instance of ``types``.

    Parameters
    ----------
    value : object
        The argument.
    types : type or tuple of type
        Accepted types (``type(None)`` for None).
    name : str
        The argument's name, for the message.

    Returns
    -------
    object
        ``value``, unchanged.
    """
    if not isinstance(value, types):
        raise TypeError(
            f"{name} must be {_type_names(types)}, got {type(value).__name__} {value!r}"
        )
    return value


def check_option(value: Any, allowed: Collection[Any], name: str) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``.

    Returns
    -------
    object
        ``value``, unchanged.
    """
    try:
        ok = value in allowed
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer (numpy integers too, not bool) within optional inclusive bounds.

    Returns
    -------
    int
        ``value`` as a Python int.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """A finite real number (not bool) within optional bounds.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name, for the message.
    minimum, maximum : float or None
        Bounds; None: unbounded on that side.
    exclusive_minimum, exclusive_maximum : bool
        Whether the bound itself is excluded.

    Returns
    -------
    float
        ``value`` as a Python float.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_bad = minimum is not None and (
        value <= minimum if exclusive_minimum else value < minimum
    )
    high_bad = maximum is not None and (
        value >= maximum if exclusive_maximum else value > maximum
    )
    if low_bad or high_bad:
        left = "" if minimum is None else ("(" if exclusive_minimum else "[")
        right = "" if maximum is None else (")" if exclusive_maximum else "]")
        if minimum is None:
            bound = f"{'<' if exclusive_maximum else '<='} {maximum}"
        elif maximum is None:
            bound = f"{'>' if exclusive_minimum else '>='} {minimum}"
        else:
            bound = f"in {left}{minimum}, {maximum}{right}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_probability(value: Any, name: str, *, allow_one: bool = False) -> float:
    """A number in [0, 1) (or [0, 1] with ``allow_one``), e.g. a dropout rate."""
    return check_number(
        value, name, minimum=0.0, maximum=1.0, exclusive_maximum=not allow_one
    )


def check_keys(mapping: Any, allowed: Iterable[str], name: str) -> dict[str, Any]:
    """A mapping whose keys are all in ``allowed``; unknown keys are listed.

    Returns
    -------
    dict
        A shallow copy of ``mapping``.
    """
    validate_type(mapping, Mapping, name)
    allowed = sorted(allowed)
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; allowed: {allowed}")
    return dict(mapping)
