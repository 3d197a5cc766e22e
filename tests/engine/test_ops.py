"""engine.ops: every op of the table, its forward, its derivative rule, and the table itself.

Every per-op test is parametrised by the table (``builtins()``) and draws its inputs
from the entry's own test data (``Op.domain``, ``Op.points``, ``Op.edges``), so a new
op is tested by adding its entry and its row in :data:`ROWS` (see the recipe in
``engine/ops.py``). Tolerances for central differences: ``tests/strategies.py``
(ATOL 1e-5 + RTOL 1e-3, float64, eps 1e-6).
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Value, compile, gradients, no_grad
from engine import functional as F
from engine import ops as ops_module
from engine.ops import OPS, Op, builtins, lookup, register
from engine.testing import DOMAINS, arguments
from tests.strategies import assert_close, central_difference, floats, integer_exponents


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _leaky_relu(x: float, slope: float) -> float:
    return x if x > 0.0 else slope * x


# Each op's row: the Python expression its forward equals, and how closely. 0 ulps means
# bit for bit, sign of zero included (the table's rule). sigmoid and softplus have no
# Python built-in: they are held to the direct formulas within 4 ulps on [-700, 700],
# where those formulas neither overflow nor cancel (measured: 3 and 1 ulps at worst
# over 200,000 draws); their stable forms differ from the direct ones in rounding only.
ROWS: dict[str, tuple[Callable[..., Any], int]] = {
    "+": (operator.add, 0),
    "*": (operator.mul, 0),
    "/": (operator.truediv, 0),
    "neg": (operator.neg, 0),
    "identity": (lambda x: x, 0),
    "**": (operator.pow, 0),
    "pow": (operator.pow, 0),
    "exp": (math.exp, 0),
    "log": (math.log, 0),
    "sqrt": (math.sqrt, 0),
    "tanh": (math.tanh, 0),
    "sigmoid": (_sigmoid, 4),
    "relu": (lambda x: max(0.0, x), 0),
    "leaky_relu": (_leaky_relu, 0),
    "softplus": (_softplus, 4),
    "sin": (math.sin, 0),
    "cos": (math.cos, 0),
    "atan": (math.atan, 0),
    "abs": (operator.abs, 0),
    "max": (max, 0),
}

BUILTINS = builtins()
NAMES = [op.name for op in BUILTINS]


def test_every_op_is_complete() -> None:
    # Each op of the table has its Value method, its engine.functional function, its
    # command-line spelling (checked against viz.expr in tests/viz/test_expr.py), a
    # test domain, fixed test points and its row here.
    assert set(ROWS) == set(NAMES)
    for op in BUILTINS:
        assert op.method is not None and callable(getattr(Value, op.method, None)), op.name
        assert op.function is not None and callable(getattr(F, op.function, None)), op.name
        assert op.function in F.__all__, op.name
        assert op.cli, op.name
        assert op.doc and op.printed, op.name
        assert len(op.domain) == op.arity + (1 if op.has_param else 0), op.name
        assert op.points, op.name
        for args in op.points + op.edges:
            assert len(args) == len(op.domain), (op.name, args)
        if op.arity == 2:
            assert op.reflected is not None and callable(getattr(Value, op.reflected)), op.name
    # Ops with code templates give one derivative per parent.
    for op in BUILTINS:
        if op.code_derivatives is not None:
            assert len(op.code_derivatives) == op.arity, op.name


def test_domains_are_read_from_the_table() -> None:
    for name, bounds in DOMAINS.items():
        intervals = lookup(name).domain[0]
        assert bounds == (intervals[0] if len(intervals) == 1 else intervals)
    assert "atan" in DOMAINS and "+" not in DOMAINS


# --- helpers ---------------------------------------------------------------------------


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _same(ours: float, python: float, ulps: int) -> bool:
    if ulps == 0:
        return type(ours) is float and _bits(ours) == _bits(python)
    return abs(ours - python) <= ulps * math.ulp(python)


def _with(args: tuple[float, ...], k: int, t: float) -> tuple[float, ...]:
    return (*args[:k], t, *args[k + 1 :])


def _second(op: Op, args: tuple[Any, ...]) -> Any:
    """What ``local_derivatives`` takes as ``y``: the second input or the constant."""
    return args[1] if len(args) > 1 else None


def _apply(op: Op, args: tuple[float, ...]) -> tuple[Value, list[Value]]:
    """The op applied to Values through its Value method; returns (node, input Values)."""
    inputs = [Value(a) for a in args[: op.arity]]
    assert op.method is not None
    out = getattr(Value, op.method)(*inputs, *args[op.arity :])
    return out, inputs


def _float_partials(op: Op, args: tuple[float, ...]) -> tuple[float, ...]:
    return op.local_derivatives(args[0], _second(op, args), op.forward(*args))


def _check_first_order(op: Op, args: tuple[float, ...]) -> None:
    partials = _float_partials(op, args)
    assert len(partials) == op.arity
    for k, d in enumerate(partials):
        assert type(d) is float, (op.name, args, d)
        numeric = central_difference(lambda t, k=k: op.forward(*_with(args, k, t)), args[k])
        assert_close(d, numeric, f"d {op.name}/d input {k} at {args}")


# --- the forward: Python's own float result, bit for bit -------------------------------

_ANY_FLOAT = st.one_of(
    floats(-1e3, 1e3), st.floats(allow_nan=False, allow_infinity=False), st.just(-0.0)
)
_EXPONENT = st.one_of(integer_exponents, floats(-10.0, 10.0))
_WIDE_INPUTS: dict[str, st.SearchStrategy[tuple[float, ...]]] = {
    "**": st.tuples(_ANY_FLOAT, _EXPONENT),
    "pow": st.tuples(_ANY_FLOAT, _EXPONENT),
    "leaky_relu": st.tuples(_ANY_FLOAT, floats(0.0, 1.0)),
    "sigmoid": st.tuples(floats(-700.0, 700.0)),
    "softplus": st.tuples(floats(-700.0, 700.0)),
}


def _wide_inputs(op: Op) -> st.SearchStrategy[tuple[float, ...]]:
    if op.name in _WIDE_INPUTS:
        return _WIDE_INPUTS[op.name]
    return st.tuples(*[_ANY_FLOAT] * op.arity)


def _python(reference: Callable[..., Any], args: tuple[float, ...]) -> float | None:
    """Python's result, or None where Python raises or leaves the finite reals."""
    try:
        r = reference(*args)
    except (ArithmeticError, ValueError):
        return None
    if type(r) is not float or not math.isfinite(r):
        return None  # a complex power, an overflow to inf
    return r


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_forward_is_pythons_float_result(name: str, data: st.DataObject) -> None:
    op = lookup(name)
    reference, ulps = ROWS[name]
    args = data.draw(_wide_inputs(op), label="args")
    expected = _python(reference, args)
    with no_grad():
        if expected is None:  # Python has no finite real answer: ours raises
            with pytest.raises((ArithmeticError, ValueError)):
                r = op.forward(*args)
                if not math.isfinite(r):  # + and * overflow to inf; the node refuses it
                    _apply(op, args)
            return
        assert _same(op.forward(*args), expected, ulps), (args, op.forward(*args), expected)
        node, _ = _apply(op, args)
        assert _same(node.data, expected, ulps), (args, node.data, expected)


