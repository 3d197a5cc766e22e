"""engine.gradcheck: numerical_grad, gradcheck, gradgradcheck and their error messages."""

from __future__ import annotations

import math
import operator
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import (
    GradcheckError,
    Value,
    define_op,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    numerical_grad,
)
from engine import functional as F
from tests.strategies import (
    DOMAINS,
    Expression,
    bounded_expression,
    domain,
    expressions,
    small_floats,
)

# The tolerances below are gradcheck's defaults (atol 1e-5, rtol 1e-3, eps 1e-6),
# justified for float64 central differences in tests/strategies.py.

# A deliberately wrong derivative: d(x²)/dx written as 3x.
wrong_square = define_op("test_gradcheck_wrong_square", lambda x: x * x, lambda x, out: 3 * x)

# Right on floats, wrong on Values: the rule cuts its input off the graph (detach), so on
# the graph-building path the derivative is a constant and the second derivative comes
# out 0 instead of -sin x. Only a second-order check can see it. (A rule written with
# math.cos is refused outright there: tests/engine/test_define.py.)
frozen_sin = define_op(
    "test_gradcheck_frozen_sin",
    math.sin,
    lambda x, out: F.cos(x.detach() if isinstance(x, Value) else x),
)

# Derivative off by 1 %: passes a loose rtol, fails the default one.
off_by_one_percent = define_op(
    "test_gradcheck_off_by_one_percent", math.exp, lambda x, out: 1.01 * out
)

# The same op, its derivative written with engine.functional: right at every order.
good_sin = define_op("test_gradcheck_good_sin", math.sin, lambda x, out: F.cos(x))

METHODS = {
    name: {"neg": operator.neg, "abs": abs}.get(name) or getattr(Value, name) for name in DOMAINS
}


# --- numerical_grad ---------------------------------------------------------------------


def test_numerical_grad_values() -> None:
    # x³ at 2: exact 12, central-difference error eps² f'''/6 = 1e-12 plus rounding ~1e-9.
    (d,) = numerical_grad(lambda x: x**3, 2.0)
    assert abs(d - 12.0) <= 1e-8
    dx, dy = numerical_grad(lambda x, y: x * y + y, 2.0, 3.0)
    assert abs(dx - 3.0) <= 1e-8 and abs(dy - 3.0) <= 1e-8
    assert numerical_grad(lambda x: x * x, Value(3.0))[0] == pytest.approx(6.0, abs=1e-8)


def test_numerical_grad_evaluates_without_recording() -> None:
    seen = []

    def f(x: Value) -> Value:
        seen.append(is_grad_enabled())
        return x * x

    numerical_grad(f, 1.0)
    assert seen == [False, False]
    assert is_grad_enabled()


def test_numerical_grad_eps() -> None:
    # A larger step has a larger truncation error, h² f'''/6 = h² for x³: (x³)' at 2 with a
    # fixed step of 1e-2 is 12 + 1e-4; with the relative step h = 1e-2 * |2|, 12 + 4e-4.
    (d,) = numerical_grad(lambda x: x**3, 2.0, eps=1e-2, relative=False)
    assert d == pytest.approx(12.0001, abs=1e-9)
    (d,) = numerical_grad(lambda x: x**3, 2.0, eps=1e-2)
    assert d == pytest.approx(12.0004, abs=1e-9)


@pytest.mark.parametrize("eps", [0.0, -1e-6, 1.0, math.nan, True, "1e-6"])
def test_eps_is_checked(eps: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"eps must be a number in (0, 1), got {eps!r}")):
        numerical_grad(lambda x: x, 1.0, eps=eps)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps must be"):
        gradcheck(lambda x: x, 1.0, eps=eps)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "error", "pattern"),
    [
        ("1", TypeError, r"input 1 must be a real number, not str \('1'\)"),
        (True, TypeError, r"input 1 must be a real number, not bool \(True\)"),
        (None, TypeError, "not NoneType"),
        (10**400, ValueError, "input 1 is too large for a float"),
        (math.nan, ValueError, "input 1 must be finite, got nan"),
        (math.inf, ValueError, "got inf"),
    ],
)
def test_inputs_are_checked(bad: object, error: type, pattern: str) -> None:
    for check in (numerical_grad, gradcheck, gradgradcheck):
        with pytest.raises(error, match=pattern):
            check(lambda x, y: x * y, 1.0, bad)


