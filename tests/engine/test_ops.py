"""engine.ops: every derivative rule alone, first and second order, and the op table.

Each rule is called directly: with floats it must match a central difference of the
op's forward function; with Values (the graph-building path) its own derivative must
match a central difference of the rule evaluated on floats. Tolerances: see
``tests/strategies.py`` (ATOL 1e-5 + RTOL 1e-3, float64, eps 1e-6).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Value, gradients
from engine import ops as ops_module
from engine.ops import OPS, Op, lookup, register
from tests.strategies import (
    assert_close,
    central_difference,
    domain,
    floats,
    pow2_inputs,
    pow_inputs,
    slopes,
)

# (op name, rule, how to apply the op to a Value)
UNARY: list[tuple[str, Callable[..., Any], Callable[[Value], Value]]] = [
    ("neg", ops_module.d_neg, operator.neg),
    ("identity", ops_module.d_identity, Value.identity),
    ("exp", ops_module.d_exp, Value.exp),
    ("log", ops_module.d_log, Value.log),
    ("sqrt", ops_module.d_sqrt, Value.sqrt),
    ("tanh", ops_module.d_tanh, Value.tanh),
    ("sigmoid", ops_module.d_sigmoid, Value.sigmoid),
    ("relu", ops_module.d_relu, Value.relu),
    ("softplus", ops_module.d_softplus, Value.softplus),
    ("sin", ops_module.d_sin, Value.sin),
    ("cos", ops_module.d_cos, Value.cos),
    ("abs", ops_module.d_abs, abs),
]

# (op name, rule, apply(Value, param), strategy of (x, param))
WITH_PARAM: list[tuple[str, Callable[..., Any], Callable[[Value, float], Value], Any]] = [
    ("**", ops_module.d_pow, operator.pow, pow_inputs),
    (
        "leaky_relu",
        ops_module.d_leaky_relu,
        Value.leaky_relu,
        st.tuples(domain("leaky_relu"), slopes),
    ),
]

# (op name, rule, apply(Value, Value), strategy of (x, y))
BINARY: list[tuple[str, Callable[..., Any], Callable[[Value, Value], Value], Any]] = [
    ("+", ops_module.d_add, operator.add, st.tuples(floats(), floats())),
    ("*", ops_module.d_mul, operator.mul, st.tuples(floats(), floats())),
    ("pow", ops_module.d_pow2, operator.pow, pow2_inputs),
    # max has a kink where x == y (no derivative there): stay 1e-3 away, as DOMAINS do
    (
        "max",
        ops_module.d_max,
        Value.max,
        st.tuples(floats(), floats()).filter(lambda p: abs(p[0] - p[1]) > 1e-3),
    ),
]

BUILTIN = {v.name for v in vars(ops_module).values() if isinstance(v, Op)}


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [c[0] for c in cases]


def test_every_builtin_op_has_its_rule_tested_here() -> None:
    tested = {c[0] for c in UNARY + WITH_PARAM + BINARY}
    assert tested == BUILTIN
    for name, rule, *_ in UNARY + WITH_PARAM + BINARY:
        assert lookup(name).derivative is rule


def _second(d: Any, wrt: list[Value]) -> tuple[float, ...]:
    """d(d)/d(wrt) along the graph the rule built; a float rule is a constant."""
    if isinstance(d, Value):
        return gradients(d, wrt)
    assert isinstance(d, float)
    return (0.0,) * len(wrt)


# --- unary rules -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rule", "apply"), UNARY, ids=_ids(UNARY))
@given(data=st.data())
def test_unary_rule_matches_central_difference(name, rule, apply, data) -> None:
    f = lookup(name).forward
    x = data.draw(domain(name), label="x")
    d = rule(x, f(x))
    assert isinstance(d, float)
    assert_close(d, central_difference(f, x), f"{name}'({x!r})")


@pytest.mark.parametrize(("name", "rule", "apply"), UNARY, ids=_ids(UNARY))
@given(data=st.data())
def test_unary_rule_on_values_has_the_right_derivative(name, rule, apply, data) -> None:
    f = lookup(name).forward
    x = data.draw(domain(name), label="x")
    xv = Value(x)
    d = rule(xv, apply(xv))
    # The graph path computes the same first derivative (up to the last ulp: 1 / x is
    # recorded as x ** -1 there).
    assert (d.data if isinstance(d, Value) else d) == pytest.approx(
        rule(x, f(x)), rel=1e-14, abs=0.0
    )
    (analytic,) = _second(d, [xv])
    numeric = central_difference(lambda t: rule(t, f(t)), x)
    assert_close(analytic, numeric, f"{name}''({x!r})")


# --- unary rules with a constant parameter ------------------------------------------


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), WITH_PARAM, ids=_ids(WITH_PARAM))
@given(data=st.data())
def test_param_rule_matches_central_difference(name, rule, apply, inputs, data) -> None:
    f = lookup(name).forward
    x, p = data.draw(inputs, label="(x, param)")
    d = rule(x, f(x, p), p)
    assert_close(d, central_difference(lambda t: f(t, p), x), f"{name}'({x!r}; {p!r})")


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), WITH_PARAM, ids=_ids(WITH_PARAM))
@given(data=st.data())
def test_param_rule_on_values_has_the_right_derivative(name, rule, apply, inputs, data) -> None:
    f = lookup(name).forward
    x, p = data.draw(inputs, label="(x, param)")
    xv = Value(x)
    d = rule(xv, apply(xv, p), p)
    assert (d.data if isinstance(d, Value) else d) == pytest.approx(
        rule(x, f(x, p), p), rel=1e-14, abs=0.0
    )
    (analytic,) = _second(d, [xv])
    numeric = central_difference(lambda t: rule(t, f(t, p), p), x)
    assert_close(analytic, numeric, f"{name}''({x!r}; {p!r})")


# --- binary rules ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), BINARY, ids=_ids(BINARY))
@given(data=st.data())
def test_binary_rule_matches_central_differences(name, rule, apply, inputs, data) -> None:
    f = lookup(name).forward
    x, y = data.draw(inputs, label="(x, y)")
    dx, dy = rule(x, y, f(x, y))
    assert_close(dx, central_difference(lambda t: f(t, y), x), f"d{name}/dx at {x!r}, {y!r}")
    assert_close(dy, central_difference(lambda t: f(x, t), y), f"d{name}/dy at {x!r}, {y!r}")


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), BINARY, ids=_ids(BINARY))
@given(data=st.data())
def test_binary_rule_on_values_has_the_right_derivatives(name, rule, apply, inputs, data) -> None:
    f = lookup(name).forward
    x, y = data.draw(inputs, label="(x, y)")
    xv, yv = Value(x), Value(y)
    partials = rule(xv, yv, apply(xv, yv))
    for k, partial in enumerate(partials):
        analytic = _second(partial, [xv, yv])

        def on_floats(a: float, b: float, k: int = k) -> float:
            return float(rule(a, b, f(a, b))[k])

        numeric = (
            central_difference(lambda t: on_floats(t, y), x),
            central_difference(lambda t: on_floats(x, t), y),
        )
        for j in range(2):
            assert_close(analytic[j], numeric[j], f"d/d{'xy'[j]} of partial {k} of {name}")


# --- special points, documented behaviour ------------------------------------------


def test_non_differentiable_points_follow_pytorch() -> None:
    assert ops_module.d_relu(0.0, 0.0) == 0.0
    assert ops_module.d_abs(0.0, 0.0) == 0.0
    assert ops_module.d_abs(-0.0, 0.0) == 0.0
    assert ops_module.d_leaky_relu(0.0, 0.0, 0.2) == 0.2


def test_pow_rule_special_exponents() -> None:
    # x ** 0 is the constant 1 and x ** 1 is x: exact derivatives, even at x = 0
    # where p * x ** (p - 1) would be 0 * 0 ** -1.
    assert ops_module.d_pow(0.0, 1.0, 0.0) == 0.0
    assert ops_module.d_pow(0.0, 0.0, 1.0) == 1.0
    assert ops_module.d_pow(-2.0, -8.0, 3.0) == 12.0
    # 0 ** y is flat in y for y > 0.
    assert ops_module.d_pow2(0.0, 2.0, 0.0) == (0.0, 0.0)


# --- the inline fast path and every node agree with the table ------------------------


def _check_node(node: Value, name: str, parents: tuple[Value, ...], param: float | None) -> None:
    assert node.op == name
    assert not node.is_leaf
    assert len(node.parents) == len(parents)
    assert all(a is b for a, b in zip(node.parents, parents, strict=True))
    assert node.param == param
    assert len(node.local_grads) == len(parents)
    assert all(isinstance(d, float) for d in node.local_grads)


@pytest.mark.parametrize(("name", "rule", "apply"), UNARY, ids=_ids(UNARY))
@given(data=st.data())
def test_unary_nodes_record_the_table_rule(name, rule, apply, data) -> None:
    x = data.draw(domain(name), label="x")
    xv = Value(x)
    node = apply(xv)
    _check_node(node, name, (xv,), None)
    assert node.local_grads == lookup(name).local_derivatives(x, None, node.data)


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), WITH_PARAM, ids=_ids(WITH_PARAM))
@given(data=st.data())
def test_param_nodes_record_the_table_rule(name, rule, apply, inputs, data) -> None:
    x, p = data.draw(inputs, label="(x, param)")
    xv = Value(x)
    node = apply(xv, p)
    _check_node(node, name, (xv,), p)
    assert node.local_grads == lookup(name).local_derivatives(x, p, node.data)


@pytest.mark.parametrize(("name", "rule", "apply", "inputs"), BINARY, ids=_ids(BINARY))
@given(data=st.data())
def test_binary_nodes_record_the_table_rule(name, rule, apply, inputs, data) -> None:
    x, y = data.draw(inputs, label="(x, y)")
    xv, yv = Value(x), Value(y)
    node = apply(xv, yv)
    _check_node(node, name, (xv, yv), None)
    assert node.local_grads == lookup(name).local_derivatives(x, y, node.data)


def test_inline_add_mul_neg_use_the_table_rules() -> None:
    # + * and unary - are written out in Value for speed; their numbers must be the rules'.
    x, y = Value(3.0), Value(-4.5)
    assert (x + y).local_grads == ops_module.d_add(3.0, -4.5, -1.5)
    assert (x * y).local_grads == ops_module.d_mul(3.0, -4.5, -13.5)
    assert (-x).local_grads == (ops_module.d_neg(3.0, -3.0),)
    assert lookup("+").derivative is ops_module.d_add
    assert lookup("*").derivative is ops_module.d_mul
    assert lookup("neg").derivative is ops_module.d_neg


# --- the table itself ----------------------------------------------------------------


def test_lookup_unknown_op_names_it() -> None:
    with pytest.raises(KeyError, match="no_such_op"):
        lookup("no_such_op")


def test_register_refuses_bad_ops_and_changes_nothing() -> None:
    before = dict(OPS)
    with pytest.raises(ValueError, match="'exp' is already defined"):
        register(Op("exp", 1, float, None))
    with pytest.raises(ValueError, match="non-empty string name"):
        register(Op("", 1, float, None))
    with pytest.raises(ValueError, match="arity must be 1 or 2, got 3"):
        register(Op("three_inputs", 3, float, None))
    assert before == OPS
    assert lookup("exp").forward is not float


def test_local_derivatives_without_a_rule_names_the_op() -> None:
    op = Op("unregistered_no_rule", 1, float, None)
    with pytest.raises(NotImplementedError, match="'unregistered_no_rule'"):
        op.local_derivatives(1.0, None, 1.0)
