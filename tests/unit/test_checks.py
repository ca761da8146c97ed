"""Argument checks: one wording for every library function."""

from __future__ import annotations

import numpy as np
import pytest

from ecgssl.util.checks import (
    check_int,
    check_keys,
    check_number,
    check_option,
    check_probability,
    validate_type,
)


def test_check_int():
    assert check_int(np.int64(3), "n", minimum=1) == 3
    assert type(check_int(np.int64(3), "n")) is int
    with pytest.raises(TypeError, match="n must be an int, got True"):
        check_int(True, "n")
    with pytest.raises(TypeError, match="n must be an int"):
        check_int(2.0, "n")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_int(0, "n", minimum=1)
    with pytest.raises(ValueError, match="n must be <= 5, got 6"):
        check_int(6, "n", maximum=5)


def test_check_number_bounds_and_finiteness():
    assert check_number(1, "x") == 1.0
    with pytest.raises(ValueError, match="x must be finite"):
        check_number(float("nan"), "x")
    with pytest.raises(ValueError, match=r"x must be > 0"):
        check_number(0.0, "x", minimum=0.0, exclusive_minimum=True)
    with pytest.raises(ValueError, match=r"x must be in \[0.0, 1.0\)"):
        check_number(1.0, "x", minimum=0.0, maximum=1.0, exclusive_maximum=True)
    with pytest.raises(TypeError, match="x must be a number"):
        check_number("1", "x")
    assert check_probability(0.0, "p") == 0.0
    with pytest.raises(ValueError, match="p must be in"):
        check_probability(1.0, "p")
    assert check_probability(1.0, "p", allow_one=True) == 1.0


def test_option_type_and_keys():
    assert check_option("a", ("a", "b"), "kind") == "a"
    with pytest.raises(ValueError, match="kind must be one of 'a', 'b'; got 'c'"):
        check_option("c", ("a", "b"), "kind")
    with pytest.raises(ValueError, match="kind must be one of"):
        check_option(["a"], {"a", "b"}, "kind")  # unhashable
    with pytest.raises(TypeError, match="x must be int or None, got str"):
        validate_type("s", (int, type(None)), "x")
    assert check_keys({"a": 1}, ["a", "b"], "cfg") == {"a": 1}
    with pytest.raises(ValueError, match=r"cfg has unknown keys \['z'\]"):
        check_keys({"z": 1}, ["a"], "cfg")
