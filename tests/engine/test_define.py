"""engine.define: user-defined ops in backward, higher derivatives and gradcheck.

Ops are registered once per process, so every op here is defined at module level
with a name prefixed by this module's.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import (
    CustomOp,
    Value,
    define_op,
    grad,
    gradcheck,
    gradgradcheck,
    hessian,
    no_grad,
)
from engine import functional as F
from engine.ops import OPS, lookup
from tests.strategies import floats

# softsign(x) = x / (1 + |x|); d/dx = 1 / (1 + |x|)², d²/dx² = -2 sign(x) / (1 + |x|)³.
softsign = define_op(
    "test_define_softsign",
    forward=lambda x: x / (1 + abs(x)),
    derivative=lambda x, out: 1 / (1 + abs(x)) ** 2,
)


def _logaddexp(x: float, y: float) -> float:
    m = max(x, y)
    return m + math.log(math.exp(x - m) + math.exp(y - m))


# logaddexp(x, y) = log(e^x + e^y); d/dx = e^(x - out), d/dy = e^(y - out).
logaddexp = define_op(
    "test_define_logaddexp",
    forward=_logaddexp,
    derivative=lambda x, y, out: (F.exp(x - out), F.exp(y - out)),
)

no_rule = define_op("test_define_no_rule", lambda x: 2 * x)
bad_forward_type = define_op("test_define_bad_forward_type", lambda x: "two", lambda x, out: 1.0)
bad_forward_nan = define_op("test_define_bad_forward_nan", lambda x: math.nan, lambda x, out: 1.0)
bad_derivative = define_op("test_define_bad_derivative", lambda x: x, lambda x, out: math.inf)
# The real cube root: its slope 1 / (3 x^(2/3)) is infinite at 0.
infinite_slope = define_op(
    "test_define_infinite_slope",
    lambda x: math.copysign(abs(x) ** (1 / 3), x),
    lambda x, out: 1 / (3 * out * out),
)
with_default = define_op(
    "test_define_with_default", lambda x, scale=2.0: scale * x, lambda x, out: 2.0
)
bad_pair = define_op("test_define_bad_pair", lambda x, y: x + y, lambda x, y, out: 1.0)
builtin_max = define_op(
    "test_define_max",
    max,
    lambda x, y, out: (1.0 if x >= y else 0.0, 0.0 if x >= y else 1.0),
    arity=2,
)

# Softsign is twice differentiable except at 0 (its second derivative jumps there):
# keep 1e-3 away so that central differences (eps 1e-6) never straddle it.
away_from_zero = st.one_of(floats(-10.0, -1e-3), floats(1e-3, 10.0))


def test_custom_op_object() -> None:
    assert isinstance(softsign, CustomOp)
    assert softsign.__name__ == "test_define_softsign"
    assert repr(softsign) == "<op 'test_define_softsign', arity 1>"
    assert repr(logaddexp) == "<op 'test_define_logaddexp', arity 2>"
    assert lookup("test_define_softsign") is softsign.op


def test_on_numbers_returns_a_float() -> None:
    assert softsign(1.0) == 0.5
    assert softsign(3) == 0.75
    assert type(softsign(3)) is float
    assert logaddexp(0.0, 0.0) == math.log(2.0)


def test_on_values_records_a_node() -> None:
    x = Value(1.0)
    y = softsign(x)
    assert isinstance(y, Value)
    assert (y.data, y.op, y.parents, y.local_grads, y.param) == (
        0.5,
        "test_define_softsign",
        (x,),
        (0.25,),
        None,
    )
    a, b = Value(1.0), Value(2.0)
    z = logaddexp(a, b)
    assert z.op == "test_define_logaddexp" and z.parents == (a, b)
    assert z.local_grads == pytest.approx((math.exp(1 - z.data), math.exp(2 - z.data)), rel=1e-15)


def test_mixed_numbers_and_values() -> None:
    b = Value(2.0)
    z = logaddexp(1.0, b)
    assert isinstance(z, Value) and z.parents[1] is b and z.parents[0].data == 1.0
    z.backward()
    assert b.grad == pytest.approx(math.exp(2.0 - z.data), rel=1e-15)


@given(away_from_zero)
def test_unary_op_in_backward_grad_and_hessian(x: float) -> None:
    v = Value(x)
    (softsign(v) * 3).backward()
    # backward and grad give the closed form up to rounding of the rule itself.
    assert v.grad == pytest.approx(3 / (1 + abs(x)) ** 2, rel=1e-14)
    assert grad(softsign)(x) == pytest.approx(1 / (1 + abs(x)) ** 2, rel=1e-14)
    # The graph evaluates the same closed form with a handful of extra roundings:
    # agreement to ~1e-15 relative; 1e-12 leaves room for the pow of a Value.
    second = -2 * math.copysign(1.0, x) / (1 + abs(x)) ** 3
    assert hessian(softsign)(x) == [[pytest.approx(second, rel=1e-12)]]
    assert grad(grad(softsign))(x) == pytest.approx(second, rel=1e-12)


@given(away_from_zero)
def test_unary_op_passes_gradcheck(x: float) -> None:
    assert gradcheck(softsign, x)
    assert gradgradcheck(softsign, x)
    assert gradgradcheck(lambda v: softsign(v * v + v).tanh(), x)


@given(floats(-5.0, 5.0), floats(-5.0, 5.0))
def test_binary_op_in_backward_hessian_and_gradcheck(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    out = logaddexp(a, b)
    out.backward()
    sa = math.exp(x - out.data)  # softmax weights
    sb = math.exp(y - out.data)
    assert a.grad == pytest.approx(sa, rel=1e-14)
    assert b.grad == pytest.approx(sb, rel=1e-14)
    # d²/dx² = sa sb = -d²/dxdy (the sum of the gradients is identically 1). The graph
    # computes sa (1 - sa): when sb = 1 - sa is as small as e^-10 the subtraction loses
    # ~2e-16 / 4.5e-5 = 5e-12 relative, hence rel 1e-9; abs 1e-15 for products that
    # underflow towards 0.
    h = hessian(logaddexp)(x, y)
    assert h[0][0] == pytest.approx(sa * sb, rel=1e-9, abs=1e-15)
    assert h[0][1] == pytest.approx(-sa * sb, rel=1e-9, abs=1e-15)
    assert h[1][0] == pytest.approx(-sa * sb, rel=1e-9, abs=1e-15)
    assert h[1][1] == pytest.approx(sa * sb, rel=1e-9, abs=1e-15)
    assert gradcheck(logaddexp, x, y)
    assert gradgradcheck(logaddexp, x, y)
    assert gradgradcheck(lambda p, q: logaddexp(p * q, q.tanh() + 2.0), x, y)


def test_builtin_forward_with_explicit_arity() -> None:
    assert builtin_max(1.0, 2.0) == 2.0
    a, b = Value(3.0), Value(2.0)
    builtin_max(a, b).backward()
    assert (a.grad, b.grad) == (1.0, 0.0)
    with pytest.raises(TypeError, match=r"cannot read the arity .* pass arity="):
        define_op("test_define_max_no_arity", max, lambda x, y, out: (1.0, 0.0))
    assert "test_define_max_no_arity" not in OPS


def test_optional_parameters_do_not_count_towards_arity() -> None:
    assert with_default.op.arity == 1
    assert with_default(Value(3.0)).data == 6.0


# --- errors name the op -------------------------------------------------------------------


def test_op_without_a_derivative_names_the_op() -> None:
    message = "no derivative rule for op 'test_define_no_rule'"
    with pytest.raises(NotImplementedError, match=message):
        no_rule(Value(1.0))
    with no_grad():
        assert no_rule(Value(1.0)).data == 2.0
    assert no_rule(1.0) == 2.0
    with pytest.raises(NotImplementedError, match="'test_define_no_rule'"):
        grad(no_rule)(1.0)


def test_wrong_number_of_arguments() -> None:
    with pytest.raises(TypeError, match="'test_define_softsign' takes 1 argument"):
        softsign(Value(1.0), Value(2.0))
    with pytest.raises(TypeError, match="'test_define_logaddexp' takes 2 argument"):
        logaddexp(Value(1.0))


def test_bad_arguments_name_the_op() -> None:
    with pytest.raises(TypeError, match=r"test_define_softsign.*str"):
        softsign("1")
    with pytest.raises(TypeError, match=r"test_define_logaddexp.*NoneType"):
        logaddexp(Value(1.0), None)


def test_bad_forward_results_name_the_op() -> None:
    with pytest.raises(TypeError, match="op 'test_define_bad_forward_type': forward returned str"):
        bad_forward_type(Value(1.0))
    with pytest.raises(ValueError, match="op 'test_define_bad_forward_nan': forward returned nan"):
        bad_forward_nan(1.0)


def test_bad_derivative_results_name_the_op() -> None:
    x = Value(1.0)
    message = "op 'test_define_bad_derivative': derivative returned inf"
    with pytest.raises(ValueError, match=message):
        bad_derivative(x)
    assert x.grad == 0.0


def test_infinite_derivative_names_the_op() -> None:
    message = r"test_define_infinite_slope\(0\.0\): the derivative is infinite"
    with pytest.raises(ValueError, match=message):
        infinite_slope(Value(0.0))
    assert infinite_slope(Value(8.0)).local_grads == (pytest.approx(1 / 12, rel=1e-14),)


def test_binary_derivative_must_return_a_pair() -> None:
    with pytest.raises(TypeError, match=r"op 'test_define_bad_pair': .* must return a pair"):
        bad_pair(Value(1.0), Value(2.0))


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"name": "exp", "forward": math.exp}, ValueError, "'exp' is already defined"),
        ({"name": "", "forward": math.exp}, ValueError, "non-empty string name"),
        ({"name": "test_define_x", "forward": 3.0}, TypeError, "forward must be callable"),
        (
            {"name": "test_define_x", "forward": math.exp, "derivative": 1.0},
            TypeError,
            "derivative must be callable or None",
        ),
        (
            {"name": "test_define_x", "forward": lambda x, y, z: x},
            ValueError,
            "only ops of 1 or 2 inputs are supported, got 3",
        ),
        ({"name": "test_define_x", "forward": lambda: 1.0}, ValueError, "got 0"),
        ({"name": "test_define_x", "forward": math.exp, "arity": 3}, ValueError, "got 3"),
    ],
)
def test_define_op_refuses_bad_definitions_and_registers_nothing(kwargs, error, pattern) -> None:
    before = dict(OPS)
    with pytest.raises(error, match=pattern):
        define_op(**kwargs)
    assert before == OPS


def test_the_docstring_example() -> None:
    # engine.define's module docstring: softsign(Value(1.0)) is 0.5 after backward.
    y = softsign(Value(1.0))
    y.backward()
    assert y.data == 0.5


def test_defining_a_user_op_again_replaces_it_but_builtins_are_protected() -> None:
    first = define_op("define_test_again", lambda x: 2 * x, lambda x, out: 2.0)
    second = define_op("define_test_again", lambda x: 3 * x, lambda x, out: 3.0)
    assert first(1.0) == 2.0 and second(1.0) == 3.0
    y = second(Value(1.0))
    y.backward()
    assert y.local_grads == (3.0,)
    with pytest.raises(ValueError, match="'tanh' is already defined"):
        define_op("tanh", lambda x: x, lambda x, out: 1.0)


# --- names, rule arity, rules on Values ---------------------------------------------------

# d sin = cos, written with math.cos: right on floats, a plain number on Values.
math_sin = define_op("test_define_math_sin", math.sin, lambda x, out: math.cos(x))
# the same with .data: a plain number on Values too.
data_sin = define_op(
    "test_define_data_sin",
    math.sin,
    lambda x, out: math.cos(x.data if isinstance(x, Value) else x),
)
# 2x with its constant derivative written so that it is a Value on Values.
double = define_op("test_define_double", lambda x: 2.0 * x, lambda x, out: x * 0.0 + 2.0)


@pytest.mark.parametrize("op", [math_sin, data_sin])
def test_a_rule_returning_numbers_on_values_is_refused_for_higher_derivatives(op) -> None:
    # First order: the rule runs on floats, and is right.
    x = Value(0.7)
    op(x).backward()
    assert x.grad == math.cos(0.7)
    assert grad(op)(0.7) == math.cos(0.7)
    # Second order: it would silently be 0.0 (the truth is -sin 0.7); it is an error.
    for second_order in (hessian(op), grad(grad(op))):
        with pytest.raises(TypeError) as info:
            second_order(0.7)
        message = str(info.value)
        assert op.__name__ in message and "engine.functional" in message


def test_a_constant_rule_written_on_its_argument_works_at_every_order() -> None:
    assert grad(double)(3.0) == 2.0
    assert hessian(double)(3.0) == [[0.0]]


def test_the_rule_arity_is_checked_when_the_op_is_defined() -> None:
    before = dict(OPS)
    with pytest.raises(TypeError, match=r"called as derivative\(x, out\), but .* takes \(x\)"):
        define_op("test_define_rule_arity_1", math.exp, lambda x: 1.0)
    with pytest.raises(TypeError, match=r"called as derivative\(x, y, out\)"):
        define_op("test_define_rule_arity_2", lambda x, y: x + y, lambda x, out: (1.0, 1.0))
    with pytest.raises(TypeError, match=r"derivative\(x, out\)"):
        define_op("test_define_rule_arity_3", math.exp, math.cos)
    assert before == OPS
    # defaults and *args fit
    assert define_op("test_define_rule_defaults", math.exp, lambda x, out, k=1: out)(0.0) == 1.0
    assert define_op("test_define_rule_star", math.exp, lambda *a: a[-1])(0.0) == 1.0


@pytest.mark.parametrize(
    ("name", "error", "pattern"),
    [
        (3, TypeError, "name must be a str, not int"),
        ("a b", ValueError, "'a b' is not allowed"),
        ("x)", ValueError, "is not allowed"),
        ("1x", ValueError, "is not allowed"),
        ("for", ValueError, "not a keyword"),
        ("caf\u00e9", ValueError, "ASCII identifier"),
        ("x\n", ValueError, "is not allowed"),
    ],
)
def test_op_names_are_identifiers(name, error, pattern) -> None:
    before = dict(OPS)
    with pytest.raises(error, match=pattern):
        define_op(name, math.exp, lambda x, out: out)
    assert before == OPS


class _Sly(str):
    """A str that lies about itself: its overrides must never reach the op table."""

    def __str__(self) -> str:
        return "x); import os; ("

    def __repr__(self) -> str:
        return "__import__('os')"

    def isidentifier(self) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("something else")


def test_a_str_subclass_name_becomes_a_plain_str_once() -> None:
    op = define_op(_Sly("test_define_sly"), math.exp, lambda x, out: out)
    assert type(op.op.name) is str and op.op.name == "test_define_sly"
    assert lookup("test_define_sly") is op.op
    assert all(type(name) is str for name in OPS)
    with pytest.raises(ValueError, match="is not allowed"):
        define_op(_Sly("not ok"), math.exp, lambda x, out: out)