def test_no_inputs() -> None:
    with pytest.raises(TypeError, match="at least one input"):
        numerical_grad(lambda: Value(1.0))
    with pytest.raises(TypeError, match="at least one input"):
        gradcheck(lambda: Value(1.0))


def test_f_failing_at_a_perturbed_point_is_reported() -> None:
    with pytest.raises(ValueError, match=r"f raised at input 0 - step 1e-06 .*log\(-1e-06\)"):
        numerical_grad(lambda x: x.log(), 0.0)


# --- the step scales with |x|; a fixed step on request ----------------------------------


def test_the_step_scales_with_large_inputs() -> None:
    # A fixed step of 1e-6 vanishes in the rounding of 1e308 (1e308 + 1e-6 == 1e308) and
    # the slope of x * 1.0 came out 0.0. With h = 1e-6 * 1e308, x ± h are exact to
    # ulp(1e308) / h = 2e-10 (relative), and so is the quotient.
    (d,) = numerical_grad(lambda x: x * 1.0, 1e308)
    assert d == pytest.approx(1.0, rel=1e-9)
    # The same rounding bound for x * x at 1e154: 2x = 2e154.
    assert numerical_grad(lambda x: x * x, -1e154)[0] == pytest.approx(-2e154, rel=1e-9)
    assert gradcheck(lambda x: x * x, 1e154)
    assert gradcheck(lambda x, y: x * y, 1e150, -3e-150)
    assert gradgradcheck(lambda x: x**3, 1e100)  # the Hessian's differences scale too


def test_a_fixed_step_on_request() -> None:
    # relative=False: the textbook (f(x + eps) - f(x - eps)) / (2 eps), bit for bit.
    def f(x: Value) -> Value:
        return x.exp()

    def plain(x: float) -> float:
        return math.exp(x)

    for x in (3.0, -7.5, 0.25):
        fixed = (plain(x + 1e-3) - plain(x - 1e-3)) / (2 * 1e-3)
        assert numerical_grad(f, x, eps=1e-3, relative=False) == (fixed,)
    # ... and it vanishes where the relative step does not
    assert numerical_grad(lambda x: x * 1.0, 1e308, relative=False) == (0.0,)
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: x * x, 1e154, relative=False)


@given(st.floats(-1.0, 1.0), st.sampled_from([1e-2, 1e-6, 1e-10]))
def test_both_steps_agree_for_inputs_up_to_1(x: float, eps: float) -> None:
    # For |x| <= 1 the relative step is eps itself: notebook 04's sweep at x = 1 is the
    # textbook formula either way.
    def f(v: Value) -> Value:
        return v.sin() * v

    assert numerical_grad(f, x, eps=eps) == numerical_grad(f, x, eps=eps, relative=False)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_of_f_is_refused_naming_the_input(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"f returned {bad!r} at input 0 \+ step 1e-06"):
        numerical_grad(lambda x: bad, 1.0)
    with pytest.raises(ValueError, match=rf"f returned {bad!r} at input 1 "):
        numerical_grad(lambda x, y: x * 2 if y.data <= 2.5 else bad, 1.0, 2.5)
    with pytest.raises(ValueError, match=f"the result of <lambda> must be finite, got {bad!r}"):
        gradcheck(lambda x: bad, 1.0)  # the analytic pass comes first


def test_an_overflowing_difference_is_refused_naming_the_input() -> None:
    # f(±h) = ±1.7e308, both finite; their difference is not.
    def f(x: Value) -> Value:
        return (x * 1e14).tanh() * 1.7e308

    with pytest.raises(ValueError, match="central difference in input 0 overflows float64"):
        numerical_grad(f, 0.0)


def test_a_step_beyond_float64_is_refused_naming_the_input() -> None:
    with pytest.raises(ValueError, match=r"input 0 \+ step .* overflows float64"):
        numerical_grad(lambda x: x * 1.0, 1.7976931348623157e308)


def test_other_real_number_types_are_inputs() -> None:
    from fractions import Fraction

    assert numerical_grad(lambda x: x * x, Fraction(3, 2))[0] == pytest.approx(3.0, abs=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"atol": math.nan}, ValueError, "gradcheck: atol must be finite, got nan"),
        ({"atol": math.inf}, ValueError, "gradcheck: atol must be finite, got inf"),
        ({"rtol": -1}, ValueError, "gradcheck: rtol must be >= 0, got -1"),
        ({"atol": -1e-9}, ValueError, "gradcheck: atol must be >= 0, got -1e-09"),
        ({"rtol": "0.1"}, TypeError, "gradcheck: rtol must be a real number, not str"),
        ({"atol": None}, TypeError, "gradcheck: atol must be a real number, not NoneType"),
    ],
)
def test_tolerances_are_checked(kwargs: dict[str, object], error: type, pattern: str) -> None:
    with pytest.raises(error, match=re.escape(pattern)):
        gradcheck(lambda x: x * x, 1.0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error, match=re.escape(pattern)):
        gradgradcheck(lambda x: x * x, 1.0, **kwargs)


