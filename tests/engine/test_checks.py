"""engine.checks: the one place that says what a real number and an integer are."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from engine.checks import is_finite, is_real, to_float, to_int


@pytest.mark.parametrize("x", [0, 1.5, -3, Fraction(1, 3), 10**400])
def test_real_numbers(x: object) -> None:
    assert is_real(x)


@pytest.mark.parametrize("x", [True, False, 1j, "1", None, [1.0]])
def test_not_real_numbers(x: object) -> None:
    assert not is_real(x)
    with pytest.raises(TypeError, match="x must be a real number"):
        to_float(x, "x")


def test_to_float_converts_and_checks_finiteness() -> None:
    assert to_float(Fraction(1, 4), "x") == 0.25
    assert type(to_float(3, "x")) is float
    with pytest.raises(ValueError, match="x is too large for a float"):
        to_float(10**400, "x")
    with pytest.raises(ValueError, match="x must be finite"):
        to_float(math.nan, "x")
    assert math.isinf(to_float(math.inf, "x", finite=False))
    assert is_finite(1e308) and not is_finite(math.inf) and not is_finite(math.nan)


def test_to_int_takes_integers_only() -> None:
    np = pytest.importorskip("numpy")
    assert to_int(np.int64(7), "n") == 7 and type(to_int(np.int64(7), "n")) is int
    assert to_int(10**400, "n") == 10**400
    for bad in (True, 3.0, Fraction(3, 1), "3", None):
        with pytest.raises(TypeError, match="n must be an int"):
            to_int(bad, "n")
