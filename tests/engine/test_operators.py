"""engine.operators: the plain-float forward functions, their domains and stable forms."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import operators as O
from tests.strategies import floats, integer_exponents


@given(floats(-30.0, 30.0), floats(-30.0, 30.0))
def test_arithmetic_matches_python(x: float, y: float) -> None:
    assert O.add(x, y) == x + y
    assert O.mul(x, y) == x * y
    assert O.neg(x) == -x
    if abs(y) >= 1e-290:  # smaller divisors can overflow: test_arithmetic_overflow_...
        assert O.div(x, y) == x / y


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (O.exp, math.exp),
        (O.tanh, math.tanh),
        (O.sin, math.sin),
        (O.cos, math.cos),
        (O.atan, math.atan),
        (O.absolute, abs),
    ],
)
@given(x=floats(-30.0, 30.0))
def test_functions_match_math(fn, ref, x: float) -> None:
    assert fn(x) == ref(x)


@given(floats(1e-300, 1e300))
def test_log_and_sqrt_match_math(x: float) -> None:
    assert O.log(x) == math.log(x)
    assert O.sqrt(x) == math.sqrt(x)


@given(floats(-30.0, 30.0))
def test_stable_forms_agree_with_the_naive_formulas(x: float) -> None:
    # On |x| <= 30 the naive formulas neither overflow nor lose all digits; they differ
    # from the stable ones by rounding only (a few ulps relative, 1e-15 absolute).
    assert O.sigmoid(x) == pytest.approx(1 / (1 + math.exp(-x)), rel=1e-12, abs=1e-15)
    assert O.softplus(x) == pytest.approx(math.log(1 + math.exp(x)), rel=1e-12, abs=1e-15)


@given(floats(-1e3, 1e3), floats(0.0, 1.0))
def test_relu_and_leaky_relu(x: float, slope: float) -> None:
    assert O.relu(x) == max(x, 0.0)
    assert O.leaky_relu(x, slope) == (x if x > 0 else slope * x)
    assert O.leaky_relu(-2.0) == -0.02  # default slope 0.01


@pytest.mark.parametrize("x", [1000.0, -1000.0, 1e300, -1e300])
def test_stable_at_huge_inputs(x: float) -> None:
    assert O.tanh(x) == math.copysign(1.0, x)
    assert O.sigmoid(x) == (1.0 if x > 0 else 0.0)
    # softplus(x) = x + log1p(e^-x) = x exactly in float64 for large x; e^-1000 underflows to 0.
    assert O.softplus(x) == (x if x > 0 else 0.0)


def test_sigmoid_small_tail_is_not_flushed_early() -> None:
    # sigmoid(-700) = e^-700 / (1 + e^-700) ~ 9.86e-305, representable: the stable
    # form keeps it, where 1 / (1 + e^700) would too but 1 / (1 + inf) would give 0.
    assert O.sigmoid(-700.0) == pytest.approx(math.exp(-700.0), rel=1e-12)
    assert O.softplus(-700.0) == pytest.approx(math.exp(-700.0), rel=1e-12)


def test_exp_overflows_with_a_message() -> None:
    assert O.exp(O.EXP_MAX) == pytest.approx(1.7976931348622732e308, rel=1e-12)
    with pytest.raises(OverflowError, match=r"exp\(1000\.0\) overflows"):
        O.exp(1000.0)
    with pytest.raises(OverflowError, match="overflows"):
        O.exp(709.8)


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -1e-300])
def test_log_domain(x: float) -> None:
    with pytest.raises(ValueError, match=rf"log\({x!r}\)"):
        O.log(x)


def test_sqrt_domain() -> None:
    assert O.sqrt(0.0) == 0.0
    with pytest.raises(ValueError, match=r"sqrt\(-1\.0\)"):
        O.sqrt(-1.0)


def test_div_by_zero_names_both_operands() -> None:
    with pytest.raises(ZeroDivisionError, match=r"3\.0 / 0\.0"):
        O.div(3.0, 0.0)


def test_arithmetic_overflow_is_refused_not_inf() -> None:
    with pytest.raises(OverflowError, match=r"1e\+308 \+ 1e\+308 overflows float64"):
        O.add(1e308, 1e308)
    with pytest.raises(OverflowError, match=r"1e\+200 \* 1e\+200 overflows"):
        O.mul(1e200, 1e200)
    with pytest.raises(OverflowError, match=r"2\.0 / 1e-308 overflows"):
        O.div(2.0, 1e-308)
    assert O.div(1.0, 1e-308) == 1e308


@given(floats(-10.0, 10.0), st.one_of(integer_exponents, floats(-3.0, 3.0)))
def test_power_is_real_or_refused(x: float, p: float) -> None:
    if x < 0 and not p.is_integer():
        with pytest.raises(ValueError, match="not a real number"):
            O.power(x, p)
    elif x == 0 and p < 0:
        with pytest.raises(ZeroDivisionError, match="negative power"):
            O.power(x, p)
    else:
        try:
            expected = x**p
        except OverflowError:  # a subnormal base to a negative power
            with pytest.raises(OverflowError, match="overflows float64"):
                O.power(x, p)
        else:
            r = O.power(x, p)
            assert isinstance(r, float)
            assert r == expected


def test_power_errors_name_the_operands() -> None:
    with pytest.raises(ValueError, match=r"\(-2\.0\) \*\* 0\.5"):
        O.power(-2.0, 0.5)
    with pytest.raises(ZeroDivisionError, match=r"0\.0 \*\* -1\.0"):
        O.power(0.0, -1.0)
    with pytest.raises(OverflowError, match=r"\(10\.0\) \*\* 400\.0 overflows"):
        O.power(10.0, 400.0)
    assert O.power(-2.0, 3.0) == -8.0
