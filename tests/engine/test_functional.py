"""engine.functional: one function for floats (a float) and Values (a recorded node)."""

from __future__ import annotations

import pytest
from hypothesis import given

from engine import Value
from engine import functional as F
from engine import operators as O
from tests.strategies import floats

NAMES = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "sin", "cos"]


def test_functional_covers_its_names() -> None:
    assert sorted(F.__all__) == sorted([*NAMES, "maximum"])


def test_maximum_on_floats_values_and_both() -> None:
    assert F.maximum(2.0, 3) == 3.0
    x, y = Value(2.0), Value(3.0)
    m = F.maximum(x, y)
    assert m.data == 3.0 and m.op == "max" and m.local_grads == (0.0, 1.0)
    m.backward()
    assert (x.grad, y.grad) == (0.0, 1.0)
    mixed = F.maximum(5.0, Value(1.0))
    assert mixed.data == 5.0 and mixed.parents[0].data == 1.0
    with pytest.raises(TypeError, match="max"):
        F.maximum("a", 1.0)


@pytest.mark.parametrize("name", NAMES)
@given(x=floats(0.1, 10.0))
def test_floats_in_floats_out(name: str, x: float) -> None:
    f = getattr(F, name)
    assert type(f(x)) is float
    expected = getattr(O, name)(x)
    assert f(x) == expected
    # ints are numbers too
    assert f(int(x) + 1) == getattr(O, name)(float(int(x) + 1))


@pytest.mark.parametrize("name", NAMES)
def test_values_in_recorded_values_out(name: str) -> None:
    x = Value(0.5)
    y = getattr(F, name)(x)
    assert isinstance(y, Value)
    assert y.parents == (x,)
    assert y.data == getattr(O, name)(0.5)


def test_leaky_relu_slope_on_both_paths() -> None:
    assert F.leaky_relu(-2.0, 0.5) == -1.0
    y = F.leaky_relu(Value(-2.0), 0.5)
    assert y.data == -1.0 and y.param == 0.5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [True, 1j, "1.0", None, [1.0]])
def test_bad_arguments_name_the_function(name: str, bad: object) -> None:
    with pytest.raises(
        TypeError, match=f"{name}\\(\\) takes a real number or a Value, not {type(bad).__name__}"
    ):
        getattr(F, name)(bad)


def test_domain_errors_pass_through() -> None:
    with pytest.raises(ValueError, match=r"log\(0\.0\)"):
        F.log(0.0)
    with pytest.raises(ValueError, match=r"sqrt\(-1\.0\)"):
        F.sqrt(Value(-1.0))