@pytest.mark.parametrize("name", NAMES)
def test_forward_at_the_fixed_points(name: str) -> None:
    op = lookup(name)
    reference, ulps = ROWS[name]
    for args in op.points + op.edges:
        node, _ = _apply(op, args)  # recorded: its derivative is finite there too
        assert _bits(node.data) == _bits(op.forward(*args)), args
        expected = _python(reference, args)
        if expected is None:  # sigmoid(1000): the direct formula overflows, ours does not
            assert ulps > 0, args
            continue
        assert _same(node.data, expected, ulps), (args, node.data, expected)


def test_division_is_correctly_rounded() -> None:
    # x * y ** -1 gave 0.9999999999999999 here (and an ulp off in a quarter of cases).
    assert (Value(49.0) / Value(49.0)).data == 1.0
    assert (Value(49.0) / 49.0).data == 1.0
    assert (49.0 / Value(49.0)).data == 1.0
    assert F.div(Value(49.0), 49.0).data == 1.0 and F.div(49, 49) == 1.0


@given(floats(1e-3, 1e3), st.sampled_from([1.0, -1.0]))
def test_d_x_over_x_is_exactly_zero(x: float, sign: float) -> None:
    v = Value(sign * x)
    q = v / v
    q.backward()
    assert q.data == 1.0
    assert v.grad == 0.0  # 1/x - (x/x)/x cancels exactly; x * x**-1 left -3.5e-18
    assert gradients(q, [v], create_graph=True)[0].data == 0.0


def test_division_by_zero_names_the_operands() -> None:
    for make in (lambda: Value(3.0) / 0, lambda: Value(3.0) / Value(0.0), lambda: 3 / Value(-0.0)):
        with pytest.raises(ZeroDivisionError, match=r"division by zero: 3\.0 / -?0\.0"):
            make()


# --- the derivative rules ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_rule_matches_central_differences(name: str, data: st.DataObject) -> None:
    op = lookup(name)
    _check_first_order(op, data.draw(arguments(name), label="args"))


