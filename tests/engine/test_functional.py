"""engine.functional: one function per op of the table, for floats and Values alike."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Value
from engine import functional as F
from engine.ops import builtins, lookup
from engine.testing import arguments

FUNCTIONS = sorted({op.function for op in builtins() if op.function is not None})
UNARY = [op.name for op in builtins() if op.arity == 1 and not op.has_param]
BINARY = [op.name for op in builtins() if op.arity == 2]


def test_the_functions_are_exactly_the_tables() -> None:
    assert sorted(F.__all__) == sorted([*FUNCTIONS, "pi", "e", "CONSTANTS"])
    for op in builtins():
        f = getattr(F, op.function)
        assert f.__name__ == op.function and f.__module__ == "engine.functional"
        assert f.__doc__  # from the entry (power is POW2's, "**" shares it)
    assert F.exp.__doc__ == lookup("exp").doc


def test_constants_are_pythons() -> None:
    assert F.pi == math.pi and F.e == math.e
    assert dict(F.CONSTANTS) == {"pi": math.pi, "e": math.e}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_floats_in_floats_out_values_in_nodes_out(name: str, data: st.DataObject) -> None:
    op = lookup(name)
    f = getattr(F, op.function)
    (x,) = data.draw(arguments(name), label="x")
    assert type(f(x)) is float and f(x) == op.forward(x)
    v = Value(x)
    out = f(v)
    assert isinstance(out, Value) and out.op == name and out.parents == (v,)
    assert out.data == op.forward(x)


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_on_numbers_values_and_mixed(name: str, data: st.DataObject) -> None:
    op = lookup(name)
    f = getattr(F, op.function)
    x, y = data.draw(arguments(name), label="(x, y)")
    assert type(f(x, y)) is float and f(x, y) == op.forward(x, y)
    a, b = Value(x), Value(y)
    for out, given_ in ((f(a, b), (a, b)), (f(a, y), (a,)), (f(x, b), (b,))):
        assert isinstance(out, Value) and out.data == op.forward(x, y)
        # a plain-number exponent is the op "**" (a constant, not a parent)
        assert out.op == ("**" if name == "pow" and given_ == (a,) else name)
        for v in given_:  # each Value given is a parent (max may put it first)
            assert any(p is v for p in out.parents)


def test_number_types_and_ints() -> None:
    assert F.exp(0) == 1.0 and type(F.exp(0)) is float
    assert F.div(1, 4) == 0.25
    assert F.sqrt(Fraction(9, 4)) == 1.5  # any real number type


def test_maximum_gives_the_gradient_to_the_larger() -> None:
    x, y = Value(2.0), Value(3.0)
    m = F.maximum(x, y)
    assert m.data == 3.0 and m.op == "max" and m.local_grads == (0.0, 1.0)
    m.backward()
    assert (x.grad, y.grad) == (0.0, 1.0)
    mixed = F.maximum(5.0, Value(1.0))
    assert mixed.data == 5.0 and mixed.parents[0].data == 1.0


def test_power_picks_the_op_by_its_exponent() -> None:
    assert F.power(2.0, 3) == 8.0
    assert F.power(Value(2.0), 3.0).op == "**"
    assert F.power(Value(2.0), Value(3.0)).op == "pow"
    assert F.power(2.0, Value(3.0)).op == "pow"


def test_leaky_relu_slope_on_both_paths() -> None:
    assert F.leaky_relu(-2.0, 0.5) == -1.0
    assert F.leaky_relu(-2.0) == -0.02
    y = F.leaky_relu(Value(-2.0), 0.5)
    assert y.data == -1.0 and y.param == 0.5


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("bad", [True, 1j, "1.0", None, [1.0]])
def test_bad_arguments_name_the_function(name: str, bad: object) -> None:
    f = getattr(F, name)
    args = (bad, 1.0) if name in ("add", "mul", "div", "power", "maximum") else (bad,)
    with pytest.raises(
        TypeError, match=f"{name}\\(\\) takes a real number or a Value, not {type(bad).__name__}"
    ):
        f(*args)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="must be finite, got nan"):
        F.tanh(math.nan)
    with pytest.raises(ValueError, match="must be finite, got inf"):
        F.div(math.inf, 2.0)


def test_domain_errors_pass_through() -> None:
    with pytest.raises(ValueError, match=r"log\(0\.0\)"):
        F.log(0.0)
    with pytest.raises(ValueError, match=r"sqrt\(-1\.0\)"):
        F.sqrt(Value(-1.0))
    with pytest.raises(ZeroDivisionError, match=r"1\.0 / 0\.0"):
        F.div(1, 0)
