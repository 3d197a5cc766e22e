"""engine.value: construction, node anatomy, arithmetic, errors, stability."""

from __future__ import annotations

import contextlib
import gc
import math
import re

import pytest
from hypothesis import given

import engine
from engine import Value, as_value, dot, grad, no_grad
from tests.strategies import floats, pow_inputs

# --- construction --------------------------------------------------------------------


@given(floats(-1e300, 1e300))
def test_float_data_is_kept(x: float) -> None:
    v = Value(x)
    assert v.data == x
    assert type(v.data) is float


def test_int_data_becomes_float() -> None:
    v = Value(3)
    assert v.data == 3.0
    assert type(v.data) is float


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (True, "bool (True)"),
        (False, "bool (False)"),
        (1j, "complex (1j)"),
        ("a", "str ('a')"),
        (None, "NoneType (None)"),
        ([1.0], "list ([1.0])"),
    ],
)
def test_refused_types_name_the_value(bad: object, shown: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"not {shown}")):
        Value(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_data_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=f"finite, got {bad!r}"):
        Value(bad)


def test_int_too_large_for_a_float_is_refused() -> None:
    with pytest.raises(ValueError, match="too large for a float"):
        Value(10**400)


def test_label() -> None:
    assert Value(1.0).label == ""
    assert Value(1.0, label="w").label == "w"
    with pytest.raises(TypeError, match="label must be a str, not int"):
        Value(1.0, label=3)  # type: ignore[arg-type]
    y = Value(1.0) * 2.0 + 1.0  # nodes made by ops start unnamed and can be named
    assert y.label == "" and y.parents[1].label == ""
    y.label = "y"
    assert y.label == "y" and "label='y'" in repr(y)
    with pytest.raises(TypeError, match="label must be a str, not NoneType"):
        y.label = None  # type: ignore[assignment]
    assert y.label == "y"


def test_a_leaf_is_a_leaf() -> None:
    v = Value(2.0)
    assert v.grad == 0.0
    assert v.op == ""
    assert v.is_leaf
    assert v.parents == ()
    assert v.local_grads == ()
    assert v.param is None


def test_value_has_slots_not_a_dict() -> None:
    v = Value(1.0)
    assert not hasattr(v, "__dict__")
    with pytest.raises(AttributeError):
        v.colour = "red"  # type: ignore[attr-defined]


def test_as_value() -> None:
    v = Value(1.0)
    assert as_value(v) is v
    c = as_value(2)
    assert isinstance(c, Value)
    assert c.data == 2.0
    assert c.is_leaf
    with pytest.raises(TypeError, match="str"):
        as_value("2")  # type: ignore[arg-type]


# --- repr, float, comparisons, identity -------------------------------------------------


def test_repr() -> None:
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert repr(Value(2.0, label="x")) == "Value(data=2.0, grad=0.0, label='x')"
    y = Value(2.0) * 3
    assert repr(y) == "Value(data=6.0, grad=0.0, op='*')"
    y.backward()
    assert repr(y) == "Value(data=6.0, grad=1.0, op='*')"


def test_float_is_refused_naming_the_fix() -> None:
    # math.exp(x) took the number and dropped the gradient: x.grad was 7.389, not 22.17
    x = Value(2.0)
    for take in (float, math.exp, math.sqrt, lambda v: math.isclose(v, 2.0)):
        with pytest.raises(TypeError, match="drop its gradient") as info:
            take(x)
        for fix in ("x.exp()", "engine.functional.exp(x)", "x.data"):
            assert fix in str(info.value)
    y = x.exp() * x
    y.backward()
    assert x.grad == pytest.approx(3 * math.exp(2.0), rel=1e-15)


def test_format_spec_and_round_apply_to_the_data() -> None:
    v = Value(2.0 / 3.0, label="v")
    assert f"{v:.3f}" == "0.667"
    assert f"{v:>8.2e}" == "6.67e-01"
    assert f"{v}" == repr(v) == str(v)
    assert round(v, 2) == 0.67 and type(round(v, 2)) is float
    assert round(v) == 1 and type(round(v)) is int


def test_bool_is_refused_with_the_reason() -> None:
    v = Value(0.0)
    with pytest.raises(TypeError, match=r"comparisons .* look at the data.* == is identity"):
        bool(v)
    with pytest.raises(TypeError, match="truth value"):
        if v:  # a learner's `if loss:` or `if x == y:`-style test
            pass
    assert "``==`` and ``hash`` are identity" in (Value.__doc__ or "")
    assert "``<``, ``<=``" in (Value.__doc__ or "")