@pytest.mark.parametrize("name", NAMES)
def test_rule_at_the_fixed_points(name: str) -> None:
    op = lookup(name)
    for args in op.points:
        _check_first_order(op, args)
    for args in op.edges:  # kinks and edges: no central difference, but a finite number
        for d in _float_partials(op, args):
            assert type(d) is float and math.isfinite(d), (args, d)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_rule_on_values_has_the_right_derivative(name: str, data: st.DataObject) -> None:
    # The rule called with Values (create_graph) builds a graph: its value is the float
    # rule's (the same float operations; only a zero's sign may differ: d_pow returns
    # +0.0 for a float exponent of 0, the graph computes 0 * x ** -1 for a Value one),
    # and its own derivatives match central differences of the float rule.
    op = lookup(name)
    args = data.draw(arguments(name), label="args")
    out, inputs = _apply(op, args)
    second = inputs[1] if op.arity == 2 else _second(op, args)
    partials = op.local_derivatives(inputs[0], second, out)
    floats_ = _float_partials(op, args)
    for k, partial in enumerate(partials):
        value = partial.data if isinstance(partial, Value) else partial
        assert value == floats_[k], (k, value, floats_[k])
        # a constant rule (a float): its derivative is 0
        analytic = gradients(partial, inputs) if isinstance(partial, Value) else (0.0,) * op.arity
        for j in range(op.arity):
            numeric = central_difference(
                lambda t, j=j, k=k: _float_partials(op, _with(args, j, t))[k], args[j]
            )
            assert_close(analytic[j], numeric, f"d/d input {j} of partial {k} of {name}")


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_nodes_record_the_table_rule(name: str, data: st.DataObject) -> None:
    op = lookup(name)
    args = data.draw(arguments(name), label="args")
    node, inputs = _apply(op, args)
    assert node.op == name and not node.is_leaf
    assert len(node.parents) == op.arity
    assert all(a is b for a, b in zip(node.parents, inputs, strict=True))
    assert node.param == (args[1] if op.has_param else None)
    assert node.local_grads == _float_partials(op, args)
    assert all(type(d) is float for d in node.local_grads)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_replay_equals_eager_at_the_fixed_points(name: str) -> None:
    # The entry's code templates must do what its forward and its rule do, to the bit:
    # values and gradients of a compiled replay (the second call runs the generated
    # code) against eager evaluation, at every fixed point, kinks and edges included.
    op = lookup(name)
    for args in op.points + op.edges:
        xs, const = args[: op.arity], args[op.arity :]
        step = compile(lambda *v, c=const: getattr(Value, op.method)(*v, *c), input_grads=True)
        step(*xs)
        value, grads = step(*xs)
        out, inputs = _apply(op, args)
        out.backward()
        assert _bits(value) == _bits(out.data), (args, value, out.data)
        for got, v in zip(grads, inputs, strict=True):
            assert _bits(got) == _bits(v.grad), (args, got, v.grad)


def test_negative_bases_with_integer_exponents() -> None:
    # "**"'s random domain has positive bases; negative ones take integer exponents.
    op = lookup("**")

    @given(floats(-10.0, -0.1), integer_exponents)
    def check(x: float, p: float) -> None:
        _check_first_order(op, (x, p))
        node, _ = _apply(op, (x, p))
        assert node.data == x**p

    check()


def test_inline_add_mul_neg_use_the_table_rules() -> None:
    # + * and unary - are written out in Value for speed; their numbers must be the rules'.
    x, y = Value(3.0), Value(-4.5)
    assert (x + y).local_grads == ops_module.d_add(3.0, -4.5, -1.5)
    assert (x * y).local_grads == ops_module.d_mul(3.0, -4.5, -13.5)
    assert (-x).local_grads == (ops_module.d_neg(3.0, -3.0),)
    assert lookup("+").derivative is ops_module.d_add
    assert lookup("*").derivative is ops_module.d_mul
    assert lookup("neg").derivative is ops_module.d_neg


# --- special points, documented behaviour ------------------------------------------


def test_non_differentiable_points_follow_pytorch() -> None:
    assert ops_module.d_relu(0.0, 0.0) == 0.0
    assert ops_module.d_abs(0.0, 0.0) == 0.0
    assert ops_module.d_abs(-0.0, 0.0) == 0.0
    assert ops_module.d_leaky_relu(0.0, 0.0, 0.2) == 0.2
    assert ops_module.d_max(1.5, 1.5, 1.5) == (1.0, 0.0)  # the tie goes to x


def test_pow_rule_special_exponents() -> None:
    # x ** 0 is the constant 1 and x ** 1 is x: exact derivatives, even at x = 0
    # where p * x ** (p - 1) would be 0 * 0 ** -1.
    assert ops_module.d_pow(0.0, 1.0, 0.0) == 0.0
    assert ops_module.d_pow(0.0, 0.0, 1.0) == 1.0
    assert ops_module.d_pow(-2.0, -8.0, 3.0) == 12.0
    # 0 ** y is flat in y for y > 0.
    assert ops_module.d_pow2(0.0, 2.0, 0.0) == (0.0, 0.0)


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


def test_an_op_applies_to_numbers_and_values() -> None:
    # Op.__call__ is what engine.functional exposes and the rules are written with.
    assert ops_module.COS(0.0) == 1.0
    assert ops_module.DIV(1, 4) == 0.25
    v = ops_module.DIV(1.0, Value(4.0))
    assert isinstance(v, Value) and v.op == "/" and v.data == 0.25
    assert ops_module.LEAKY_RELU(-2.0) == -0.02  # the default slope
    with pytest.raises(TypeError, match=r"div\(\) takes 2 argument\(s\), got 1"):
        ops_module.DIV(1.0)
    with pytest.raises(TypeError, match=r"exp\(\) takes a real number or a Value, not str"):
        ops_module.EXP("1")
    with pytest.raises(ValueError, match="must be finite"):
        ops_module.TANH(math.nan)
