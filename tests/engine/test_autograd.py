"""engine.autograd.gradients: PyTorch's autograd.grad shape, first and higher order."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given

from engine import Value, gradgradcheck, gradients
from tests.strategies import (
    ATOL,
    RTOL,
    Expression,
    bounded_expression,
    central_difference,
    expressions,
    small_floats,
)


def test_floats_by_default() -> None:
    x, y = Value(2.0), Value(5.0)
    out = x * x * y
    g = gradients(out, [x, y])
    assert g == (20.0, 4.0)
    assert all(type(v) is float for v in g)


def test_touches_no_grad_field() -> None:
    x, y = Value(2.0), Value(5.0)
    out = x * y + x
    gradients(out, [x, y])
    gradients(out, [x, y], create_graph=True)
    assert x.grad == y.grad == out.grad == 0.0


def test_single_value_input_gives_a_one_tuple() -> None:
    x = Value(3.0)
    assert gradients(x * x, x) == (6.0,)


def test_unused_inputs_get_zero() -> None:
    x, unused = Value(2.0), Value(7.0)
    assert gradients(x * 3, [x, unused]) == (3.0, 0.0)
    g = gradients(x * 3, [x, unused], create_graph=True)
    assert isinstance(g[1], Value) and g[1].data == 0.0
    # A constant output: every gradient is 0.
    assert gradients(Value(1.0), [x]) == (0.0,)


def test_output_as_its_own_input() -> None:
    x = Value(2.0)
    assert gradients(x, [x]) == (1.0,)
    (g,) = gradients(x, [x], create_graph=True)
    assert isinstance(g, Value) and g.data == 1.0


def test_intermediates_as_inputs() -> None:
    x = Value(3.0)
    a = x * x
    out = a.sin()
    ga, gx = gradients(out, [a, x])
    assert ga == math.cos(9.0)
    assert gx == ga * 6.0


def test_create_graph_gives_differentiable_values() -> None:
    x = Value(2.0)
    out = x**3
    (g,) = gradients(out, [x], create_graph=True)
    assert isinstance(g, Value) and g.data == 12.0  # 3x²
    (gg,) = gradients(g, [x], create_graph=True)
    assert gg.data == 12.0  # 6x
    (ggg,) = gradients(gg, [x])
    assert ggg == 6.0
    # The first-order graph was not disturbed.
    assert gradients(out, [x]) == (12.0,)


def test_create_graph_with_every_kind_of_op() -> None:
    x, y = Value(0.7), Value(1.3)
    out = (
        (x * y - x / y + (x**2.0) * 3).tanh()
        + (x**y).log()
        + y.sqrt().exp()
        + x.sigmoid() * y.softplus()
        + x.sin() * y.cos()
        + abs(x - y)
        + (x * y).relu()
        + (-x).leaky_relu(0.1)
    )
    assert gradgradcheck(
        lambda a, b: (
            (a * b - a / b + (a**2.0) * 3).tanh()
            + (a**b).log()
            + b.sqrt().exp()
            + a.sigmoid() * b.softplus()
            + a.sin() * b.cos()
            + abs(a - b)
            + (a * b).relu()
            + (-a).leaky_relu(0.1)
        ),
        0.7,
        1.3,
    )
    first = gradients(out, [x, y], create_graph=True)
    assert [g.data for g in first] == pytest.approx(list(gradients(out, [x, y])), rel=1e-14)


@pytest.mark.parametrize(
    ("output", "inputs", "pattern"),
    [
        (1.0, [Value(1.0)], "output must be a Value, not float"),
        (Value(1.0), [1.0], r"inputs\[0\] must be a Value, not float"),
        (Value(1.0), [Value(1.0), "x"], r"inputs\[1\] must be a Value, not str"),
        (Value(1.0), 3, "inputs must be a Value or a sequence of Values, not int"),
    ],
)
def test_bad_arguments_are_named(output, inputs, pattern) -> None:
    with pytest.raises(TypeError, match=pattern):
        gradients(output, inputs)


# --- second derivatives of random DAGs --------------------------------------------------


@given(expressions(), small_floats, small_floats, small_floats)
def test_second_derivatives_of_random_dags(e: Expression, a: float, b: float, c: float) -> None:
    # Tolerance ATOL 1e-5 + RTOL 1e-3 on central differences of the first derivatives
    # (float64, eps 1e-6; the error model is in tests/strategies.py).
    assume(bounded_expression(e, (a, b, c)))
    xs = [Value(a), Value(b), Value(c)]
    first = gradients(e(*xs), xs, create_graph=True)
    point = [a, b, c]

    def first_on_floats(i: int, j: int, t: float) -> float:
        p = list(point)
        p[j] = t
        vs = [Value(v) for v in p]
        return gradients(e(*vs), vs)[i]

    for i, gi in enumerate(first):
        assert isinstance(gi, Value)
        row = gradients(gi, xs)
        for j in range(3):
            numeric = central_difference(lambda t, i=i, j=j: first_on_floats(i, j, t), point[j])
            assert abs(row[j] - numeric) <= ATOL + RTOL * abs(numeric), (e, i, j, row[j], numeric)


@given(expressions(n_inputs=2), small_floats, small_floats)
def test_gradgradcheck_on_random_dags(e: Expression, a: float, b: float) -> None:
    assume(bounded_expression(e, (a, b)))
    assert gradgradcheck(e, a, b)


@given(expressions(n_inputs=2), small_floats, small_floats)
def test_hessian_of_random_dags_is_symmetric(e: Expression, a: float, b: float) -> None:
    assume(bounded_expression(e, (a, b)))
    xs = [Value(a), Value(b)]
    g0, g1 = gradients(e(*xs), xs, create_graph=True)
    d01 = gradients(g0, xs)[1]
    d10 = gradients(g1, xs)[0]
    # Mixed partials are equal mathematically; the two graphs sum different products,
    # so they differ by rounding: ~1e-16 times the largest term, and with intermediates
    # within ±100 no term comes near 1e7, hence abs 1e-9 (rel 1e-9 for large entries).
    assert d01 == pytest.approx(d10, rel=1e-9, abs=1e-9)


def test_a_gradient_that_overflows_raises() -> None:
    x, y = Value(1e-300, label="x"), Value(1.0)
    out = (x * 1e300) * 1e300 + y
    with pytest.raises(OverflowError, match=r"d\(output\)/d\('x'\) comes out as inf"):
        gradients(out, [y, x])
    assert gradients(out, [y]) == (1.0,)


def test_the_walk_reads_the_public_protocol_only() -> None:
    """Value's node layout (_a _b _da _db) stays inside engine/value.py and
    engine/backward.py: gradients() reads .parents, .local_grads and .param."""
    import ast
    import pathlib

    import engine.autograd as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    private = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"_a", "_b", "_da", "_db"}
    )
    assert private == []


def test_second_derivatives_through_a_parametrised_op() -> None:
    # x ** 3 keeps its 3 in the node (.param): the rule gets it as its second argument.
    x = Value(2.0)
    y = x**3 + (x * 0.5).leaky_relu(0.25) * x
    (dx,) = gradients(y, [x], create_graph=True)
    (dxx,) = gradients(dx, [x])
    assert dx.data == 3 * 4.0 + 2 * 0.5 * 2.0  # 3x² + d(0.5 x²)/dx
    assert dxx == 6 * 2.0 + 1.0  # 6x + 1