@given(floats(), floats())
def test_comparisons_compare_data_and_return_bool(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    for result, expected in [
        (a < b, x < y),
        (a <= b, x <= y),
        (a > b, x > y),
        (a >= b, x >= y),
        (a < y, x < y),
        (a <= y, x <= y),
        (a > y, x > y),
        (a >= y, x >= y),
        (x < b, x < y),
        (x <= b, x <= y),
        (x > b, x > y),
        (x >= b, x >= y),
    ]:
        assert type(result) is bool
        assert result == expected


def test_comparison_with_a_bad_type_names_it() -> None:
    with pytest.raises(TypeError, match=r"str \('a'\) using <"):
        Value(1.0) < "a"  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError, match="bool"):
        Value(1.0) >= True  # noqa: B015


def test_equality_and_hash_are_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a == a
    assert a != b
    assert not (a == 1.0)  # noqa: SIM201
    assert hash(a) == object.__hash__(a)
    d = {a: "a", b: "b"}
    assert len(d) == 2
    assert d[a] == "a" and d[b] == "b"
    assert len({a, b, a}) == 2


def test_detach() -> None:
    x = Value(2.0, label="x")
    y = x * x
    y.label = "y"
    d = y.detach()
    assert d is not y
    assert d.data == 4.0 and d.label == "y" and d.is_leaf
    (d * 3).backward()
    assert x.grad == 0.0 and y.grad == 0.0
    assert d.grad == 3.0


# --- arithmetic with Values and numbers on either side --------------------------------


