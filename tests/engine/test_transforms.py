"""engine.transforms: grad, value_and_grad, hessian; nesting and higher derivatives."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from engine import Value, grad, hessian, no_grad, value_and_grad
from tests.strategies import assert_close, central_difference, floats

# --- the figures ---------------------------------------------------------------


def test_second_derivative_of_a_cube() -> None:
    assert grad(grad(lambda x: x**3))(2.0) == 12.0


def test_hessian_example() -> None:
    h = hessian(lambda x, y: x * x * y + y**3)(1.0, 2.0)
    assert h == [[4.0, 2.0], [2.0, 12.0]]


def test_perturbation_confusion() -> None:
    # d/dx [x * d/dy (x * y)] = d/dx x² = 2x: the inner grad must not see the outer x.
    assert grad(lambda x: x * grad(lambda y: x * y)(x))(3.0) == 6.0


def test_perturbation_confusion_other_order() -> None:
    # d/dx [x * d/dy (x + y)] = d/dx x = 1 (JAX's and Siskind & Pearlmutter's example).
    assert grad(lambda x: x * grad(lambda y: x + y)(x))(3.0) == 1.0


# --- third derivatives -------------------------------------------------------------------


def test_third_derivative_of_x_to_the_5() -> None:
    f3 = grad(grad(grad(lambda x: x**5)))
    assert f3(2.0) == 240.0  # 60 x²
    assert grad(f3)(2.0) == 240.0  # 120 x
    assert grad(grad(f3))(2.0) == 120.0


@given(floats(-5.0, 5.0))
def test_third_derivatives_of_sin_and_exp(x: float) -> None:
    # Exact up to the rounding of a few graph multiplications by ±1.
    assert grad(grad(grad(Value.sin)))(x) == pytest.approx(-math.cos(x), rel=1e-14, abs=1e-15)
    assert grad(grad(grad(Value.exp)))(x) == pytest.approx(math.exp(x), rel=1e-14)


def _third_derivative_cases() -> list[tuple[str, object, float, float]]:
    return [
        ("tanh", Value.tanh, -3.0, 3.0),
        ("sigmoid", Value.sigmoid, -5.0, 5.0),
        ("softplus", Value.softplus, -5.0, 5.0),
        ("log", Value.log, 0.1, 10.0),
        ("sqrt", Value.sqrt, 0.1, 10.0),
        ("cos", Value.cos, -5.0, 5.0),
        ("x**-1.5", lambda v: v**-1.5, 0.1, 10.0),
    ]


@pytest.mark.parametrize(("name", "f", "lo", "hi"), _third_derivative_cases())
@given(data=__import__("hypothesis").strategies.data())
def test_third_derivatives_match_differences_of_the_second(name, f, lo, hi, data) -> None:
    # Central difference of the (analytic) second derivative; tolerance from
    # tests/strategies.py. f'''' stays below ~1e5 on these ranges (x**-1.5 at 0.1:
    # 1.5·2.5·3.5·4.5·5.5 x^-7.5 ~ 1e9), truncation <= 1e-12 * 1e9 / 6 ~ 2e-4 against a
    # tolerance of 1e-3 * |f'''| ~ 6e3 there.
    x = data.draw(floats(lo, hi), label="x")
    f2 = grad(grad(f))
    assert_close(grad(f2)(x), central_difference(f2, x), f"{name}'''({x!r})")


# --- value_and_grad and argnums ------------------------------------------------------------


def test_value_and_grad() -> None:
    v, g = value_and_grad(lambda x, y: x * y + y)(2.0, 5.0)
    assert (v, g) == (15.0, 5.0)
    assert type(v) is float and type(g) is float


def test_value_and_grad_tuple_argnums() -> None:
    f = lambda x, y, z: x * y * z  # noqa: E731
    v, g = value_and_grad(f, argnums=(0, 2))(2.0, 3.0, 4.0)
    assert v == 24.0
    assert g == (12.0, 6.0)
    assert value_and_grad(f, argnums=(2,))(2.0, 3.0, 4.0)[1] == (6.0,)
    assert grad(f, argnums=(1, 0))(2.0, 3.0, 4.0) == (8.0, 12.0)
    assert grad(f, argnums=-1)(2.0, 3.0, 4.0) == 6.0


def test_non_differentiated_arguments_pass_through() -> None:
    def f(x: Value, n: int, scale: float) -> Value:
        return x**n * scale

    assert grad(f)(2.0, 3, 0.5) == 6.0
    assert grad(f)(-2.0, 3, 0.5) == 6.0  # an int stays an int: x ** n at a negative x


def test_a_float_argument_not_differentiated_is_a_constant_value() -> None:
    # The learner's stumble (issue 12): the range of a throw, R = v² sin(2θ) / g, by v.
    def throw(v: Value, theta: Value, g: Value) -> Value:
        return v * v * (theta * 2).sin() / g

    dv = grad(throw)(20.0, 0.6, 1.5)
    # 2 v sin(2θ) / g, up to the rounding of the few products in between
    assert dv == pytest.approx(2 * 20.0 * math.sin(1.2) / 1.5, rel=1e-15)
    value, (dtheta, dg) = value_and_grad(throw, argnums=(1, 2))(20.0, 0.6, 1.5)
    assert value == pytest.approx(400 * math.sin(1.2) / 1.5, rel=1e-15)
    assert dtheta == pytest.approx(2 * 400 * math.cos(1.2) / 1.5, rel=1e-15)
    assert dg == pytest.approx(-400 * math.sin(1.2) / 1.5**2, rel=1e-15)
    assert hessian(throw, argnums=0)(20.0, 0.6, 1.5) == pytest.approx(
        2 * math.sin(1.2) / 1.5, rel=1e-15
    )


def test_what_f_receives_for_each_kind_of_argument() -> None:
    from fractions import Fraction

    np = pytest.importorskip("numpy")
    seen: list[object] = []
    mark = Value(7.0)

    def f(x: Value, *rest: object) -> Value:
        seen.extend(rest)
        return x * x

    assert grad(f)(3.0, 0.5, np.float64(0.25), Fraction(1, 8), 2, True, "s", mark) == 6.0
    half, quarter, eighth, two, flag, text, value = seen
    for v, number in ((half, 0.5), (quarter, 0.25), (eighth, 0.125)):
        assert isinstance(v, Value) and v.is_leaf and v.data == number and type(v.data) is float
    assert (two, flag, text) == (2, True, "s") and type(two) is int and type(flag) is bool
    assert value is mark  # a Value is passed as it is


def test_an_int_used_as_a_value_gets_a_message_saying_what_to_write() -> None:
    with pytest.raises(AttributeError, match=r"argument 1 of .*, 2: .*write 2.0 to get a"):
        grad(lambda x, n: x * n.sin())(1.0, 2)
    with pytest.raises(AttributeError, match=r"write 3\.0"):
        hessian(lambda x, n: x * n.exp(), argnums=0)(1.0, 3)
    # other AttributeErrors are left alone
    with pytest.raises(AttributeError) as info:
        grad(lambda x, n: x.no_such_method())(1.0, 2)
    assert "write" not in str(info.value)


def test_a_non_finite_argument_or_result_is_named() -> None:
    with pytest.raises(ValueError, match="argument 1 must be finite, got nan"):
        grad(lambda x, y: x * y)(1.0, math.nan)
    with pytest.raises(ValueError, match="argument 0 \\(differentiated\\) must be finite"):
        grad(lambda x: x)(math.inf)
    with pytest.raises(ValueError, match="the result of <lambda> must be finite, got nan"):
        grad(lambda x: math.nan)(1.0)


@pytest.mark.parametrize(
    ("argnums", "error", "pattern"),
    [
        (2, ValueError, "argnums 2 is out of range for 2"),
        (-3, ValueError, "argnums -3 is out of range"),
        ((0, 5), ValueError, "argnums 5 is out of range"),
        ((0, 0), ValueError, r"argnums \(0, 0\) names the same argument twice"),
        ((1, -1), ValueError, "same argument twice"),
        ((), TypeError, "non-empty tuple"),
        ([0, 1], TypeError, r"not \[0, 1\]"),
        (True, TypeError, "not True"),
        (1.0, TypeError, "not 1.0"),
        ((0, "1"), TypeError, "must hold ints, got '1'"),
    ],
)
def test_argnums_errors(argnums, error, pattern) -> None:
    for transform in (grad, value_and_grad, hessian):
        with pytest.raises(error, match=pattern):
            transform(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


def test_non_scalar_output_is_refused() -> None:
    with pytest.raises(TypeError, match="must return a scalar Value or number, not str"):
        grad(lambda x: "oops")(1.0)
    with pytest.raises(TypeError, match="not list"):
        hessian(lambda x: [x])(1.0)


def test_constant_function_has_zero_gradient() -> None:
    assert grad(lambda x: 3.0)(1.0) == 0.0
    assert grad(lambda x, y: y * y)(1.0, 2.0) == 0.0
    assert hessian(lambda x: x * 2)(1.0) == [[0.0]]


def test_grad_of_values_returns_values_with_a_graph() -> None:
    x = Value(2.0)
    g = grad(lambda v: v**3)(x)
    assert isinstance(g, Value) and g.data == 12.0
    g.backward()
    assert x.grad == 12.0  # d/dx 3x² = 6x
    assert grad(lambda v: v**3)(2.0) == 12.0  # a float for a float


def test_transforms_record_inside_no_grad() -> None:
    # As torch.func.grad: an outer no_grad() does not zero the derivatives ...
    with no_grad():
        assert grad(lambda x: x * x)(3.0) == 6.0
        assert value_and_grad(lambda x: x * x)(3.0) == (9.0, 6.0)
        assert hessian(lambda x: x * x * x)(2.0) == [[12.0]]
        assert grad(grad(lambda x: x**3))(2.0) == 12.0

    # ... while f may still hold part of itself constant with no_grad() inside.
    def f(x: Value) -> Value:
        with no_grad():
            c = x * x
        return c * x

    assert grad(f)(3.0) == 9.0


# --- hessian ---------------------------------------------------------------------------


def test_hessian_int_argnums_gives_a_number() -> None:
    f = lambda x, y: x * x * y + y**3  # noqa: E731
    assert hessian(f, argnums=0)(1.0, 2.0) == 4.0
    assert hessian(f, argnums=1)(1.0, 2.0) == 12.0
    assert hessian(f, argnums=(1, 0))(1.0, 2.0) == [[12.0, 2.0], [2.0, 4.0]]


def test_hessian_of_values_is_differentiable() -> None:
    # d/dx of d²(x³)/dx² = 6.
    assert grad(lambda x: hessian(lambda y: y**3, argnums=0)(x))(2.0) == 6.0


def test_transform_names() -> None:
    def square(x: Value) -> Value:
        return x * x

    assert grad(square).__name__ == "grad(square)"
    assert value_and_grad(square).__name__ == "value_and_grad(square)"
    assert hessian(square).__name__ == "hessian(square)"