def test_order_is_checked() -> None:
    with pytest.raises(ValueError, match="order must be 1 or 2, got 3"):
        gradcheck(lambda x: x, 1.0, order=3)


# --- gradcheck passes on correct functions ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOMAINS))
@given(data=st.data())
def test_gradcheck_and_gradgradcheck_on_each_op(name: str, data: st.DataObject) -> None:
    x = data.draw(domain(name), label="x")
    f = METHODS[name]
    assert gradcheck(f, x) is True
    assert gradgradcheck(f, x) is True


@given(st.tuples(st.floats(0.1, 10.0), st.floats(-3.0, 3.0)))
def test_gradgradcheck_on_power_ops(xy: tuple[float, float]) -> None:
    x, p = xy
    assert gradgradcheck(lambda v: v**p, x)
    assert gradgradcheck(lambda a, b: a**b, x, p)
    assert gradgradcheck(lambda a, b: a * b + a / b, x, p + 3.5)


@given(expressions(), small_floats, small_floats, small_floats)
def test_gradcheck_on_random_dags(e: Expression, a: float, b: float, c: float) -> None:
    assume(bounded_expression(e, (a, b, c)))
    assert gradcheck(e, a, b, c)


def test_unused_inputs_and_constant_outputs_pass() -> None:
    assert gradcheck(lambda x, y: x * 2, 1.0, 5.0)
    assert gradcheck(lambda x: 3.0, 1.0)
    assert gradgradcheck(lambda x, y: y * y, 1.0, 5.0)


def test_gradcheck_accepts_values() -> None:
    assert gradcheck(lambda x: x.tanh(), Value(0.3))


# --- gradcheck catches wrong rules, and says where --------------------------------------------


def test_gradcheck_error_lists_every_input() -> None:
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: wrong_square(a) + b, 2.0, 1.0)
    message = str(info.value)
    assert "first derivatives disagree (atol=1e-05, rtol=0.001)" in message
    # Input 0: analytic 3x = 6, numeric 2x = 4 (to ~1e-9), tolerance 1e-5 + 1e-3 * 4.
    assert pytest.approx(4.0, abs=1e-6) == float(
        re.search(r"input 0 \(at 2\.0\): analytic 6, numeric ([0-9.]+)", message)[1]
    )
    assert "|diff| 2 > tolerance 0.00401   <-- mismatch" in message
    # Input 1 is listed too, and passes.
    assert re.search(
        r"input 1 \(at 1\.0\): analytic 1, numeric 1(\.0+\d*)?, \|diff\| \S+ <= tolerance 0\.00101",
        message,
    )
    assert isinstance(info.value, RuntimeError)


def test_gradcheck_error_for_a_wrong_derivative_in_a_bigger_function() -> None:
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda x: (wrong_square(x) + x).sin(), 0.7)


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    assert gradcheck(frozen_sin, 0.7)  # first derivatives are right
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(frozen_sin, 0.7)
    message = str(info.value)
    assert "second derivatives disagree" in message
    # analytic d²/dx² is 0 (a constant derivative), numeric is -sin(0.7) = -0.644...
    assert "d2 f / d input 0 d input 0: analytic 0, numeric -0.644217687" in message
    assert "<-- mismatch" in message


def test_gradgradcheck_names_the_mixed_partial() -> None:
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda x, y: frozen_sin(x * y), 0.5, 0.9)
    message = str(info.value)
    for i in range(2):
        for j in range(2):
            assert f"d2 f / d input {i} d input {j}" in message


def test_tolerances_are_used() -> None:
    with pytest.raises(GradcheckError):
        gradcheck(off_by_one_percent, 1.0)
    assert gradcheck(off_by_one_percent, 1.0, rtol=0.02)
    assert gradcheck(off_by_one_percent, 1.0, atol=0.03)


def test_functional_derivatives_pass_second_order() -> None:
    # The same op with its derivative written with engine.functional is right twice over.
    assert gradgradcheck(good_sin, 0.7)