@given(floats(-10.0, 10.0), floats(-10.0, 10.0))
def test_arithmetic_values(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    for out, expected in [
        (a + b, x + y),
        (a + y, x + y),
        (x + b, x + y),
        (a - b, x - y),
        (a - y, x - y),
        (x - b, x - y),
        (a * b, x * y),
        (a * y, x * y),
        (x * b, x * y),
        (-a, -x),
        (abs(a), abs(x)),
    ]:
        assert isinstance(out, Value)
        assert out.data == expected


@given(floats(-10.0, 10.0), floats(0.1, 10.0))
def test_division_values(x: float, y: float) -> None:
    # x / y is its own op: exactly Python's quotient, whichever side is a plain number.
    for out in (Value(x) / Value(y), Value(x) / y, x / Value(y), Value(x) / -y):
        assert isinstance(out, Value)
    assert (Value(x) / Value(y)).data == x / y
    assert (Value(x) / y).data == x / y
    assert (x / Value(y)).data == x / y


@given(pow_inputs)
def test_power_values(xp: tuple[float, float]) -> None:
    x, p = xp
    assert (Value(x) ** p).data == x**p
    if x > 0:
        assert (Value(x) ** Value(p)).data == x**p
        assert (x ** Value(p)).data == x**p


def test_int_operands() -> None:
    assert (Value(2) + 1).data == 3.0
    assert (3 * Value(2)).data == 6.0
    assert (Value(2) ** 2).data == 4.0
    assert (2 ** Value(3)).data == 8.0
    assert (1 / Value(4)).data == 0.25


@pytest.mark.parametrize("bad", ["a", None, 1j, True, [1]])
def test_bad_operands_name_the_culprit(bad: object) -> None:
    name = type(bad).__name__
    v = Value(1.0)
    for op in (
        lambda: v + bad,
        lambda: bad + v,
        lambda: v - bad,
        lambda: bad - v,
        lambda: v * bad,
        lambda: bad * v,
        lambda: v / bad,
        lambda: bad / v,
        lambda: v**bad,
        lambda: bad**v,
    ):
        with pytest.raises(TypeError, match=name):
            op()


def test_add_string_message() -> None:
    with pytest.raises(TypeError, match=r"unsupported operand for Value \+: str \('a'\)"):
        Value(1) + "a"  # type: ignore[operator]


def test_nan_operand_is_refused() -> None:
    with pytest.raises(ValueError, match="nan"):
        Value(1.0) + math.nan
    with pytest.raises(ValueError, match="inf"):
        Value(1.0) * math.inf


# --- how each composed op is recorded ---------------------------------------------------


def test_subtraction_is_addition_of_a_negation() -> None:
    x, y = Value(5.0), Value(3.0)
    d = x - y
    assert d.op == "+" and d.data == 2.0
    assert d.parents[0] is x
    (neg,) = [p for p in d.parents if p is not x]
    assert neg.op == "neg" and neg.parents == (y,)
    c = x - 3
    assert c.op == "+" and c.parents[0] is x and c.parents[1].data == -3.0
    r = 3 - x
    assert r.op == "+" and r.data == -2.0 and r.parents[1].op == "neg"


def test_division_is_its_own_op_for_values_and_numbers() -> None:
    # x / y is one node "/" (correctly rounded), whichever side is a plain number.
    x, y = Value(3.0), Value(4.0)
    for q, a, b in ((x / y, x, y), (x / 4, x, None), (3 / y, None, y)):
        assert q.op == "/" and q.data == 0.75
        assert a is None or q.parents[0] is a
        assert b is None or q.parents[1] is b
        assert q.local_grads == (0.25, -0.1875)  # 1 / y and -x / y²


def test_power_by_a_number_is_unary_with_a_param() -> None:
    x = Value(2.0)
    y = x**3
    assert y.op == "**" and y.parents == (x,) and y.param == 3.0 and y.local_grads == (12.0,)
    assert type(y.param) is float
    # a unary op without a constant: no param (its _db holds NaN, the marker)
    for u in (x.tanh(), -x, abs(x), x.relu()):
        assert u.parents == (x,) and u.param is None and len(u.local_grads) == 1
    assert (x**0.0).param == 0.0 and (x**-0.0).param == 0.0


def test_power_by_a_value_is_binary() -> None:
    x, p = Value(2.0), Value(3.0)
    y = x**p
    assert y.op == "pow" and y.parents == (x, p) and y.param is None
    assert y.local_grads == (12.0, pytest.approx(8 * math.log(2.0), rel=1e-15))
    r = 2**p
    assert r.op == "pow" and r.parents[1] is p and r.data == 8.0


def test_leaky_relu_keeps_its_slope_as_param() -> None:
    y = Value(-2.0).leaky_relu(0.2)
    assert y.op == "leaky_relu" and y.param == 0.2 and y.data == pytest.approx(-0.4)
    assert Value(-2.0).leaky_relu().param == 0.01


@pytest.mark.parametrize("bad", ["0.1", None, True])
def test_leaky_relu_slope_type_is_checked(bad: object) -> None:
    with pytest.raises(TypeError, match="slope"):
        Value(1.0).leaky_relu(bad)  # type: ignore[arg-type]


def test_leaky_relu_slope_must_be_finite() -> None:
    with pytest.raises(ValueError, match="nan"):
        Value(1.0).leaky_relu(math.nan)


# --- elementwise methods ------------------------------------------------------------


@given(floats(-20.0, 20.0))
def test_methods_compute_the_function(x: float) -> None:
    v = Value(x)
    assert v.exp().data == math.exp(x)
    assert v.tanh().data == math.tanh(x)
    assert v.sin().data == math.sin(x)
    assert v.cos().data == math.cos(x)
    assert v.relu().data == max(x, 0.0)
    assert v.identity().data == x
    assert v.sigmoid().data == pytest.approx(1 / (1 + math.exp(-x)), rel=1e-12, abs=1e-15)
    assert v.softplus().data == pytest.approx(math.log1p(math.exp(x)), rel=1e-12, abs=1e-15)
    if x > 0:
        # Under no_grad: below 5.6e-309 the value of log is fine but its derivative
        # 1/x overflows, which recording refuses (tested below).
        with no_grad():
            assert v.log().data == math.log(x)
            assert v.sqrt().data == math.sqrt(x)


# --- domain errors name the op and the input -------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: Value(0.0).log(), ValueError, r"log\(0\.0\)"),
        (lambda: Value(-1.0).log(), ValueError, r"log\(-1\.0\)"),
        (lambda: Value(-1.0).sqrt(), ValueError, r"sqrt\(-1\.0\)"),
        (lambda: Value(3.0) / 0, ZeroDivisionError, r"3\.0 / 0"),
        (lambda: Value(3.0) / Value(0.0), ZeroDivisionError, r"3\.0 / 0\.0"),
        (lambda: 3 / Value(0.0), ZeroDivisionError, r"3\.0 / 0\.0"),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, r"0\.0 \*\* -1\.0"),
        (lambda: Value(-2.0) ** 0.5, ValueError, r"\(-2\.0\) \*\* 0\.5 is not a real"),
        (lambda: Value(1000.0).exp(), OverflowError, r"exp\(1000\.0\) overflows"),
        (lambda: Value(0.0).sqrt(), ValueError, r"sqrt\(0\.0\): the derivative is infinite"),
        (lambda: Value(0.0) ** 0.5, ValueError, r"0\.0, 0\.5\): the derivative is infinite"),
        (lambda: Value(-2.0) ** Value(2.0), ValueError, r"\(-2\.0\) \*\* Value"),
        (lambda: (-2) ** Value(2.0), ValueError, "negative base"),
        (lambda: Value(1e200) * 1e200, OverflowError, r"1e\+200 \* 1e\+200 overflows"),
        (lambda: Value(1e308) + 1e308, OverflowError, r"\+ 1e\+308 overflows"),
        (lambda: Value(-1e200) * 1e200, OverflowError, r"-1e\+200 \* 1e\+200 overflows"),
        (lambda: Value(-1e308) - 1e308, OverflowError, r"-1e\+308 \+ -1e\+308 overflows"),
        (lambda: Value(10.0) ** 400, OverflowError, "overflows"),
    ],
)
def test_domain_errors(make, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        make()


def test_domain_errors_are_never_complex_or_nan() -> None:
    # The whole family of "would be complex / infinite" inputs: each raises, none returns.
    for make in (
        lambda: Value(-8.0) ** (1 / 3),
        lambda: Value(-1e-300).sqrt(),
        lambda: Value(-0.5) ** 1.5,
        lambda: Value(0.0) ** -0.5,
    ):
        with pytest.raises((ValueError, ZeroDivisionError)):
            make()


def test_derivative_overflow_is_refused_when_recording() -> None:
    # The value is finite but the local derivative is not: log'(1e-310) = 1e310,
    # d/dx x ** -1 at 1e-200 = -1e400. Recording them would put inf into every grad.
    with pytest.raises(OverflowError, match=r"log\(1e-310\): the derivative overflows"):
        Value(1e-310).log()
    with pytest.raises(OverflowError, match=r"1e-200 \*\* -1\.0: the derivative overflows"):
        Value(1e-200) ** -1
    with no_grad():
        assert Value(1e-310).log().data == math.log(1e-310)
        assert (1 / Value(1e-200)).data == pytest.approx(1e200)


def test_values_at_no_derivative_points_work_without_recording() -> None:
    with no_grad():
        assert Value(0.0).sqrt().data == 0.0
        assert (Value(0.0) ** 0.5).data == 0.0
        assert (Value(-2.0) ** Value(2.0)).data == 4.0


def test_failed_op_changes_nothing() -> None:
    x = Value(-1.0)
    with pytest.raises(ValueError):
        x.log()
    assert x.data == -1.0 and x.grad == 0.0 and x.is_leaf


# --- non-differentiable points and stability --------------------------------------


def test_relu_and_abs_derivative_at_zero_is_zero() -> None:
    for f in (lambda v: v.relu(), abs):
        x = Value(0.0)
        y = f(x)
        y.backward()
        assert y.data == 0.0
        assert x.grad == 0.0
    x = Value(0.0)
    x.leaky_relu(0.1).backward()
    assert x.grad == 0.1


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_tanh_sigmoid_softplus_are_stable_at_1000(x: float) -> None:
    sign = 1.0 if x > 0 else -1.0
    # Exact float64 values: tanh(±1000) = ±1, sigmoid(1000) = 1, sigmoid(-1000) = e^-1000
    # which underflows to 0, softplus(1000) = 1000 + log1p(e^-1000) = 1000,
    # softplus(-1000) = e^-1000 -> 0. Derivatives: 1 - tanh² = 0, s(1 - s) = 0,
    # softplus' = sigmoid.
    for method, value, slope in [
        (Value.tanh, sign, 0.0),
        (Value.sigmoid, max(sign, 0.0), 0.0),
        (Value.softplus, max(x, 0.0), max(sign, 0.0)),
    ]:
        v = Value(x)
        y = method(v)
        y.backward()
        assert y.data == value
        assert v.grad == slope
        assert grad(method)(x) == slope
        second = grad(grad(method))(x)
        assert second == 0.0  # tanh'', sigmoid'', softplus'' = sigmoid' all vanish in float64
    assert Value(-1000.0).softplus().data >= 0.0


# --- memory layout: no reference cycle per node ------------------------------------


def test_a_graph_is_freed_without_the_cycle_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        x = Value(0.3)
        y = x
        for _ in range(200):
            y = (y * 1.01 + x).tanh() - x.sigmoid() / 2
        y.backward()
        del x, y
        # Reference counting alone freed everything: nothing left for the collector.
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_node_of_a_binary_op_takes_at_most_120_bytes() -> None:
    """The benchmark's memory workload: a chain of * and + with Value operands.
    Pure build: each node holds its data as a new float (24 bytes); its local
    derivatives are floats it shares. Compiled: the C struct has the same eight
    fields, with data and the derivatives stored as C doubles: no float per node.
    Measured as the growth from n to 2n nodes, so one-off allocations cancel."""
    import tracemalloc

    a, b, y = Value(0.999), Value(0.001), Value(0.5)
    n = 20_000
    traced = []
    tracemalloc.start()
    try:
        for _ in range(2):
            for _ in range(n // 2):
                y = y * a
                y = y + b
            traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    per_node = (traced[1] - traced[0]) / n
    # (the interpreter's own bookkeeping adds a few dozen bytes in all, not per node:
    # 256 bytes for the whole run are allowed besides the 120 per node)
    # (the lower bound checks that the measurement sees the nodes at all: 96 bytes are
    # the node itself, eight fields and the object and GC headers)
    assert 96 <= per_node <= (96 if engine.COMPILED else 120) + 256 / n, per_node


def test_hash_and_equality_are_identity_in_either_build() -> None:
    """Compiled, Value writes out object's hash (a C type defining < would lose it):
    the same number, and == stays identity."""
    a, b = Value(1.0), Value(1.0)
    assert hash(a) == object.__hash__(a) and hash(b) == object.__hash__(b)
    assert a == a and a != b and (a == b) is False
    assert {a: 1, b: 2}[a] == 1 and len({a, b, a}) == 2
    assert (a == 1.0) is False and (a != 1.0) is True


# --- engine.dot: the same nodes as the operator loop ----------------------------------


def _fields(v: Value) -> tuple:
    return (v.data, v.grad, v.label, v.op, v.local_grads, v.param)


@pytest.mark.parametrize("with_start", [True, False])
@pytest.mark.parametrize("recording", [True, False])
def test_dot_records_exactly_the_operator_loop(with_start: bool, recording: bool) -> None:
    import contextlib

    from engine import dot, no_grad

    ws = [Value(0.5), Value(-1.5), 2.0]
    xs = [Value(3.0), 4, Value(-0.25)]
    b = Value(0.1)
    with no_grad() if not recording else contextlib.nullcontext():
        z = b if with_start else ws[0] * xs[0]
        for w, x in list(zip(ws, xs))[0 if with_start else 1 :]:
            z = z + w * x
        d = dot(ws, xs, b if with_start else None)
    pairs = [(z, d)]
    while pairs:
        a, c = pairs.pop()
        assert _fields(a) == _fields(c)
        assert len(a.parents) == len(c.parents)
        for pa, pc in zip(a.parents, c.parents):
            if pa.is_leaf and (pa in ws or pa in xs or pa is b):
                assert pa is pc  # the same leaves, not copies
            else:
                pairs.append((pa, pc))


def test_dot_refuses_mismatched_lengths_and_nothing_to_add() -> None:
    from engine import dot

    with pytest.raises(ValueError, match="2 weights but 1 inputs"):
        dot([Value(1.0), Value(2.0)], [Value(1.0)])
    with pytest.raises(ValueError, match="no terms"):
        dot([], [])
    assert dot([], [], 3.0).data == 3.0
    with pytest.raises(TypeError, match="str"):
        dot([Value(1.0)], ["a"])
    for recording in (True, False):
        with contextlib.nullcontext() if recording else no_grad():
            with pytest.raises(OverflowError, match=r"1e\+200 \* 1e\+200 overflows"):
                dot([Value(1e200)], [Value(1e200)])
            with pytest.raises(OverflowError, match=r"-1e\+308 \+ -1e\+308 overflows"):
                dot([Value(-1e308), -1.0], [1.0, Value(1e308)])
            with pytest.raises(OverflowError, match=r"^1e\+200 \* 1e\+200 overflows"):
                dot([1e200, -1e200], [Value(1e200), 1e200], 1.0)  # inf + -inf = nan at the end


@pytest.mark.parametrize("op", ["+", "*"])
@pytest.mark.parametrize("number", [2.5, 3, -0.0])
def test_a_number_operand_becomes_a_constant_leaf(op: str, number: float) -> None:
    x = Value(1.5, label="x")
    y = x + number if op == "+" else x * number
    c = y.parents[1]
    assert y.parents[0] is x
    assert (c.data, c.grad, c.label, c.op, c.is_leaf) == (float(number), 0.0, "", "", True)
    assert type(c.data) is float
    # from the right as well, through __radd__/__rmul__
    z = number + x if op == "+" else number * x
    assert z.data == y.data and z.parents[0].data == float(number)


def test_an_infinite_data_assigned_by_hand_is_caught_by_the_next_op() -> None:
    a = Value(1.0)
    a.data = float("inf")  # bypasses the constructor's check
    with pytest.raises(ValueError, match=r"Value.data is inf \(a float\): was it assigned by hand"):
        a * 0.0
    b = Value(1.0, label="b")
    b.data = float("-inf")
    with pytest.raises(ValueError, match=r"Value.data is inf \(a float\)"):
        a + b
    with pytest.raises(ValueError, match=r"Value 'b'.data is -inf"):
        Value(1.0) + b


# --- data assigned by hand: the next op names the real cause -------------------------


@pytest.mark.parametrize(
    ("junk", "error", "shown"),
    [
        ("x", TypeError, "'x' (a str)"),
        (None, TypeError, "None (a NoneType)"),
        (math.nan, ValueError, "nan (a float)"),
        (-math.inf, ValueError, "-inf (a float)"),
    ],
)
def test_junk_assigned_to_data_is_named_by_the_next_op(
    junk: object, error: type[Exception], shown: str
) -> None:
    q = Value(1.0, label="q")
    if engine.COMPILED and error is TypeError:
        # compiled, data is a C double: a non-number is refused at the assignment
        with pytest.raises(TypeError, match="must be real number"):
            q.data = junk  # type: ignore[assignment]
        assert q.data == 1.0
        return
    q.data = junk  # type: ignore[assignment]
    message = re.escape(f"Value 'q'.data is {shown}: was it assigned by hand?")
    for op in (
        lambda: q * 2,
        lambda: 2 * q,
        lambda: q + 1.5,
        lambda: q + q,
        lambda: q * q,
        lambda: q - 1,
        lambda: (-q) * 1.0,  # -nan is nan: the neg itself does not check (a hot path)
        lambda: q.exp(),
        lambda: q.relu(),  # relu(nan) would be 0.0
        lambda: q.max(1.0),  # max(nan, 1.0) would be 1.0
        lambda: Value(1.0).max(q),
        lambda: q**2,
        lambda: dot([q, Value(1.0)], [1.0, 2.0]),
        lambda: dot([1.0], [q], start=0.5),
    ):
        with pytest.raises(error, match=message):
            op()
    with no_grad():
        with pytest.raises(error, match=message):
            dot([q], [1.0])
        with pytest.raises(error, match=message):
            q.tanh()


def test_a_type_error_of_a_well_formed_op_is_not_blamed_on_the_data() -> None:
    class Weird:
        def __radd__(self, other: object) -> object:
            raise TypeError("weird operand")

    v = Value(1.0)
    v.data = 1.0
    with pytest.raises(TypeError, match="unsupported operand for Value"):
        v + Weird()  # type: ignore[operator]


# --- any real number, on either side ----------------------------------------------------


def _same_node(a: Value, b: Value) -> None:
    assert (a.data, a.op, type(a.data)) == (b.data, b.op, float)
    assert [p.data for p in a.parents] == [p.data for p in b.parents]
    assert [type(p.data) for p in a.parents] == [float] * len(a.parents)
    assert a.local_grads == b.local_grads


def test_numpy_and_fraction_numbers_are_data_and_operands_on_both_sides() -> None:
    np = pytest.importorskip("numpy")
    from fractions import Fraction

    numbers_ = [np.int64(3), np.int32(3), np.float32(3.0), np.float64(3.0), Fraction(3, 1)]
    for n in numbers_:
        v = Value(n)
        assert v.data == 3.0 and type(v.data) is float, n
        x = Value(2.0)
        for made, expected in [
            (x + n, x + 3.0),
            (n + x, 3.0 + x),
            (x - n, x - 3.0),
            (n - x, 3.0 - x),
            (x * n, x * 3.0),
            (n * x, 3.0 * x),
            (x / n, x / 3.0),
            (n / x, 3.0 / x),
            (x**n, x**3.0),
            (n**x, 3.0**x),
            (x.max(n), x.max(3.0)),
            (x.leaky_relu(n), x.leaky_relu(3.0)),
            (dot([n], [x], start=n), dot([3.0], [x], start=3.0)),
        ]:
            assert isinstance(made, Value), (n, made)
            _same_node(made, expected)
        for result, truth in [(x < n, True), (n < x, False), (x >= n, False), (n >= x, True)]:
            assert type(result) is bool and result is truth, n
    assert Value(Fraction(1, 3)).data == 1 / 3


def test_numpy_float32_on_the_left_gives_the_same_value_as_on_the_right() -> None:
    # numpy made an object array (or a float) of `np.float32(2) * v` before
    np = pytest.importorskip("numpy")
    v = Value(1.5, label="v")
    left, right = np.float32(2) * v, v * np.float32(2)
    assert type(left) is Value and type(right) is Value
    assert left.data == right.data == 3.0
    left.backward()
    assert v.grad == 2.0


def test_comparison_with_a_huge_int_is_exact() -> None:
    # float(10**400) raised "int too large to convert to float"
    big = 10**400
    assert Value(1e308) < big and not Value(1e308) > big
    assert Value(1e308) <= big and big > Value(1.0)
    assert Value(2.0**53) < 2**53 + 1  # exact, as float < int is in Python


@pytest.mark.parametrize("bad", [True, 1j, "2", None])
def test_bool_complex_str_none_still_refused_everywhere(bad: object) -> None:
    name = type(bad).__name__
    v = Value(1.0)
    for op in (
        lambda: Value(bad),  # type: ignore[arg-type]
        lambda: v.max(bad),  # type: ignore[arg-type]
        lambda: v.leaky_relu(bad),  # type: ignore[arg-type]
        lambda: v < bad,  # type: ignore[operator]
        lambda: dot([bad], [v]),  # type: ignore[list-item]
        lambda: v.backward(gradient=bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=name):
            op()


# --- parameters are validated like inputs; the result is finite in both modes --------


@pytest.mark.parametrize("recording", [True, False])
def test_an_op_whose_result_overflows_names_the_op(recording: bool) -> None:
    with contextlib.nullcontext() if recording else no_grad():
        with pytest.raises(OverflowError, match=r"leaky_relu\(-1e\+308, -2\.0\) overflows"):
            Value(-1e308).leaky_relu(-2.0)
        with pytest.raises(OverflowError, match=r"leaky_relu\(-10\.0, 1e\+308\) overflows"):
            Value(-10.0).leaky_relu(1e308)
        with pytest.raises(ValueError, match=r"exponent of Value \*\* must be finite, got nan"):
            Value(2.0) ** math.nan
        with pytest.raises(ValueError, match=r"exponent of Value \*\* must be finite, got inf"):
            Value(2.0) ** math.inf
        with pytest.raises(ValueError, match="slope must be finite"):
            Value(-1.0).leaky_relu(-math.inf)


def test_huge_numbers_get_a_message_not_a_raw_conversion_error() -> None:
    x = Value(2.0)
    with pytest.raises(ValueError, match=r"exponent of Value \*\* is too large for a float"):
        x**10**400
    with pytest.raises(ValueError, match=r"backward\(\) gradient is too large for a float"):
        (x * x).backward(gradient=10**400)
    with pytest.raises(ValueError, match=r"operand of Value \+ is too large for a float"):
        x + 10**400
    with pytest.raises(ValueError, match=r"operand of Value \* is too large for a float"):
        10**400 * x
    y = x * x
    y.backward(gradient=3)  # an int seed is fine
    assert x.grad == 12.0


def test_a_division_that_overflows_names_the_division() -> None:
    with pytest.raises(OverflowError, match=r"2\.0 / 5e-324.*overflows"):
        Value(2.0) / 5e-324


# --- copy and pickle: the whole graph, at any depth -------------------------------------


def _shared_graph() -> tuple[Value, Value, Value]:
    x = Value(2.0, label="x")
    y = Value(-3.0, label="y")
    a = x * y
    a.label = "a"
    b = a + a  # a used twice
    c = (b * a).tanh() + x**3 - y.leaky_relu(0.2)
    c.label = "c"
    c.backward()
    return x, a, c


def _describe(root: Value) -> list[tuple[object, ...]]:
    """Every node's fields, with parents as positions in the topological order."""
    from engine import toposort

    order = toposort(root)
    where = {id(n): i for i, n in enumerate(order)}
    return [
        (n.data, n.grad, n.label, n.op, n.param, n.local_grads, [where[id(p)] for p in n.parents])
        for n in order
    ]


@pytest.mark.parametrize("how", ["deepcopy", *[f"pickle{p}" for p in range(6)]])
def test_copy_and_pickle_keep_every_field_and_the_sharing(how: str) -> None:
    import copy
    import pickle

    x, a, c = _shared_graph()
    if how == "deepcopy":
        c2, x2, a2 = copy.deepcopy([c, x, a])
    else:
        c2, x2, a2 = pickle.loads(pickle.dumps([c, x, a], protocol=int(how[-1])))
    assert _describe(c2) == _describe(c)
    from engine import toposort

    nodes = toposort(c2)
    assert len({id(n) for n in nodes}) == len(toposort(c))
    assert x2 in nodes and a2 in nodes  # the same objects as inside c2's graph
    assert not set(map(id, nodes)) & set(map(id, toposort(c)))  # a copy, not a view
    b2 = next(n for n in nodes if n.parents and n.parents[0] is a2 and n.op == "+")
    assert b2.parents[1] is a2  # a + a: one node used twice stays one node
    x2.grad = 0.0
    c2.backward()
    assert x2.grad == x.grad


def test_copy_copy_is_shallow() -> None:
    import copy

    x, _a, c = _shared_graph()
    c2 = copy.copy(c)
    assert c2 is not c and c2.parents == c.parents and _describe(c2) == _describe(c)
    assert copy.copy(x).label == "x"


@pytest.mark.slow
def test_a_deep_chain_copies_and_pickles_under_the_default_recursion_limit() -> None:
    # 300,000 ops: 300 times the recursion limit; a million works the same way (and
    # takes ~3x as long: deepcopy, dumps and loads are each linear, see engine/value.py)
    import copy
    import pickle
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, whatever the runner set
    try:
        x = Value(0.5, label="x")
        y = x
        n = 300_000
        for _ in range(n):
            y = y * 1.0
        y.label = "y"
        copies = [copy.deepcopy(y), pickle.loads(pickle.dumps(y, pickle.HIGHEST_PROTOCOL))]
    finally:
        sys.setrecursionlimit(limit)
    for copied in copies:
        assert copied.label == "y" and copied.data == 0.5 and copied.op == "*"
        copied.backward()
        node, depth = copied, 0
        while node.parents:
            node = node.parents[0]
            depth += 1
        assert depth == n and node.label == "x" and node is not x and node.grad == 1.0
    assert x.grad == 0.0


def test_a_two_hundred_op_chain_deepcopies_and_pickles_at_every_protocol() -> None:
    # both raised RecursionError (deepcopy at ~200 ops, pickle at ~300)
    import copy
    import pickle

    x = Value(1.0, label="x")
    y = x
    for i in range(3000):
        y = y * 1.0 if i % 2 else y.tanh().identity()
    assert _describe(copy.deepcopy(y)) == _describe(y)
    for protocol in range(6):
        assert _describe(pickle.loads(pickle.dumps(y, protocol=protocol))) == _describe(y)


# --- the replays' loops: read_data, add_to_grads ---------------------------------------


def test_read_data_and_add_to_grads_are_the_plain_loops() -> None:
    """engine.vmap reads its leaves and hands back gradients through these two (compiled
    in the compiled build): the same numbers as ``[v.data ...]`` and ``v.grad += g``,
    accumulating, in order (a node listed twice gets both amounts)."""
    from engine.value import add_to_grads, read_data

    a, b = Value(1.5), Value(-2.25)
    a.grad = 0.5
    assert read_data([a, b, a]) == [1.5, -2.25, 1.5]
    assert read_data([]) == []
    add_to_grads([a, b, a], [1.0, 0.1, 0.25])
    assert (a.grad, b.grad) == (0.5 + 1.0 + 0.25, 0.0 + 0.1)
    with pytest.raises(ValueError, match="2 nodes but 1 amounts"):
        add_to_grads([a, b], [1.0])
    assert (a.grad, b.grad) == (1.75, 0.1)  # nothing added on the refusal


def test_add_to_grads_counts_none_as_zero_and_keeps_floats() -> None:
    """As backward() does: a grad of None takes the amount; a numpy amount is stored
    as a float (through the grad setter)."""
    import numpy as np

    from engine.value import add_to_grads

    a, b = Value(1.0), Value(2.0)
    a.grad = None  # type: ignore[assignment]
    add_to_grads([a, b], [0.5, np.float64(0.25)])  # type: ignore[list-item]
    assert (a.grad, b.grad) == (0.5, 0.25)
    assert type(b.grad) is float


def test_zero_grads_sets_every_grad_to_a_float_zero() -> None:
    """Module.zero_grad() and the optimizers' go through it: None and numbers alike
    become 0.0, every node listed, nothing else touched."""
    from engine.value import zero_grads

    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    a.grad, b.grad, c.grad = 4.0, None, -1.5  # type: ignore[assignment]
    zero_grads([a, b])
    assert (a.grad, b.grad, c.grad) == (0.0, 0.0, -1.5)
    assert type(b.grad) is float
    zero_grads([])
